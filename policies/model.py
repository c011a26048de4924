"""The typed values the engine takes and returns.

``Request`` is what the gateway knows about one request after authentication; ``Subject`` is what the
provider knows about a user signing in. ``Decision`` is also the gateway's (``gateway.model`` re-exports it):
the engine's memoised value travels as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Request:
    """One request to an app. ``path`` is exactly the path forwarded to the app (on its own origin: nothing removed)."""

    app: str
    method: str
    path: str
    at: datetime  # timezone-aware; windows are evaluated in Asia/Jakarta
    sub: str | None = None
    client_id: str | None = None
    roles: tuple[str, ...] = ()
    opd_paths: tuple[str, ...] = ()  # materialised OPD paths, e.g. "/kota-palembang/dinkes/puskesmas-x/"
    scopes: frozenset[str] = field(default_factory=frozenset)
    acr: str | None = None
    ip: str | None = None
    restricted: bool = False  # the app registry marks the app restricted (either source makes it default deny)
    public: bool = False  # the app registry serves the app without sign-in (auth none): anonymous callers pass
    case_insensitive_paths: bool = False  # the app's server ignores case in paths: so do its path rules

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("Request.at must be timezone-aware")

    @property
    def anonymous(self) -> bool:
        return self.sub is None and self.client_id is None


@dataclass(frozen=True, slots=True)
class Subject:
    """A user signing in to a client (the provider's login decision)."""

    sub: str
    roles: tuple[str, ...] = ()
    opd_paths: tuple[str, ...] = ()
    acr: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome, the enforcing rules behind it, and the report-only rules that matched.

    ``would_allow`` is the outcome had the matched report-only rules been enforced (None: none matched).
    ``required_acr`` is set when a higher authentication level would change a deny (step-up).
    """

    allowed: bool
    rule_ids: tuple[str, ...] = ()
    reason: str = ""
    required_acr: str | None = None
    report_only: tuple[str, ...] = ()
    would_allow: bool | None = None


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """How one rule fared against a request: matched, or the first condition that failed and why."""

    rule_id: str
    effect: str  # allow | deny | report-only
    would: str | None
    matched: bool
    failed: str | None = None  # condition name, e.g. "subject.opds"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    traces: tuple[RuleTrace, ...]
    app_restricted: bool
    app_require_acr: str | None
    # provider.profiles: the rule requiring a security profile of the app's clients, and the profile (fapi2)
    profile_rule: str | None = None
    required_profile: str | None = None
