"""Integrity for OPD integrations (docs/integrity.md): signed requests (RFC 9421, RFC 9530) and receipts.

http_signatures   the RFC 9421 profile: signature base, ES256 r||s, Content-Digest; the app-side verifier
                  (self-contained: apps copy it beside gateway/assertion.py)
signer            the hub signs one forwarded request with its message-signing key (idp.keys, purpose
                  "http-message")
observer          IntegrityPlane / IntegrityObserver: the proxy's per-request observer (gateway.proxy's
                  observer points) for signed and ledger apps; IntegrityFront wraps the client's
                  Conversation (either front: the app plane or ASGI) to replay a buffered body and hold a
                  ledger app's response until its receipt is durable; its docstring is the contract
receipts          a receipt, its chain hash, a batch's signed checkpoint, the Gerbang-Receipt (checkpoint JWS +
                  audit path) and its offline verification
merkle            RFC 9162 Merkle trees over one batch: tree head, audit paths, checking one
ledger_store      appending a batch (chain links, Merkle tree, one signed checkpoint); proofs of stored receipts
                  (BatchProver); reading, listing, walking
ledger_writer     the batched durable writer (group commit, fail closed)
ledger_verify     walking the chain: edited, deleted, inserted, reordered, rewritten, truncated
ledger_routes     GET /ledger/receipts/{request_id} for the calling client
"""
