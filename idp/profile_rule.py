"""Kominfo's profile rule (``provider.profiles`` in the policy files): the clients of some apps must follow a
security profile (``fapi2``: FAPI 2.0). One home for "which apps does a client serve" and "does it comply", read
by every door that registers or changes a client or an app and by every endpoint that issues codes or tokens.

A client serves an app when it is the app's own client (``apps.client_id``) or when it may obtain tokens whose
``aud`` is the app's resource identifier (its registered RFC 8707 ``resources``, or the audience it asks for).
An app is restricted when the policy files or the app registry say so; suspended and pending apps count too (a
token minted while an app is suspended works once it is resumed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Text, cast, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from idp.access_history import load_app_audiences
from idp.app_origins import default_apps_domain, default_resource
from idp.errors import InvalidInput
from idp.storage.models import Client
from policies.engine import PolicySet


@dataclass(frozen=True)
class ServedApp:
    """An app as the profile rule sees it: its resource identifier, the registry's flag, its own client."""

    slug: str
    resource: str
    restricted: bool
    client_id: str | None


@dataclass(frozen=True)
class ProfileBreach:
    """A client that serves an app whose clients the policy binds to a profile it does not follow."""

    rule_id: str
    profile: str
    app: str
    client_id: str

    def describe(self) -> str:
        return (
            f"policy rule '{self.rule_id}' requires the {self.profile} profile of every client of app '{self.app}': "
            f"client '{self.client_id}' does not follow it (give it the {self.profile} profile first: admin API "
            f"PUT /admin/api/clients/{self.client_id}/security, the console or gerbang apply; or unlink it)"
        )


def _default_slugs(resources: Iterable[str], issuer: str, domain: str) -> set[str]:
    """The slugs whose default resource identifier (``https://{slug}.{domain}/``) is one of ``resources``."""
    slugs: set[str] = set()
    for uri in resources:
        try:
            host = (urlsplit(uri).hostname or "").lower()
        except ValueError:
            continue
        slug = host.removesuffix(f".{domain}")
        if slug != host and default_resource(issuer, domain, slug) == uri:
            slugs.add(slug)
    return slugs


async def load_served_apps(
    session: AsyncSession,
    issuer: str,
    apps_domain: str,
    *,
    client_ids: Iterable[str] = (),
    resources: Iterable[str] = (),
    slugs: Iterable[str] = (),
    every: bool = False,
) -> list[ServedApp]:
    """Apps whose own client is one of ``client_ids``, whose resource is one of ``resources``, or named; with
    ``every``, all of them."""
    domain = apps_domain or default_apps_domain(issuer)
    ids, uris, named = set(client_ids), set(resources), set(slugs)
    defaults = _default_slugs(uris, issuer, domain)
    rows = await load_app_audiences(
        session, client_ids=ids, resources=uris, default_slugs=defaults, slugs=named, every=every
    )
    return [
        ServedApp(slug, resource or default_resource(issuer, domain, slug), restricted, client_id)
        for slug, resource, restricted, client_id in rows
    ]


def find_breach(
    policy: PolicySet, client_id: str, profile: str | None, apps: Iterable[ServedApp], audiences: Iterable[str]
) -> ProfileBreach | None:
    """The first app among ``apps`` that ``client_id`` serves (its own client, or ``audiences`` names its
    resource) whose clients the policy binds to a profile other than ``profile``."""
    wanted = set(audiences)
    for app in apps:
        if app.client_id != client_id and app.resource not in wanted:
            continue
        rule = policy.required_profile(app.slug, app.restricted)
        if rule is not None and rule.profile != profile:
            return ProfileBreach(rule.id, rule.profile, app.slug, client_id)
    return None


async def check_profile_rule(
    session: AsyncSession,
    policy: PolicySet,
    issuer: str,
    apps_domain: str,
    *,
    client_ids: Iterable[str] = (),
    app_slugs: Iterable[str] = (),
) -> None:
    """After a change to these clients or apps (flushed, not yet committed): refuse it with ``InvalidInput``
    naming the rule when one of them now breaks a profile rule. Each door calls it with what it touched."""
    ids, named = set(client_ids), set(app_slugs)
    touched = (await session.scalars(select(Client).where(Client.client_id.in_(ids)))).all() if ids else []
    apps = await load_served_apps(
        session,
        issuer,
        apps_domain,
        client_ids=ids,
        resources={uri for client in touched for uri in client.resources or ()},
        slugs=named,
    )
    app_clients = {app.client_id for app in apps if app.slug in named and app.client_id}
    resources = {app.resource for app in apps if app.slug in named}
    clients = {client.client_id: client for client in touched}
    if app_clients or resources:
        others = select(Client).where(Client.client_id.in_(app_clients) | _lists_any(resources))
        clients.update((client.client_id, client) for client in (await session.scalars(others)).all())
    for client in clients.values():
        breach = find_breach(policy, client.client_id, client.profile, apps, client.resources or ())
        if breach is not None:
            raise InvalidInput(breach.describe())


def _lists_any(resources: set[str]) -> ColumnElement[bool]:
    """Clients whose JSON ``resources`` list may hold one of ``resources`` (a text match; ``find_breach``
    then checks the list itself)."""
    if not resources:
        return false()
    # as stored: JSON text, where a non-ASCII character is escaped (json.dumps), so both spellings are looked for
    spellings = {form for uri in resources for form in (uri, json.dumps(uri)[1:-1])}
    return or_(*(cast(Client.resources, Text).contains(form, autoescape=True) for form in spellings))


@dataclass(frozen=True)
class ProfileGuard:
    """What a door needs to check the rule: the policy set in force (read at each check: a reloaded set applies
    at once) and where apps live. Built once per CLI command or per admin API / registration endpoint."""

    policy: Callable[[], PolicySet]
    issuer: str
    apps_domain: str

    async def check(
        self, session: AsyncSession, *, client_ids: Iterable[str] = (), app_slugs: Iterable[str] = ()
    ) -> None:
        await check_profile_rule(
            session, self.policy(), self.issuer, self.apps_domain, client_ids=client_ids, app_slugs=app_slugs
        )

    def check_submission(self, slug: str, restricted: bool, profile: str | None) -> None:
        """An app submitted for review: its client will need the profile the policy requires of the app's."""
        rule = self.policy().required_profile(slug, restricted)
        if rule is not None and rule.profile != profile:
            raise InvalidInput(
                f"policy rule '{rule.id}' requires the {rule.profile} profile of every client of app '{slug}': "
                f"submit the app with client_profile {rule.profile} and the client's jwks_uri"
            )


@dataclass(frozen=True)
class DeferredProfileGuard(ProfileGuard):
    """For a batch of changes in one transaction (``gerbang apply``): each change records what it touched and the
    rule is checked once at the end (a document may give a client the profile after the change that links it to
    a restricted app)."""

    client_ids: set[str] = field(default_factory=set)
    app_slugs: set[str] = field(default_factory=set)

    async def check(
        self, session: AsyncSession, *, client_ids: Iterable[str] = (), app_slugs: Iterable[str] = ()
    ) -> None:
        self.client_ids.update(client_ids)
        self.app_slugs.update(app_slugs)

    async def finish(self, session: AsyncSession) -> None:
        await ProfileGuard.check(self, session, client_ids=self.client_ids, app_slugs=self.app_slugs)
