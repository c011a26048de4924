"""RFC 9449 DPoP: proof checks (``proof``), server nonces (``nonces``) and the shared jti replay store (``replay``).

Used by the provider (token, userinfo) and by the gateway (bearer apps), so it lives in ``idp`` (the gateway
may import ``idp``; ``idp`` never imports the gateway).
"""
