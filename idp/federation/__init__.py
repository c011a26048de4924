"""Identity brokering: Gerbang as a relying party of upstream OpenID providers (INApas, SSO ASN).

registry.py      Kominfo's upstream providers (add/update/remove/list), secrets sealed at rest
sealing.py       AES-GCM sealing of an upstream's client secret and private key
discovery.py     the upstream's metadata and JWKS, fetched and cached (refreshed on an unknown kid)
relying_party.py the authorization request (state, nonce, PKCE), the code exchange, the ID token checks
logins.py        sign-ins in flight (state, nonce, verifier; then the verified claims)
linking.py       what a verified upstream identity becomes: a sign-in, a new account, or a link with proof
sessions.py      hub sessions started upstream: upstream logout and upstream back-channel logout
"""
