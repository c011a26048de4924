"""admin list search: users.name_key (backfilled) and indexes for the user search and the audit filters

Revision ID: 0004
Revises: 0001

On PostgreSQL, prefix searches use ``varchar_pattern_ops`` indexes (a plain b-tree under a non-C collation
cannot serve ``LIKE 'x%'``), and substring searches use pg_trgm GIN indexes when the extension can be
created; without it (no superuser, package missing) they stay sequential scans and nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from idp.storage.models import build_name_key

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BATCH = 5_000
TRIGRAM_INDEXES = {"ix_users_email_trgm": "email", "ix_users_name_key_trgm": "name_key"}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("name_key", sa.String(length=200), nullable=False, server_default=""))
    op.create_index("ix_users_name_key", "users", ["name_key"])
    op.create_index("ix_audit_log_actor_seq", "audit_log", ["actor", "seq"])
    op.create_index("ix_audit_log_target_seq", "audit_log", ["target", "seq"])
    op.create_index("ix_audit_log_action_seq", "audit_log", ["action", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_users_email_prefix ON users (email varchar_pattern_ops)")
        op.execute("CREATE INDEX ix_users_name_key_prefix ON users (name_key varchar_pattern_ops)")
        if _has_trigram_extension():
            for name, column in TRIGRAM_INDEXES.items():
                op.execute(f"CREATE INDEX {name} ON users USING gin ({column} gin_trgm_ops)")
    # After the indexes: an index built over rows just updated in place (HOT) is hidden from the planner
    # until every older transaction on the server ends (pg_index.indcheckxmin).
    _backfill_name_keys()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in (*TRIGRAM_INDEXES, "ix_users_email_prefix", "ix_users_name_key_prefix"):
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_audit_log_action_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_target_seq", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_seq", table_name="audit_log")
    op.drop_index("ix_users_name_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("name_key")


def _backfill_name_keys() -> None:
    """In Python, so old rows get exactly the key the application writes (``build_name_key``)."""
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.String), sa.column("name", sa.String),
                     sa.column("name_key", sa.String))
    last = ""
    while True:
        rows = bind.execute(sa.select(users.c.id, users.c.name).where(users.c.id > last)
                            .order_by(users.c.id).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(users.update().where(users.c.id == sa.bindparam("user_id"))
                     .values(name_key=sa.bindparam("key")),
                     [{"user_id": user_id, "key": build_name_key(name)} for user_id, name in rows])
        last = rows[-1][0]


def _has_trigram_extension() -> bool:
    """Create pg_trgm if allowed; a refusal is rolled back to a savepoint so the migration goes on without it."""
    bind = op.get_bind()
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True
