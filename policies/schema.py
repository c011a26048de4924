"""The policy file format as pydantic models (validation only; ``compiler`` builds matchers from them).

A file may hold any of the top-level keys ``acr_levels``, ``apps``, ``rules``, ``limits``, ``provider``.
docs/policies.md is the reference for the format; the shipped ``policies/default/`` set is its example.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from policies.limits import Dimension, RouteClass
from policies.patterns import parse_cidr, parse_hhmm, parse_opd, parse_path, parse_period, parse_window

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_METHOD = re.compile(r"^[A-Z]{1,16}$")
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")  # RFC 6749 §3.3 scope-token
# Which key dimensions a limit may use for each route class (the gateway knows these values there).
LIMIT_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "app": ("ip", "client", "user", "app", "opd"),
    "login": ("ip", "account"),
    "token": ("ip", "client", "client_auth_failure"),
}


def _check(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"'{value}' is not a valid {what}")
        return value

    return AfterValidator(check)


def _text(value: Any) -> Any:
    # acr values are often written as bare numbers (acr: 2)
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _valid_path(value: str) -> str:
    parse_path(value)
    return value


def _valid_hhmm(value: str) -> str:
    parse_hhmm(value)
    return value


def _valid_cidr(value: str) -> str:
    parse_cidr(value)
    return value


def _valid_opd(value: str) -> str:
    parse_opd(value)
    return value


RuleId = Annotated[str, _check(_ID, "id (lowercase letters, digits, '.', '_', '-'; at most 100)")]
AppSlug = Annotated[str, _check(re.compile(r"^(\*|[a-z0-9][a-z0-9-]{0,62})$"), "app slug (or '*')")]
Method = Annotated[str, BeforeValidator(_upper), _check(_METHOD, "HTTP method")]
PathPattern = Annotated[str, AfterValidator(_valid_path)]
Cidr = Annotated[str, AfterValidator(_valid_cidr)]
HhMm = Annotated[str, AfterValidator(_valid_hhmm)]
OpdRef = Annotated[str, AfterValidator(_valid_opd)]
Scope = Annotated[str, _check(_SCOPE, "scope")]
Acr = Annotated[str, BeforeValidator(_text)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Effect = Literal["allow", "deny", "report-only"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _check_would(effect: str, would: str | None) -> None:
    if effect == "report-only" and would is None:
        raise ValueError("a report-only rule needs 'would: allow' or 'would: deny'")
    if effect != "report-only" and would is not None:
        raise ValueError("'would' is only for report-only rules")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindowDoc(Strict):
    """Days the window starts on, and a start-end in Asia/Jakarta local time; start > end spans midnight."""

    days: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    start: HhMm = "00:00"
    end: HhMm = "24:00"

    @model_validator(mode="after")
    def _valid(self) -> TimeWindowDoc:
        if not self.days:
            raise ValueError("days must name at least one day")
        parse_window(self.days, self.start, self.end)
        return self


class SubjectDoc(Strict):
    users: tuple[Name, ...] = ()
    roles: tuple[Name, ...] = ()
    opds: tuple[OpdRef, ...] = ()  # a unit covers its whole subtree


class MatchDoc(Strict):
    apps: tuple[AppSlug, ...] = ("*",)
    methods: tuple[Method, ...] = ()
    paths: tuple[PathPattern, ...] = ()
    subject: SubjectDoc = SubjectDoc()
    clients: tuple[Name, ...] = ()
    scopes: tuple[Scope, ...] = ()
    acr: Acr | None = None  # the caller's acr is at least this level
    acr_below: Acr | None = None  # the caller's acr is below this level (a deny rule then asks for step-up)
    time: tuple[TimeWindowDoc, ...] = ()
    ips: tuple[Cidr, ...] = ()
    not_ips: tuple[Cidr, ...] = ()  # the source IP is in none of these (an unknown IP counts as outside)

    @model_validator(mode="after")
    def _apps_not_empty(self) -> MatchDoc:
        if not self.apps:
            raise ValueError("apps must name at least one app (or '*')")
        return self


class RuleDoc(Strict):
    id: RuleId
    description: str = ""
    effect: Effect
    would: Literal["allow", "deny"] | None = None
    match: MatchDoc

    @model_validator(mode="after")
    def _would_only_for_report_only(self) -> RuleDoc:
        _check_would(self.effect, self.would)
        return self


class AppDoc(Strict):
    slug: Annotated[str, _check(_SLUG, "app slug")]
    description: str = ""
    restricted: bool = False  # default deny: only allow rules let requests through
    require_acr: Acr | None = None  # every request needs at least this level (step-up otherwise)
    allow_anonymous: bool = False  # default allow also for unauthenticated requests (public apps)
    require_dpop: bool = False  # FAPI 2.0 tokens only: DPoP-bound (sender-constrained), never plain bearer


class LimitDoc(Strict):
    id: RuleId
    description: str = ""
    per: Dimension
    route_class: RouteClass = "app"
    apps: tuple[AppSlug, ...] = ()
    opds: tuple[Annotated[str, _check(_SLUG, "OPD slug")], ...] = ()
    rate: int | None = Field(default=None, ge=1)
    period: Annotated[float, BeforeValidator(parse_period)] = 1.0
    burst: int | None = Field(default=None, ge=0)
    window: Literal["day", "month"] | None = None
    quota: int | None = Field(default=None, ge=1)
    fail_mode: Literal["open-local", "closed"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LimitDoc:
        allowed = LIMIT_DIMENSIONS[self.route_class]
        if self.per not in allowed:
            raise ValueError(
                f"per '{self.per}' is not available for route_class '{self.route_class}' (one of {', '.join(allowed)})"
            )
        if (self.rate is None) == (self.quota is None):
            raise ValueError("a limit has either 'rate' (with period, burst) or 'quota' (with window)")
        if self.quota is not None and self.window is None:
            raise ValueError("a quota needs 'window: day' or 'window: month'")
        if self.rate is not None and self.window is not None:
            raise ValueError("'window' is only for quotas")
        if self.route_class != "app" and (self.apps or self.opds):
            raise ValueError("'apps' and 'opds' are only for route_class 'app'")
        return self


class LoginRuleDoc(Strict):
    """Who may sign in to which client (the provider's decision)."""

    id: RuleId
    description: str = ""
    effect: Effect
    would: Literal["allow", "deny"] | None = None
    clients: tuple[Name, ...] = ("*",)
    subject: SubjectDoc = SubjectDoc()

    @model_validator(mode="after")
    def _would_only_for_report_only(self) -> LoginRuleDoc:
        _check_would(self.effect, self.would)
        return self


class ClientDoc(Strict):
    client_id: Name
    description: str = ""
    restricted: bool = False  # sign-in default deny: only login allow rules let users in


class ScopeGrantDoc(Strict):
    """Guarded scopes: only the listed clients may be granted them; unguarded scopes pass through."""

    id: RuleId
    description: str = ""
    scopes: tuple[Scope, ...] = Field(min_length=1)
    clients: tuple[Name, ...] = ()


class ExchangeDoc(Strict):
    """RFC 8693 token exchange: these clients may trade a user's token for one meant for these audiences
    (resource identifiers, e.g. ``https://bpkad.apps.palembang.go.id/``), never with more scope."""

    id: RuleId
    description: str = ""
    clients: tuple[Name, ...] = Field(min_length=1)
    audiences: tuple[Annotated[str, Field(min_length=1, max_length=500)], ...] = Field(min_length=1)


class ProfileRuleDoc(Strict):
    """Every client that may obtain tokens for these apps (the app's own client, clients registered for its
    resource, token exchanges for its audience) must follow this security profile: ``fapi2`` is FAPI 2.0."""

    id: RuleId
    description: str = ""
    profile: Literal["fapi2"]
    restricted_apps: bool = False  # every restricted app: restricted in the policy files or in the app registry
    apps: tuple[Annotated[str, _check(_SLUG, "app slug")], ...] = ()  # and these apps, restricted or not

    @model_validator(mode="after")
    def _names_apps(self) -> ProfileRuleDoc:
        if not self.restricted_apps and not self.apps:
            raise ValueError("a profile rule needs 'restricted_apps: true' or 'apps' (or both)")
        return self


class ProviderDoc(Strict):
    clients: tuple[ClientDoc, ...] = ()
    login: tuple[LoginRuleDoc, ...] = ()
    scopes: tuple[ScopeGrantDoc, ...] = ()
    exchanges: tuple[ExchangeDoc, ...] = ()
    profiles: tuple[ProfileRuleDoc, ...] = ()


class PolicyFileDoc(Strict):
    acr_levels: tuple[Acr, ...] | None = Field(default=None, min_length=1)
    apps: tuple[AppDoc, ...] = ()
    rules: tuple[RuleDoc, ...] = ()
    limits: tuple[LimitDoc, ...] = ()
    provider: ProviderDoc | None = None
