"""For ``gerbang policy explain --user``: the user's roles and OPD paths, read from the directory if configured."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.runtime import run_in_session
from gateway.settings import Settings
from idp.accounts import load_user, load_user_by_login


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    sub: str | None
    roles: tuple[str, ...]
    opd_paths: tuple[str, ...]
    source: str  # "given" (from the options) or "database" (looked up, merged with the options)


def load_subject_facts(settings: Settings, given: SubjectFacts) -> SubjectFacts:
    """Look the user up by id, email or NIK; options given on the command line are added to what is found."""
    login = given.sub or ""

    async def op(session: AsyncSession) -> SubjectFacts:
        user = await load_user(session, login) or await load_user_by_login(session, login)
        if user is None:
            return given
        roles = tuple(dict.fromkeys(given.roles + tuple(m.role for m in user.memberships)))
        paths = tuple(dict.fromkeys(given.opd_paths + tuple(m.opd.path for m in user.memberships)))
        return SubjectFacts(user.id, roles, paths, "database")

    return run_in_session(settings, op)
