"""The provider's settings: one frozen, typed object built once at start.

Environment variables use the ``GERBANG_`` prefix; an optional TOML file supplies defaults: the file named by
``GERBANG_CONFIG``, else ``/etc/gerbang/gerbang.toml`` when present, else ``./gerbang.toml`` (``config_path``).
Every problem is reported at once (pydantic collects them).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from idp.app_origins import check_apps_domain, default_apps_domain

DEFAULT_DATA_DIR = Path("gerbang-data")
JWKS_MAX_AGE = 300  # Cache-Control max-age of /auth/jwks


class Settings(BaseSettings):
    """Everything the provider needs; the gateway extends this class with its own fields."""

    model_config = SettingsConfigDict(env_prefix="GERBANG_", frozen=True, extra="ignore")

    issuer: str = "http://127.0.0.1:8000"
    # OPD apps live at {slug}.{apps_domain} (idp.app_origins); empty: derived from the issuer.
    apps_domain: str = ""
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    database_pool_size: int = Field(default=20, ge=1, le=500)
    # No ping per checkout (idp/storage/db.py): only a connection idle this long is pinged before use.
    database_ping_after_idle_seconds: float = Field(default=30.0, ge=0, le=3600)
    database_recycle_seconds: int = Field(default=1800, ge=60, le=86_400, description="connections replaced after")
    # Load balancers whose X-Forwarded-For is believed (CIDRs): every limit and log uses the address resolved
    # through them (idp/client_address.py), in the provider and the app plane alike.
    trusted_proxies: tuple[str, ...] = ()
    redis_url: str = ""
    redis_key_prefix: str = "gerbang"
    redis_socket_timeout: float = Field(default=0.25, gt=0, le=30)
    redis_connect_timeout: float = Field(default=0.25, gt=0, le=30)
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)  # per process (per node in a cluster)
    # Rate limits: the rules come from the policy files; these are process settings (idp/throttle/).
    ratelimit_coalesce: bool = True  # one Redis round trip for the checks of one event-loop tick
    ratelimit_breaker_backoff: float = Field(default=0.5, gt=0, le=60)  # first pause after Redis fails
    ratelimit_breaker_max_backoff: float = Field(default=5.0, gt=0, le=300)
    # A Redis timeout during which this process's own event loop stood still this share of the timeout or more
    # is retried once and not counted against Redis (idp/throttle/loop_lag.py).
    ratelimit_stall_share: float = Field(default=0.5, gt=0, le=1)
    policy_dir: Path | None = None

    # Secret used to derive the key that encrypts signing keys at rest and to sign
    # short-lived internal values (CSRF tokens, email links). Must be set in production.
    secret_key: str = ""

    signing_alg: Literal["ES256", "RS256"] = "ES256"
    access_token_ttl: int = Field(default=600, ge=30, le=86_400)
    id_token_ttl: int = Field(default=600, ge=30, le=86_400)
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=300)
    refresh_token_idle_ttl: int = Field(
        default=14 * 86_400, ge=300, description="a refresh token unused this long dies"
    )
    code_ttl: int = Field(default=60, ge=10, le=600)
    session_ttl: int = Field(default=12 * 3600, ge=300)
    session_idle_ttl: int = Field(default=2 * 3600, ge=60)
    key_retire_after: int = Field(default=7 * 86_400, ge=0, description="seconds a rotated-out key keeps verifying")
    # A rotated-in key is published this long before it signs: at least the JWKS cache lifetime (JWKS_MAX_AGE,
    # the Cache-Control of /auth/jwks) plus an instance's key refresh. Shorter only on a loopback issuer (tests).
    key_activation_delay: int = Field(
        default=900, ge=0, le=7 * 86_400, description="seconds a new signing key is published before it signs"
    )
    key_refresh_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="how often each instance reloads signing keys from storage"
    )

    default_locale: Literal["id", "en"] = "id"
    mail_outbox: Path | None = None
    smtp_url: str = ""
    mail_from: str = "Gerbang Kota Palembang <no-reply@palembang.go.id>"
    verify_link_ttl: int = Field(default=48 * 3600, ge=300, le=14 * 86_400, description="email verification link")
    reset_link_ttl: int = Field(default=3600, ge=300, le=86_400, description="password reset link")
    backchannel_logout_attempts: int = Field(default=4, ge=1, le=10)
    backchannel_logout_backoff: float = Field(default=1.0, gt=0, le=60, description="first retry delay, doubling")
    backchannel_logout_timeout: float = Field(default=5.0, gt=0, le=30)
    reauth_max_age: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="sign-in age after which changing a sign-in method asks to sign in again",
    )
    undo_link_ttl: int = Field(
        default=7 * 86_400,
        ge=3600,
        le=30 * 86_400,
        description="the 'I did not do this' link in credential-change mails",
    )
    second_factor_ttl: int = Field(default=300, ge=60, le=3600, description="password accepted, second factor due")
    federation_timeout: float = Field(default=5.0, gt=0, le=30, description="each call to an upstream provider")
    federation_metadata_ttl: int = Field(default=3600, ge=10, le=86_400, description="upstream discovery cached")

    audit_checkpoint_every: int = Field(default=1000, ge=1, description="audit entries between signed checkpoints")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_json: bool | None = Field(default=None, description="JSON log lines; unset: JSON unless stdout is a terminal")

    # UU PDP (idp.data_rights, idp.pdp_jobs): grace before an account asked to be deleted is erased, retention
    # periods (0 = kept), the privacy notice's version, and how often the scheduled job runs.
    account_deletion_grace_days: int = Field(default=30, ge=0, le=365)
    security_event_retention_days: int = Field(default=365, ge=1, le=3650)
    inactive_account_retention_days: int = Field(
        default=0, ge=0, le=36_500, description="citizen accounts unused this long are erased; 0: never"
    )
    privacy_notice_version: str = Field(default="2026-12", min_length=1, max_length=32)
    pdp_job_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    # Expired codes, sessions and tokens are deleted in the background (idp/storage/pruner.py).
    prune_seconds: float = Field(default=300.0, gt=0, le=86_400, description="how often expired rows are pruned")
    prune_batch: int = Field(default=2000, ge=1, le=100_000, description="rows deleted per transaction")
    prune_max_batches: int = Field(default=50, ge=1, le=10_000, description="batches per table per run")
    # FAPI 2.0 / sender-constrained tokens (idp.dpop, idp.oauth.par)
    require_pushed_authorization_requests: bool = False  # RFC 9126 §5: every client must use PAR
    dpop_require_nonce: bool = True  # RFC 9449 §8: proofs carry a server nonce (cannot be made ahead)
    dpop_proof_max_age: int = Field(default=60, ge=5, le=600, description="seconds a DPoP proof's iat may be old")
    # Clients registered with a jwks_uri (idp.oauth.client_jwks): each fetch bounded, the set cached, a new kid
    # fetched again at most once per client_jwks_refetch_seconds.
    client_jwks_timeout: float = Field(default=5.0, gt=0, le=30, description="each fetch of a client's jwks_uri")
    client_jwks_ttl: int = Field(default=300, ge=10, le=86_400, description="seconds a client's key set is cached")
    client_jwks_refetch_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="least seconds between two fetches of one jwks_uri"
    )
    par_ttl: int = Field(default=60, ge=10, le=600, description="seconds a pushed request_uri stays usable")

    hash_concurrency: int = Field(default=4, ge=1, le=64, description="argon2id hashes at once (19 MiB each)")
    # Outbound addresses (idp.upstream_addresses: app upstreams, back-channel logout URIs, client jwks_uri, upstream
    # OpenID providers and their endpoints): loopback, link-local, metadata... refused unless allowed here; private
    # ranges allowed unless denied here. Comma-separated CIDRs.
    upstream_allow: Annotated[tuple[str, ...], NoDecode] = ()
    upstream_deny: Annotated[tuple[str, ...], NoDecode] = ()

    # Field validators (not a model validator) so every problem is reported in the same error.
    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("issuer must be an http(s) URL without query or fragment")
        if value.startswith("http://") and not _is_loopback_url(value):
            raise ValueError("issuer must use https unless it is a loopback address")
        return value.rstrip("/")

    @field_validator("apps_domain")
    @classmethod
    def _apps_domain_is_dns_name(cls, value: str, info: ValidationInfo) -> str:
        issuer = info.data.get("issuer")
        if not value:
            return default_apps_domain(issuer) if issuer else ""
        return check_apps_domain(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies: {cidr!r} is not an address or network ({exc})") from None
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_is_strong(cls, value: str, info: ValidationInfo) -> str:
        if value and len(value) < 32:
            raise ValueError("secret_key must be at least 32 characters")
        issuer = info.data.get("issuer")
        if not value and issuer and not _is_loopback_url(issuer):
            raise ValueError("secret_key (GERBANG_SECRET_KEY) must be set when the issuer is not loopback")
        return value

    @field_validator("key_activation_delay")
    @classmethod
    def _published_before_signing(cls, value: int, info: ValidationInfo) -> int:
        issuer = info.data.get("issuer")
        if value < JWKS_MAX_AGE and issuer and not _is_loopback_url(issuer):
            raise ValueError(f"key_activation_delay must be at least the JWKS cache lifetime ({JWKS_MAX_AGE} s)")
        return value

    @field_validator("upstream_allow", "upstream_deny", mode="before")
    @classmethod
    def _cidr_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(" ", ",").split(",") if part.strip()]
        return value

    @field_validator("upstream_allow", "upstream_deny")
    @classmethod
    def _cidrs_are_valid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"'{cidr}' is not a CIDR such as 10.20.0.0/16") from None
        return value

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'gerbang.db'}"

    @property
    def effective_secret(self) -> bytes:
        # Loopback development without a configured secret: a per-data-dir random secret file.
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            _create_secret_file(path)
        return path.read_text().strip().encode()

    @property
    def effective_mail_outbox(self) -> Path | None:
        """Without SMTP, mail goes to a file outbox (the demo's default: ``data_dir/outbox``)."""
        if self.smtp_url:
            return None
        return self.mail_outbox or self.data_dir / "outbox"

    @property
    def uses_tls(self) -> bool:
        return self.issuer.startswith("https://")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config_path()))


SYSTEM_CONFIG = Path("/etc/gerbang/gerbang.toml")


def config_path() -> Path:
    """The configuration file the server and every CLI command read: ``GERBANG_CONFIG``, else
    ``/etc/gerbang/gerbang.toml`` when it exists, else ``./gerbang.toml`` (used when present)."""
    named = os.environ.get("GERBANG_CONFIG")
    if named:
        return Path(named)
    return SYSTEM_CONFIG if SYSTEM_CONFIG.exists() else Path("gerbang.toml")


def _create_secret_file(path: Path) -> None:
    """Written whole under a temporary name, then linked into place: workers starting together all read the one
    secret that won, never a file another worker has created but not yet written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(os.urandom(32).hex())
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process's secret won
    finally:
        temporary.unlink(missing_ok=True)


def _is_loopback_url(url: str) -> bool:
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "[::1]"}
