"""How strongly a Kominfo administrator must have signed in to use the console.

The level is Kominfo's to set in policy: the ``require_acr`` of the ``kominfo-console`` entry under ``apps``.
Without such an entry it is ``2`` (password and a second factor). OPD admins and operators are not held to
it (their reach is one subtree); policy rules govern them as for any app.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.actor import KOMINFO_ADMIN, KOMINFO_UNIT
from idp.accounts import has_role_in
from policies import PolicySet
from policies.watcher import PolicyWatcher

CONSOLE_POLICY_APP = "kominfo-console"
DEFAULT_CONSOLE_ACR = "2"


class SecondFactorRequired(Exception):
    """A Kominfo administrator signed in below the console's level (the console explains what to do)."""


def required_console_acr(policy_set: PolicySet) -> str | None:
    entry = policy_set.apps.get(CONSOLE_POLICY_APP)
    return DEFAULT_CONSOLE_ACR if entry is None else entry.require_acr


def is_acr_enough(policy_set: PolicySet, acr: str | None, required: str | None) -> bool:
    if required is None:
        return True
    levels = list(policy_set.acr_levels)
    if acr not in levels or required not in levels:
        return acr == required
    return levels.index(acr) >= levels.index(required)


class ConsoleAcrCheck:
    """Called by ``ConsoleAuth`` with the ID token's ``sub`` and ``acr`` before a console session starts."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], policies: PolicyWatcher) -> None:
        self._sessionmaker = sessionmaker
        self._policies = policies

    async def __call__(self, sub: str, acr: str | None) -> None:
        policy_set = self._policies.current
        if is_acr_enough(policy_set, acr, required_console_acr(policy_set)):
            return
        async with self._sessionmaker() as session:
            kominfo = await has_role_in(session, sub, KOMINFO_ADMIN, KOMINFO_UNIT)
        if kominfo:
            raise SecondFactorRequired()
