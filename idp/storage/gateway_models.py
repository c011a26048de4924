"""The gateway's tables: the app registry, gateway and console sessions, the accesses it recorded, traffic and
the integrity ledger.

They share the hub's one ``Base`` (one metadata, one migration chain: ``idp/storage/migrations``) and live beside
the provider's models so the provider can reach them without importing ``gateway``, but the gateway owns them:
``gateway/`` reads and writes them; the provider reads and ends them only through ``idp.access_history`` (a
person's gateway accesses and sessions, and the apps they name), apart from the storage layer itself
(``idp/storage/``: the migration environment, the pruner). ``tests/unit/test_layering.py`` holds that line.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idp.storage.models import Base


class App(Base):
    """A registered OPD app the gateway serves at its own origin, ``{slug}.{apps_domain}`` (and ``extra_hosts``)."""

    __tablename__ = "apps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    opd_id: Mapped[int] = mapped_column(ForeignKey("opd_units.id", ondelete="RESTRICT"), index=True)
    upstreams: Mapped[list[str]] = mapped_column(default=list)
    auth_mode: Mapped[str] = mapped_column(String(16))  # session | bearer | none
    client_id: Mapped[str | None] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(String(500))
    # Extra host names the app is also served at (``app_hosts``; migration 0013): one app per host, by the database.
    extra_hosts: Mapped[list[AppHost]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="AppHost.host"
    )
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    require_dpop: Mapped[bool] = mapped_column(Boolean, default=False)  # bearer apps: sender-constrained tokens only
    integrity: Mapped[str] = mapped_column(String(8), default="none")  # none | signed | ledger (gateway.integrity)
    status: Mapped[str] = mapped_column(String(16), default="active")  # pending | active | suspended | rejected
    # How the gateway reads paths for this app (gateway.paths) and who may open its WebSockets.
    case_insensitive_paths: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_ambiguous_paths: Mapped[bool] = mapped_column(Boolean, default=False)
    websocket_origins: Mapped[list[str]] = mapped_column(default=list)
    # The identity claims the app's assertion carries beyond sub/client_id (``gateway.claims``); None: the default
    # set (migration 0015).
    claims: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger, index=True)
    # The registration workflow (gateway.admin.registration): what an OPD operator asked for and what
    # Kominfo decided. The client is created from ``redirect_uris``/``requested_scopes`` on approval.
    submitted_by: Mapped[str | None] = mapped_column(String(36))
    contact: Mapped[str] = mapped_column(String(300), default="")
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    requested_scopes: Mapped[str] = mapped_column(Text, default="")
    # The client asked for at submission: the FAPI 2.0 profile and where its keys are (private_key_jwt).
    client_profile: Mapped[str | None] = mapped_column(String(16))
    client_jwks_uri: Mapped[str | None] = mapped_column(String(500))
    reviewed_by: Mapped[str | None] = mapped_column(String(36))
    reviewed_at: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was rejected or suspended


class AppHost(Base):
    """An extra host name an app is served at (``gerbang apps add --host``); the primary key: never two apps'."""

    __tablename__ = "app_hosts"
    host: Mapped[str] = mapped_column(String(253), primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)


class GatewaySession(Base):
    """A hub session for ``session`` apps: the gateway signed the user in as a relying party."""

    __tablename__ = "gateway_sessions"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    idp_sid: Mapped[str | None] = mapped_column(String(36), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The app (slug) on whose host the session was made: it is valid there only (migration 0005).
    app: Mapped[str | None] = mapped_column(String(64))
    acr: Mapped[str] = mapped_column(String(16))
    amr: Mapped[list[str]] = mapped_column(default=list)
    id_token: Mapped[str] = mapped_column(Text)
    # The claims the person had agreed the app receives when the session was made (idp.app_agreement): the
    # assertion never carries more, whatever policy releases later. None: made before migration 0022.
    claims: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)


class ConsoleSession(Base):
    """A signed-in administrator in Kominfo's console (server side; the cookie holds a random id)."""

    __tablename__ = "console_sessions"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    ended_at: Mapped[int | None] = mapped_column(BigInteger)


class GatewayAccess(Base):
    """The gateway sent a citizen's identity (``X-Gerbang-Assertion``) to an app: the access history's second source.

    One row per (user, app) per dedupe window, written in batches by ``gateway.access_writer``; ``app`` and
    ``opd`` are slugs as they were at the time (names are looked up when shown). ``claims``: the identity claims
    the assertion carried, names only, space-separated (``""``: none beyond ``sub``; NULL: a row from before
    they were recorded). No foreign key: a batch must not fail because one subject is gone; old rows are pruned
    after the retention.
    """

    __tablename__ = "gateway_accesses"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    user_id: Mapped[str] = mapped_column(String(64))
    app: Mapped[str] = mapped_column(String(64))
    opd: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    claims: Mapped[str | None] = mapped_column(String(100))


class TrafficMinute(Base):
    """Requests one app answered in one minute (``minute`` = UNIX seconds // 60), summed over every instance.

    Written by ``gateway.traffic_store`` as additive upserts; ``app`` is the route's slug ("-" when no route
    matched). 4xx includes 429.
    """

    __tablename__ = "traffic_minutes"
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    app: Mapped[str] = mapped_column(String(64), primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    client_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    server_errors: Mapped[int] = mapped_column(BigInteger, default=0)
    throttled: Mapped[int] = mapped_column(BigInteger, default=0)


class TrafficLatency(Base):
    """One non-empty latency bucket (``gateway.traffic``'s fixed log-scale bounds) of one app in one minute."""

    __tablename__ = "traffic_latency"
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    app: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerReceipt(Base):
    """One receipt of the integrity ledger (``gateway.integrity``): ``hash = H(prev_hash || canonical(receipt))``.

    Apart from the admin audit chain: a city's traffic, not its administration."""

    __tablename__ = "ledger_receipts"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    request_id: Mapped[str] = mapped_column(String(128), index=True)  # a client may name it: not unique
    at_ms: Mapped[int] = mapped_column(BigInteger)
    app: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64))
    sub: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    query_digest: Mapped[str] = mapped_column(String(64))
    request_digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response_digest: Mapped[str] = mapped_column(String(64))
    duration_us: Mapped[int] = mapped_column(BigInteger)
    # None: answered whole; else how the exchange ended early (gateway.integrity.receipts.OUTCOMES)
    outcome: Mapped[str | None] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_ledger_receipts_app_at", "app", "at_ms"),)


class LedgerCheckpoint(Base):
    """A signed statement of the ledger's head (``seq``, ``hash``), written with every batch of receipts."""

    __tablename__ = "ledger_checkpoints"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)


# The traffic view reads one app's (or a few apps') minutes: by app first, then minute.
Index("ix_traffic_minutes_app_minute", TrafficMinute.app, TrafficMinute.minute)
Index("ix_traffic_latency_app_minute", TrafficLatency.app, TrafficLatency.minute)
Index("ix_apps_status", App.status)
Index("ix_gateway_accesses_user_at", GatewayAccess.user_id, GatewayAccess.at)
