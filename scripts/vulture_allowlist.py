"""Names vulture reports as unused that are used, each reviewed (``scripts/test`` runs vulture with this file).

Add a name here only with the reason it is live; dead code is deleted instead. The sections say who uses them.
This file is read by vulture, never imported.
"""

# ruff: noqa: B018, F821
# mypy: ignore-errors

_ = object()

# --- Called by a framework through its hook names --------------------------------------------------------------
# authlib's server, grants, client and token models (idp/oauth/*) and its assertion client authentication.
_.get_client_id, _.get_default_redirect_uri, _.get_allowed_scope, _.check_client_secret
_.check_endpoint_auth_method, _.check_response_type, _.is_public, _.get_redirect_uri, _.get_scope, _.get_nonce
_.get_auth_time, _.get_acr, _.get_amr, _.check_client, _.get_expires_in, _.is_expired
_.get_audiences, _.process_assertion_claims, _.validate_jti, _.resolve_client_public_key
_.save_authorization_code, _.query_authorization_code, _.delete_authorization_code, _.authenticate_user
_.exists_nonce, _.generate_user_info, _.encode_id_token, _.authenticate_refresh_token, _.revoke_old_credential
_.validate_code_challenge, _.validate_code_verifier
_.query_client, _.send_signal, _.create_oauth2_request, _.handle_response
CLIENT_AUTH_METHOD, TOKEN_ENDPOINT_AUTH_METHODS, INCLUDE_NEW_REFRESH_TOKEN
DEFAULT_CODE_CHALLENGE_METHOD, SUPPORTED_CODE_CHALLENGE_METHOD
_._scope  # authlib's OAuth2Request reads it
# SCIM's handlers: named as strings in idp/scim_routes.py, which imports their modules on the first SCIM request.
_.bulk_endpoint, _.group_get, _.groups_list, _.not_found, _.resource_types_endpoint, _.schemas_endpoint
_.service_provider_config_endpoint, _.user_get, _.users_list, _.users_search
# click's group (gateway/cli/__init__.py LazyGroup).
_.format_commands, _.get_command
# pydantic and pydantic-settings configuration.
model_config, _.settings_customise_sources, dotenv_settings, file_secret_settings
# SQLAlchemy: the declarative type map, a @validates hook, columns only SQL or the admin's JSON read.
type_annotation_map, _._keep_name_key, used_by_client, _.used_by_client, revoked_reason, _.revoked_reason
finished_at
# uvicorn's factory, named by string in gateway/cli/serve.py.
app_from_environment
# starlette: a response's background task; tarfile: a member's mtime.
_.background, _.mtime
# Protocol parameter names (what a prometheus Counter's inc takes).
amount
# jinja templates call these (gateway/admin/templates/traffic.html).
build_request_chart, build_latency_chart, build_legend

# --- Fields of records that are serialised whole (dataclasses.asdict, JSON bodies, templates) -------------------
via, ran, token_families, gateway_sessions, auth_methods, birth_date, suspended_total, audit_checkpoint_every
_.dropped_total, _.fetches, _.pending_minutes  # metrics and counters tests and operators read

# --- Public API for OPD apps and for tests ------------------------------------------------------------------------
GerbangAssertionWSGIMiddleware  # OPD apps mount it (docs/assertion.md)
SharedReplayCache  # OPD apps with several processes pass it as replay= (docs/integrity.md)
FrozenClock, _.advance  # the clock tests inject (STYLE: replace only the clock and the upstream)
legacy_resource  # migration 0005 imports it (migrations are outside the scan)
bucket_of  # the traffic histogram's bucket rule; tests and loadtests/traffic_view.py compute with it
# Reached only from tests today: candidates for removal (left to whoever owns them; tests still call them).
checkpoint_if_due  # idp/audit.py: append_audit writes checkpoints itself
bind_request, reset_request  # idp/logging.py
_.limits_for  # policies/engine.py: the limiter reads PolicySet.limits (gateway/ratelimit, issue 14)

# --- request path: rewritten by issue 14 (findings left to that rewrite) ------------------------------------------
StaticRouteTable  # gateway/default_steps.py: tests/integration/proxy/conftest.py uses it
GuardedHttpToolsProtocol  # gateway/server_protocol.py: uvicorn's http= names it by string
_.disconnected  # gateway/server_protocol.py
treatment  # gateway/identity_headers.py record field
token_id  # gateway/model.py Principal field

# --- the app plane (issue 14) -------------------------------------------------------------------------------------
_.served  # gateway/app_plane.py: requests served on the app plane; tests and the benchmark read it
eof_received, pause_writing, resume_writing  # gateway/upstream_client.py: asyncio.Protocol callbacks

# --- integrity (issue 21) -------------------------------------------------------------------------------------------
check_receipt_token  # gateway/integrity/receipts.py: how a client verifies its receipt offline (docs/integrity.md)
build_row  # gateway/integrity/ledger_store.py: the ledger's row shape; the tampering test forges rows with it
_.batches  # gateway/integrity/ledger_writer.py: group commits so far (tests read it)
build_signature_params  # gateway/integrity/http_signatures.py: the profile's reference serialization; the signer's precomputed form is tested against it
append_receipts  # gateway/integrity/ledger_store.py: read the head, link and write one batch; the tampering test builds ledgers with it
send_400_response  # gateway/server_protocol.py: uvicorn calls it when httptools refuses the bytes
_.kept_bytes  # idp/passwords.py: how much argon2id memory a worker keeps (tests read it: one block, no more)
