"""The OAuth 2.0 / OpenID Connect server on authlib.

authlib's server is synchronous; we keep it free of I/O: each request's storage reads happen
async *before* the grant runs (``preload``), authlib validates and builds the response on the event
loop reading only that preloaded state (``state.run_with_state``), and the writes it asked for (``Effects``) are applied
async, in one transaction, *after* it returns. A write that loses a race (a code or refresh token
redeemed twice) turns the response into an error, so authlib never sees storage.
"""
