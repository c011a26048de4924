"""Integrity for OPD integrations (docs/integrity.md): signed requests (RFC 9421, RFC 9530) and receipts.

    http_signatures   the RFC 9421 profile: signature base, ES256 r||s, Content-Digest; the app-side verifier
                      (self-contained: apps copy it beside gateway/assertion.py)
    signer            the hub signs one forwarded request with its message-signing key (idp.keys, purpose
                      "http-message")
    observer          IntegrityPlane / IntegrityObserver: the one narrow per-request interface a forward path
                      calls (upstream_headers, request_chunk, response_head, response_chunk, complete); its
                      docstring is the contract for wiring it into another forward path; HeldResponse adapts it
                      to an ASGI ``send``
    receipts          a receipt, its chain hash and its JWS (Gerbang-Receipt), offline verification
    ledger_store      appending a batch with a signed checkpoint; reading, listing, walking
    ledger_writer     the batched durable writer (group commit, fail closed)
    ledger_verify     walking the chain: edited, deleted, inserted, reordered, rewritten, truncated
    ledger_routes     GET /ledger/receipts/{request_id} for the calling client
"""
