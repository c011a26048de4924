"""For ``gerbang policy explain``: what the directory knows (the user's roles and OPD paths, the app's
registry flag), read from the database when one is configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway.cli.runtime import run_in_session

if TYPE_CHECKING:  # storage loads when the lookup runs (``gerbang policy --help`` stays light)
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    sub: str | None
    roles: tuple[str, ...]
    opd_paths: tuple[str, ...]
    source: str  # "given" (from the options) or "database" (looked up, merged with the options)


def load_directory_facts(settings: Settings, given: SubjectFacts, app_slug: str) -> tuple[SubjectFacts, bool]:
    """The user looked up by id, email or NIK (options are added to what is found), and whether the app
    registry marks the app restricted."""
    from sqlalchemy import select

    from idp.accounts import load_user, load_user_by_login
    from idp.storage.gateway_models import App

    async def op(session: AsyncSession) -> tuple[SubjectFacts, bool]:
        restricted = bool(await session.scalar(select(App.restricted).where(App.slug == app_slug)))
        if given.sub is None:
            return given, restricted
        user = await load_user(session, given.sub) or await load_user_by_login(session, given.sub)
        if user is None:
            return given, restricted
        roles = tuple(dict.fromkeys(given.roles + tuple(m.role for m in user.memberships)))
        paths = tuple(dict.fromkeys(given.opd_paths + tuple(m.opd.path for m in user.memberships)))
        return SubjectFacts(user.id, roles, paths, "database"), restricted

    return run_in_session(settings, op)
