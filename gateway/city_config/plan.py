"""What ``gerbang apply`` would change: the files (desired) against the database (current), entry by entry.

Nothing is ever deleted by ``apply``: an entry missing from the files is left as it is (remove it with
``gerbang apps|clients|opd remove``). OPD units are planned parents first, so one file can hold a whole tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.apps import check_host, check_upstream
from gateway.city_config.document import IDP_CREDENTIALS, CityConfig, Entry
from gateway.claims import check_claims
from idp.errors import InvalidInput
from idp.federation.registry import check_issuer

# Fields that cannot be changed in place: the client must be removed and created again.
FIXED_CLIENT_FIELDS = ("auth_method", "jwks", "jwks_uri")
IDP_EDITABLE = ("name", "issuer", "client_id", "scope", "link_by", "authoritative", "acr_map", "audience", "enabled")
SECURITY_CLIENT_FIELDS = ("profile", "require_par", "dpop_bound", "id_token_alg")


@dataclass(frozen=True)
class Change:
    section: str  # "opd" | "client" | "app" | "user" | "idp"
    key: str
    action: str  # "create" | "update" | "move" | "status" | "roles"
    values: dict[str, Any] = field(default_factory=dict)  # create: the entry; otherwise {field: {from, to}}

    def describe(self) -> str:
        if self.action == "create":
            return f"+ {self.section} {self.key}"
        moves = ", ".join(f"{name}: {change['from']!r} -> {change['to']!r}" for name, change in self.values.items())
        return f"~ {self.section} {self.key} ({self.action}) {moves}"


def _normalised(section: str, values: dict[str, Any]) -> dict[str, Any]:
    """The form the database stores, so an equal value never reads as a change."""
    out = dict(values)
    if section == "app":
        if "upstreams" in out:
            out["upstreams"] = list(dict.fromkeys(check_upstream(url) for url in out["upstreams"]))
        if "hosts" in out:
            out["hosts"] = sorted({check_host(host) for host in out["hosts"] or ()})
        if out.get("claims") is not None:  # stored in one order (gateway.claims)
            out["claims"] = list(check_claims(out["claims"]))
    if section in ("client", "idp") and "scope" in out:
        out["scope"] = " ".join(str(out["scope"]).split())
    if section == "client" and out.get("profile") == "fapi2":  # the profile implies PAR and DPoP-bound tokens
        out.update({name: True for name in ("require_par", "dpop_bound") if name in out})
    if section == "idp":
        for name in IDP_CREDENTIALS:
            out.pop(name, None)  # read when the upstream is created, never compared
        if "issuer" in out:
            out["issuer"] = check_issuer(str(out["issuer"]))
    if section == "user":
        out["email"] = str(out.get("email", "")).strip().lower()
        if "roles" in out:
            out["roles"] = sorted(set(out["roles"]))
    return out


def _diff(given: dict[str, Any], existing: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {"from": existing.get(name), "to": given[name]}
        for name in fields
        if name in given and given[name] != existing.get(name)
    }


def _entry_changes(
    section: str, key: str, wanted: Entry, current: Entry | None, groups: dict[str, tuple[str, ...]]
) -> list[Change]:
    """``groups``: action → the fields that action changes, in the order they are applied."""
    if current is None:
        return [Change(section, key, "create", _normalised(section, wanted.model_dump()))]
    given = _normalised(section, wanted.given())
    existing = _normalised(section, current.model_dump())
    changes = []
    for action, fields in groups.items():
        diff = _diff(given, existing, fields)
        if diff:
            changes.append(Change(section, key, action, diff))
    return changes


def build_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    try:
        return [
            *_opd_plan(desired, current),
            *_client_plan(desired, current),
            *_app_plan(desired, current),
            *_user_plan(desired, current),
            *_idp_plan(desired, current),
        ]
    except InvalidInput as exc:
        raise InvalidInput(f"the configuration cannot be applied: {exc.message}") from exc


def _opd_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    existing = {unit.slug: unit for unit in current.opd}
    pending = [unit for unit in desired.opd]
    known = set(existing)
    creates: list[Change] = []
    while pending:  # parents first: a unit is created once its parent exists or is planned
        ready = [unit for unit in pending if unit.slug in existing or unit.parent is None or unit.parent in known]
        if not ready:
            names = ", ".join(f"{unit.slug} (parent {unit.parent})" for unit in pending)
            raise InvalidInput(f"OPD units whose parent neither exists nor is in the files: {names}")
        for unit in ready:
            known.add(unit.slug)
            pending.remove(unit)
            creates.extend(
                _entry_changes(
                    "opd", unit.slug, unit, existing.get(unit.slug), {"update": ("name", "kind"), "move": ("parent",)}
                )
            )
    return creates


def _client_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    existing = {client.client_id: client for client in current.clients}
    changes: list[Change] = []
    for client in desired.clients:
        found = existing.get(client.client_id)
        editable = (
            "name",
            "opd",
            "redirect_uris",
            "post_logout_redirect_uris",
            "grant_types",
            "scope",
            "resources",
            "first_party",
            "backchannel_logout_uri",
        )
        planned = _entry_changes(
            "client",
            client.client_id,
            client,
            found,
            {
                "update": editable,
                "security": SECURITY_CLIENT_FIELDS,
                "status": ("status",),
                "fixed": FIXED_CLIENT_FIELDS,
            },
        )
        fixed = [change for change in planned if change.action == "fixed"]
        if fixed:
            raise InvalidInput(
                f"client '{client.client_id}': {', '.join(fixed[0].values)} cannot change in place "
                "(remove the client and create it again)"
            )
        changes.extend(planned)
    return changes


def _app_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    existing = {app.slug: app for app in current.apps}
    editable = (
        "name",
        "opd",
        "upstreams",
        "auth_mode",
        "client_id",
        "resource",
        "hosts",
        "restricted",
        "claims",
        "require_dpop",
        "integrity",
    )
    changes: list[Change] = []
    for app in desired.apps:
        if app.name is None and "name" in app.model_fields_set:
            raise InvalidInput(f"app '{app.slug}': name cannot be empty")
        changes.extend(
            _entry_changes("app", app.slug, app, existing.get(app.slug), {"update": editable, "status": ("status",)})
        )
    return changes


def _user_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    existing = {user.email: user for user in current.users}
    changes: list[Change] = []
    for user in desired.merged_users():
        email = user.email.strip().lower()
        changes.extend(
            _entry_changes("user", email, user, existing.get(email), {"update": ("name", "nip"), "roles": ("roles",)})
        )
    return changes


def _idp_plan(desired: CityConfig, current: CityConfig) -> list[Change]:
    existing = {idp.slug: idp for idp in current.idps}
    changes: list[Change] = []
    for idp in desired.idps:
        found = existing.get(idp.slug)
        if found is None:  # created with its credential (never compared, never exported)
            changes.append(
                Change(
                    "idp",
                    idp.slug,
                    "create",
                    {**_normalised("idp", idp.model_dump()), **{n: getattr(idp, n) for n in IDP_CREDENTIALS}},
                )
            )
            continue
        changes.extend(_entry_changes("idp", idp.slug, idp, found, {"update": IDP_EDITABLE}))
    return changes
