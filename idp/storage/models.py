"""The schema. Times are integer UNIX seconds (UTC) so SQLite and PostgreSQL agree exactly.

One metadata for the whole hub. This module holds the provider's tables: identity (OPD tree, users,
memberships), OAuth (clients, consents, codes, tokens), browser sessions, signing keys, federation, data-rights
records and the audit chain. The gateway's tables (app registry, gateway and console sessions, accesses, traffic,
integrity ledger) share this ``Base`` in ``idp.storage.gateway_models``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates


def build_name_key(name: str) -> str:
    """A name as searches compare it: NFKC, case-folded, single spaces ("ＳＩＴＩ  Aminah" → "siti aminah").

    Stored beside the name (``users.name_key``) so a search is a plain indexed comparison on both backends
    instead of ``lower(name)`` on every row."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())[:200]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[dict[str, Any]]: JSON, list[list[str]]: JSON}


class OpdUnit(Base):
    """A node of the city's organisation tree: kota → dinas/badan → kecamatan → kelurahan."""

    __tablename__ = "opd_units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("opd_units.id", ondelete="RESTRICT"), index=True)
    # Materialised path of slugs ("/kota-palembang/dinkes/"): a subtree is one prefix query.
    path: Mapped[str] = mapped_column(String(1000), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200), default="")  # build_name_key(name), kept by _keep_name_key
    nik: Mapped[str | None] = mapped_column(String(16), unique=True)
    nip: Mapped[str | None] = mapped_column(String(18))  # an ASN's NIP (BKN), from SSO ASN or SCIM
    kind: Mapped[str] = mapped_column(String(16), default="citizen")  # citizen | asn
    password_hash: Mapped[str | None] = mapped_column(String(200))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # TOTP secrets are sealed (AES-GCM under the settings secret); pending = enrolment not yet confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(200))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(200))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)  # replay protection: last accepted step
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    password_changed_at: Mapped[int] = mapped_column(BigInteger, default=0)
    # UU PDP (idp.data_rights, idp.privacy_notice; migration 0010): a deletion waiting for its grace period,
    # and the privacy notice version the citizen accepted (None: created before notices, or by an administrator).
    deletion_requested_at: Mapped[int | None] = mapped_column(BigInteger)
    erase_after: Mapped[int | None] = mapped_column(BigInteger, index=True)
    privacy_version: Mapped[str | None] = mapped_column(String(32))
    privacy_accepted_at: Mapped[int | None] = mapped_column(BigInteger)
    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="selectin")

    @validates("name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = build_name_key(name)
        return name


class Membership(Base):
    """An ASN's role in one OPD unit (roles are inherited down the tree by the policy engine)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "opd_id", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    opd_id: Mapped[int] = mapped_column(ForeignKey("opd_units.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    user: Mapped[User] = relationship(back_populates="memberships")
    opd: Mapped[OpdUnit] = relationship(lazy="joined")


class Client(Base):
    """An OAuth client (RFC 6749 §2) owned by an OPD. Secrets are stored as SHA-256 digests."""

    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opd_units.id", ondelete="RESTRICT"), index=True)
    redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(default=list)
    grant_types: Mapped[list[str]] = mapped_column(default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid")
    auth_method: Mapped[str] = mapped_column(String(32), default="client_secret_basic")
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(500))  # RFC 7591 §2, fetched by idp.oauth.client_jwks
    resources: Mapped[list[str]] = mapped_column(default=list)
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | pending | suspended
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    # RFC 7592: the digest of the registration access token a dynamically registered client manages itself with.
    registration_token_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    # FAPI 2.0 and sender-constrained tokens (idp.oauth.fapi): profile "fapi2" implies PAR, DPoP and the rest.
    profile: Mapped[str | None] = mapped_column(String(16))
    require_par: Mapped[bool] = mapped_column(Boolean, default=False)  # RFC 9126 require_pushed_authorization_requests
    dpop_bound: Mapped[bool] = mapped_column(Boolean, default=False)  # RFC 9449 dpop_bound_access_tokens
    id_token_alg: Mapped[str | None] = mapped_column(String(8))  # id_token_signed_response_alg; None: the default
    # `gerbang clients rotate-secret`: the replaced secret keeps working until this time (a grace period).
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[int | None] = mapped_column(BigInteger)


class InitialAccessToken(Base):
    """RFC 7591 §3: Kominfo's permission to register one client dynamically (stored by digest, single use)."""

    __tablename__ = "initial_access_tokens"
    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    opd_id: Mapped[int | None] = mapped_column(ForeignKey("opd_units.id", ondelete="RESTRICT"))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    used_by_client: Mapped[str | None] = mapped_column(String(64))


class Consent(Base):
    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[int] = mapped_column(BigInteger)


class AuthorizationCode(Base):
    """A code (stored by digest). Redeemed codes are kept until expiry so a replay can revoke its family."""

    __tablename__ = "authorization_codes"
    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Served by ix_authorization_codes_client_nonce (client_id first); a client_id index of its own let the
    # planner walk every code of a client for the nonce check on a table without statistics (migration 0024).
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    resources: Mapped[list[str]] = mapped_column(default=list)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(16))
    amr: Mapped[list[str]] = mapped_column(default=list)
    family_id: Mapped[str] = mapped_column(String(36))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    redeemed_at: Mapped[int | None] = mapped_column(BigInteger)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))  # RFC 9449 §10: the key the code is bound to


class Grant(Base):
    """A token family: everything issued from one authorization (code, refresh chain, access tokens)."""

    __tablename__ = "grants"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scope: Mapped[str] = mapped_column(Text)
    resources: Mapped[list[str]] = mapped_column(default=list)
    auth_time: Mapped[int | None] = mapped_column(BigInteger)
    acr: Mapped[str | None] = mapped_column(String(16))
    amr: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))  # RFC 9449 §5: refresh tokens bound to this key


class RefreshToken(Base):
    """One refresh token of a family, by digest. ``rotated_at`` set = used; reuse revokes the family."""

    __tablename__ = "refresh_tokens"
    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    rotated_at: Mapped[int | None] = mapped_column(BigInteger)


class AccessToken(Base):
    """A user access token's jti, kept so revocation and introspection can name it."""

    __tablename__ = "access_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(ForeignKey("grants.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RevokedToken(Base):
    """Denylist of access-token jtis until they would have expired anyway."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class BrowserSession(Base):
    """The provider's server-side session; the cookie holds a random id, the table its digest."""

    __tablename__ = "browser_sessions"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(36), unique=True)  # public session id (OIDC `sid`)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    acr: Mapped[str] = mapped_column(String(16))
    amr: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ended_at: Mapped[int | None] = mapped_column(BigInteger)
    clients: Mapped[list[str]] = mapped_column(default=list)


class SigningKey(Base):
    """A hub signing key. The private key is encrypted at rest (AES-GCM under the settings secret)."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_key: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[int | None] = mapped_column(BigInteger)  # stops signing (may be scheduled ahead)
    expires_at: Mapped[int | None] = mapped_column(BigInteger)  # stops being published
    activates_at: Mapped[int | None] = mapped_column(BigInteger)  # starts signing; published before (None: at once)
    id_token_only: Mapped[bool] = mapped_column(Boolean, default=False)  # a per-algorithm ID token key (idp.keys)
    # "jws" (tokens, assertions) or "http-message" (RFC 9421 request signatures; never signs a JWS): idp.keys
    purpose: Mapped[str] = mapped_column(String(16), default="jws")


class Interaction(Base):
    """An authorization request waiting for the user (login, consent), bound to the browser by cookie."""

    __tablename__ = "interactions"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[list[list[str]]] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    login_sid: Mapped[str | None] = mapped_column(String(36))
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)


class PushedRequest(Base):
    """RFC 9126: an authorization request pushed by an authenticated client, referenced by its request_uri."""

    __tablename__ = "pushed_requests"
    uri_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    params: Mapped[list[list[str]]] = mapped_column(JSON)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class DeviceCode(Base):
    """RFC 8628: a device's pending authorization, found by its device code (digest) or its user code."""

    __tablename__ = "device_codes"
    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)  # normalised: 8 letters, no dash
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    resources: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    interval: Mapped[int] = mapped_column(Integer, default=5)
    last_polled_at: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | denied | redeemed
    family_id: Mapped[str] = mapped_column(String(36))
    user_id: Mapped[str | None] = mapped_column(String(36))
    session_id: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int | None] = mapped_column(BigInteger)
    acr: Mapped[str | None] = mapped_column(String(16))
    amr: Mapped[list[str]] = mapped_column(default=list)


class ReplayMark(Base):
    """Single-use values (private_key_jwt jti, email-link ids) remembered until they expire."""

    __tablename__ = "replay_marks"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class RecoveryCode(Base):
    """A one-time MFA recovery code, stored as an HMAC (the codes are random, 50 bits each)."""

    __tablename__ = "recovery_codes"
    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class LoginChallenge(Base):
    """A password-verified login waiting for its second factor; the cookie holds the id, the table its digest."""

    __tablename__ = "login_challenges"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    interaction: Mapped[str | None] = mapped_column(String(64))
    first_factor: Mapped[list[str]] = mapped_column(default=list)  # amr of what is already proven
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class Passkey(Base):
    """A WebAuthn credential (passkey) of a user: second factor, or passwordless sign-in on its own."""

    __tablename__ = "passkeys"
    credential_id: Mapped[str] = mapped_column(String(1400), primary_key=True)  # base64url, ≤ 1023 bytes raw
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(Text)  # base64url COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(default=list)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class WebAuthnChallenge(Base):
    """A WebAuthn ceremony's challenge, single use; the browser holds the id in a cookie."""

    __tablename__ = "webauthn_challenges"
    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # register | login | second
    user_id: Mapped[str | None] = mapped_column(String(36))
    challenge: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class LogoutDelivery(Base):
    """One back-channel logout token sent to one client: how many tries it took and how it ended."""

    __tablename__ = "logout_deliveries"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(36))
    uri: Mapped[str] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # delivered | refused | failed
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """One link of the tamper-evident audit chain: ``hash = H(prev_hash || canonical(entry))``."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signed statement of the chain head (``seq``, ``hash``), also kept apart from the chain.

    The chain holds each checkpoint as an entry too; this copy is what shows a cut tail: a chain
    that ends before the newest checkpoint's ``seq`` has lost entries.
    """

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)
    kid: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)


class SecurityEvent(Base):
    """One security event of an account or client (``idp.security_events``): kept apart from the audit chain
    so it can be purged after its retention; ``user_id`` is kept as a pseudonym after an account is erased."""

    __tablename__ = "security_events"
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DataRequest(Base):
    """A data subject request (UU PDP Art. 32-44) in Kominfo's queue: due ``due_at`` (3 x 24 h after creation)."""

    __tablename__ = "data_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # export | withdraw | erase
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled
    channel: Mapped[str] = mapped_column(String(16), default="online")  # online | counter
    actor: Mapped[str] = mapped_column(String(200))  # user:<id> online, the official's sub at a counter
    note: Mapped[str] = mapped_column(Text, default="")
    # What the request is about ("client:<id>", "app:<slug>", or empty: the whole account; migration 0015)
    # and what was done or why it was refused, as the citizen reads it.
    target: Mapped[str] = mapped_column(String(200), default="", server_default="")
    outcome: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)
    due_at: Mapped[int] = mapped_column(BigInteger)
    done_at: Mapped[int | None] = mapped_column(BigInteger)


class ProcessingRecord(Base):
    """The processing register (UU PDP Art. 31) of one app: what Kominfo fills in beside what Gerbang knows."""

    __tablename__ = "processing_records"
    app: Mapped[str] = mapped_column(String(64), primary_key=True)  # the app's slug
    purpose: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(String(64), default="")
    retention: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[int] = mapped_column(BigInteger)
    updated_by: Mapped[str] = mapped_column(String(200))


class JobLease(Base):
    """Who runs a scheduled job now: one instance at a time holds the lease until ``until``."""

    __tablename__ = "job_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[int] = mapped_column(BigInteger)


Index("ix_users_name", User.name)
# Admin list filters (migration 0004; on PostgreSQL also varchar_pattern_ops and, with pg_trgm, trigram indexes).
Index("ix_users_name_key", User.name_key)
Index("ix_audit_log_actor_seq", AuditEntry.actor, AuditEntry.seq)
Index("ix_audit_log_target_seq", AuditEntry.target, AuditEntry.seq)
Index("ix_audit_log_action_seq", AuditEntry.action, AuditEntry.seq)
Index("ix_grants_user_client", Grant.user_id, Grant.client_id)
Index("ix_security_events_user_at", SecurityEvent.user_id, SecurityEvent.at)
Index("ix_security_events_kind_at", SecurityEvent.kind, SecurityEvent.at)


class UpstreamIdp(Base):
    """An upstream OpenID provider Kominfo brokers to (INApas, SSO ASN). Secrets are sealed at rest."""

    __tablename__ = "upstream_idps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    client_secret: Mapped[str | None] = mapped_column(Text)  # sealed
    private_key: Mapped[str | None] = mapped_column(Text)  # sealed PEM (private_key_jwt toward the upstream)
    key_id: Mapped[str | None] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="openid profile email")
    link_by: Mapped[str] = mapped_column(String(8), default="email")  # nik | nip | email | none
    authoritative: Mapped[bool] = mapped_column(Boolean, default=False)  # links on a match without proof
    acr_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # upstream acr -> local acr
    audience: Mapped[str] = mapped_column(String(16), default="all")  # citizens | asn | all
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class FederatedIdentity(Base):
    """A local account linked to one upstream subject (``iss`` is the upstream's, kept by slug)."""

    __tablename__ = "federated_identities"
    __table_args__ = (UniqueConstraint("idp_slug", "subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idp_slug: Mapped[str] = mapped_column(ForeignKey("upstream_idps.slug", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_login_at: Mapped[int | None] = mapped_column(BigInteger)


class FederationLogin(Base):
    """One sign-in through an upstream in flight: the RP's state, nonce and PKCE verifier; then the verified
    claims waiting for the person's confirmation. Bound to the browser by a cookie; single use."""

    __tablename__ = "federation_logins"
    state_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    idp_slug: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    interaction: Mapped[str | None] = mapped_column(String(64))
    claims: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # set once the upstream's answer is verified
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class FederatedSession(Base):
    """A hub session started through an upstream: what upstream logout and upstream back-channel logout need."""

    __tablename__ = "federated_sessions"
    sid: Mapped[str] = mapped_column(String(36), primary_key=True)  # the hub's session id
    idp_slug: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    upstream_sid: Mapped[str | None] = mapped_column(String(255))
    id_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class ScimAccount(Base):
    """An account provisioned over SCIM: its ``userName`` and the core attributes the account has no column for
    (displayName, emails, externalId, name), kept as the provisioning system gave them."""

    __tablename__ = "scim_accounts"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    client_id: Mapped[str] = mapped_column(String(64))  # the provisioning client that created it


Index("ix_users_nip", User.nip, unique=True)
Index("ix_federated_sessions_upstream", FederatedSession.idp_slug, FederatedSession.upstream_sid)
Index("ix_federated_sessions_subject", FederatedSession.idp_slug, FederatedSession.subject)
# Sign-in at city scale (migration 0008): the nonce replay check is a point lookup; the pruner finds expiry by index.
Index("ix_authorization_codes_client_nonce", AuthorizationCode.client_id, AuthorizationCode.nonce)
Index("ix_grants_expires_at", Grant.expires_at)
Index("ix_refresh_tokens_expires_at", RefreshToken.expires_at)


class AppAgreement(Base):
    """A person agreed that a ``session`` app receives these identity claims (``idp.app_agreement``; migration 0022).

    Asked again when the app's released claims grow beyond ``claims``; withdrawn on ``/account`` (per app)."""

    __tablename__ = "app_agreements"
    __table_args__ = (UniqueConstraint("user_id", "app_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    claims: Mapped[list[str]] = mapped_column(JSON, default=list)
    agreed_at: Mapped[int] = mapped_column(BigInteger)
