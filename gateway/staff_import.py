"""Reading an ASN staff list (CSV: ``nip,name,email,opd,roles``) and importing it in one transaction.

Every row is checked before anything is written; each bad row is reported with its line number. With any bad
row nothing is imported, unless the caller asks to skip bad rows. A row whose email already has an account
updates that account (name, NIP, roles) so the same file imported twice changes nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.account_edits import set_roles, update_user
from idp.accounts import EMAIL, ROLE, add_user
from idp.audit import append_audit
from idp.storage.models import OpdUnit, User

COLUMNS = ("nip", "name", "email", "opd", "roles")
NIP = re.compile(r"^\d{18}$")  # PP 11/2017 staff number: birth date, appointment date, sex, sequence


@dataclass(frozen=True)
class StaffRow:
    line: int
    nip: str
    name: str
    email: str
    opd: str
    roles: tuple[str, ...]


@dataclass
class ImportReport:
    rows: list[StaffRow] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad_rows": [{"line": line, "problem": message} for line, message in self.problems],
        }


def parse_staff_csv(text: str) -> ImportReport:
    """Check every row's form (not yet against the database); roles are separated by ``;`` or spaces."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if sorted(header) != sorted(COLUMNS):
        report.problems.append((1, f"the header must name exactly the columns {', '.join(COLUMNS)}"))
        return report
    reader.fieldnames = header
    seen: dict[str, dict[str, int]] = {"nip": {}, "email": {}}
    for values in reader:
        line = reader.line_num
        problem, row = _check_row(line, values, seen)
        if problem:
            report.problems.append((line, problem))
        elif row is not None:
            report.rows.append(row)
    return report


def _check_row(
    line: int, values: dict[str, str | None], seen: dict[str, dict[str, int]]
) -> tuple[str | None, StaffRow | None]:
    if None in values or any(values.get(column) is None for column in COLUMNS):
        return "the row does not have exactly the header's columns", None
    nip, name, email, opd = (str(values[c]).strip() for c in ("nip", "name", "email", "opd"))
    roles = tuple(role for role in re.split(r"[;\s]+", str(values["roles"]).strip()) if role) or ("asn",)
    email = email.lower()
    for check, message in (
        (NIP.match(nip), f"NIP must be 18 digits: '{nip}'"),
        (name, "name is empty"),
        (EMAIL.match(email), f"email is not valid: '{email}'"),
        (opd, "opd is empty"),
    ):
        if not check:
            return message, None
    bad_roles = [role for role in roles if not ROLE.match(role)]
    if bad_roles:
        return f"role '{bad_roles[0]}' must be lowercase letters, digits and dashes", None
    for key, value in (("nip", nip), ("email", email)):
        if value in seen[key]:
            return f"{key} {value} is already on line {seen[key][value]}", None
        seen[key][value] = line
    return None, StaffRow(line, nip, name, email, opd, roles)


async def check_against_database(session: AsyncSession, report: ImportReport) -> None:
    """Unknown OPD units and NIPs held by another account become problems of their rows."""
    units = set((await session.scalars(select(OpdUnit.slug))).all())
    nips = {row.nip for row in report.rows}
    holders = (
        dict((await session.execute(select(User.nip, User.email).where(User.nip.in_(nips)))).all()) if nips else {}
    )
    good: list[StaffRow] = []
    for row in report.rows:
        if row.opd not in units:
            report.problems.append((row.line, f"OPD '{row.opd}' does not exist"))
        elif holders.get(row.nip, row.email) != row.email:
            report.problems.append((row.line, f"NIP {row.nip} belongs to another account"))
        else:
            good.append(row)
    report.rows = good
    report.problems.sort()


async def import_staff(session: AsyncSession, report: ImportReport, *, actor: str, now: int) -> None:
    """Create or update one account per good row (accounts without a password: staff set theirs by reset)."""
    for row in report.rows:
        user = await session.scalar(select(User).where(User.email == row.email))
        wanted = [(row.opd, role) for role in row.roles]
        if user is None:
            user = await add_user(
                session, email=row.email, name=row.name, password_hash=None, now=now, opd_slug=row.opd, roles=row.roles
            )
            user.nip = row.nip
            await session.flush()
            await append_audit(
                session,
                actor=actor,
                action="user.create",
                target=f"user:{user.id}",
                detail={
                    "email": user.email,
                    "nip": row.nip,
                    "opd": row.opd,
                    "roles": list(row.roles),
                    "source": "import",
                },
                now=now,
            )
            report.created += 1
            continue
        diff = await update_user(session, user, name=row.name, actor=actor, now=now)
        if user.nip != row.nip:
            await append_audit(
                session,
                actor=actor,
                action="user.update",
                target=f"user:{user.id}",
                detail={"diff": {"nip": {"from": user.nip, "to": row.nip}}},
                now=now,
            )
            user.nip, diff = row.nip, {**diff, "nip": True}
        diff = {**diff, **await set_roles(session, user, wanted, actor=actor, now=now)}
        if diff:
            report.updated += 1
        else:
            report.unchanged += 1
