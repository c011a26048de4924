"""The sign-in's statements built once (``idp.storage.db.Write``): their parameter names are never a column's name.

SQLAlchemy takes an execution parameter named like a column of an INSERT's or UPDATE's table as a value for that
column, also inside a common table expression: a parameter ``family_id`` once made the code exchange's
``UPDATE authorization_codes`` set ``family_id`` too (and fail for want of a value). Compiled, not run.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql

from idp import accounts, interactions, second_factor, sessions
from idp.oauth import store
from idp.storage.db import _together, inserting
from idp.storage.models import Base, BrowserSession, Grant, RefreshToken, SecurityEvent

COLUMN_NAMES = {column.key for table in Base.metadata.tables.values() for column in table.c}


def _named_parameters(statement: object) -> set[str]:
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())  # type: ignore[attr-defined]
    return {name for name, bind in compiled.binds.items() if "%(" not in bind.key}  # anonymous: literal(1), LIMIT


def test_no_parameter_of_a_statement_built_once_is_named_like_a_column() -> None:
    session_row = inserting(BrowserSession.__table__, {"id_digest": "d", "sid": "s"}, "session__")  # type: ignore[arg-type]
    event_row = inserting(SecurityEvent.__table__, {"kind": "login.succeeded"}, "event__")  # type: ignore[arg-type]
    grant_keys = tuple(column.key for column in Grant.__table__.c)
    refresh_keys = tuple(column.key for column in RefreshToken.__table__.c)
    statements = [
        _together((session_row[0], event_row[0], sessions.END_BY_DIGEST, interactions.RECORD_LOGIN)),
        _together((inserting(store.CODES, {"code_digest": "d"}, "code__")[0], interactions.FINISH)),
        sessions.ADD_CLIENT,
        sessions.LOAD_BY_DIGEST,
        interactions.RECORD_BOTH,
        interactions.FINISH,
        store._redemption(grant_keys, refresh_keys),
        store._redemption(grant_keys, None),
        store._rotation(refresh_keys, True),
        store.NONCE_SEEN,
        second_factor.ANY_PASSKEY,
        *accounts._BY_LOGIN.values(),
    ]
    for statement in statements:
        names = _named_parameters(statement)
        assert names, statement
        assert not names & COLUMN_NAMES, (names & COLUMN_NAMES, str(statement))
        assert all("__" in name for name in names), names


def test_a_row_written_by_a_statement_built_once_names_every_python_side_default() -> None:
    statement, parameters = inserting(BrowserSession.__table__, {"sid": "s"}, "session__")  # type: ignore[arg-type]
    assert parameters == {"session__sid": "s", "session__amr": [], "session__clients": []}
    assert inserting(BrowserSession.__table__, {"sid": "t"}, "session__")[0] is statement  # type: ignore[arg-type]
