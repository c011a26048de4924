"""The models and the migrations describe one schema, on both backends: after ``upgrade`` to head, alembic's
autogenerate comparison of the database with the metadata (the provider's models and the gateway's, one ``Base``)
finds nothing to add, drop or alter. A table whose model is missing from the metadata shows as a table to drop.

The only difference allowed is what migration 0004 adds on PostgreSQL alone and no model can say: the
``varchar_pattern_ops`` prefix indexes and the pg_trgm indexes behind the admin user search.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from idp.storage import gateway_models
from idp.storage.db import build_engine
from idp.storage.models import Base

POSTGRESQL_ONLY_INDEXES = {
    "ix_users_email_prefix",
    "ix_users_email_trgm",
    "ix_users_name_key_prefix",
    "ix_users_name_key_trgm",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _allowed(difference: Any, dialect: str) -> bool:
    return (
        dialect == "postgresql"
        and isinstance(difference, tuple)
        and difference[0] == "remove_index"
        and difference[1].name in POSTGRESQL_ONLY_INDEXES
    )


async def _compare(url: str) -> tuple[str, list[Any]]:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            return connection.dialect.name, await connection.run_sync(_differences)
    finally:
        await engine.dispose()


def test_the_migrated_schema_is_the_models(database_url: str) -> None:
    dialect, differences = asyncio.run(_compare(database_url))
    assert [d for d in differences if not _allowed(d, dialect)] == []


def test_the_metadata_holds_the_gateways_tables() -> None:
    gateway_tables = {"apps", "app_hosts", "gateway_sessions", "console_sessions", "gateway_accesses"}
    gateway_tables |= {"traffic_minutes", "traffic_latency", "ledger_receipts", "ledger_checkpoints"}
    assert gateway_models.Base is Base
    assert gateway_tables <= set(Base.metadata.tables)
