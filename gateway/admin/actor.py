"""Who is calling the admin API and what they may touch: roles read from ``memberships``, scoped by OPD subtree.

    kominfo-admin in the ``diskominfo`` unit  → everything
    opd-admin in unit U                       → users, apps, clients and operators under U's path (its subtree)
    operator in unit U                        → submit and read apps of U only (not its children)

Every ``check_*`` raises ``gateway.errors.Forbidden``; handlers call them before they read or write anything,
so no endpoint depends on the client hiding a button.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import Forbidden
from idp.accounts import load_roles, load_user

KOMINFO_UNIT = "diskominfo"
KOMINFO_ADMIN = "kominfo-admin"
OPD_ADMIN = "opd-admin"
OPERATOR = "operator"


@dataclass(frozen=True)
class Actor:
    """The signed-in administrator; ``admin_paths``/``operator_paths`` are OPD materialised paths."""

    sub: str
    kominfo: bool
    admin_paths: tuple[str, ...]
    operator_paths: tuple[str, ...]

    def can_manage(self, path: str) -> bool:
        """An OPD admin manages their unit and everything under it (path prefix)."""
        return self.kominfo or any(path.startswith(root) for root in self.admin_paths)

    def can_submit_for(self, path: str) -> bool:
        return self.can_manage(path) or path in self.operator_paths

    def can_see(self, path: str) -> bool:
        return self.can_submit_for(path)

    def visible_roots(self) -> tuple[str, ...]:
        """Path prefixes of what this actor may read (empty for Kominfo: no restriction)."""
        return () if self.kominfo else (*self.admin_paths, *self.operator_paths)

    def as_json(self) -> dict[str, object]:
        return {
            "sub": self.sub,
            "kominfo": self.kominfo,
            "admin_paths": list(self.admin_paths),
            "operator_paths": list(self.operator_paths),
        }


async def load_actor(session: AsyncSession, sub: str) -> Actor:
    """The caller's roles; a disabled or unknown user, or one with no admin role, is refused."""
    user = await load_user(session, sub)
    if user is None or user.disabled:
        raise Forbidden("this account may not use the admin API")
    kominfo, admin, operator = False, [], []
    for role, slug, path in await load_roles(session, sub):
        if role == KOMINFO_ADMIN and slug == KOMINFO_UNIT:
            kominfo = True
        elif role == OPD_ADMIN:
            admin.append(path)
        elif role == OPERATOR:
            operator.append(path)
    if not (kominfo or admin or operator):
        raise Forbidden("this account has no administrative role")
    return Actor(sub, kominfo, tuple(sorted(admin)), tuple(sorted(operator)))


def check_kominfo(actor: Actor) -> None:
    if not actor.kominfo:
        raise Forbidden("only a Kominfo administrator may do this")


def check_manages(actor: Actor, path: str) -> None:
    if not actor.can_manage(path):
        raise Forbidden("this is outside the OPD units you administer")


def check_may_submit(actor: Actor, path: str) -> None:
    if not actor.can_submit_for(path):
        raise Forbidden("you may submit apps only for your own OPD unit")


def check_sees(actor: Actor, path: str) -> None:
    """Reading something outside one's scope answers like a missing record would not: 403, stated plainly."""
    if not actor.can_see(path):
        raise Forbidden("this is outside the OPD units you administer")


def check_manages_user(actor: Actor, unit_paths: list[str], sub: str) -> None:
    """An OPD admin manages a user only when every one of the user's units is in their subtree.

    A user with a role anywhere else (a Kominfo admin, another OPD's admin) is out of reach; so is a
    user with no unit at all (a citizen), whom only Kominfo manages. Nobody changes their own account here.
    """
    if sub == actor.sub:
        raise Forbidden("you cannot change your own account or roles")
    if actor.kominfo:
        return
    if not unit_paths or not all(actor.can_manage(path) for path in unit_paths):
        raise Forbidden("this user is outside the OPD units you administer")
