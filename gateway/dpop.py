"""RFC 9449 §7 at the gateway: a DPoP-bound access token is accepted only with a proof made by its key for this
very request.

The proof's ``htu`` is the URL as the client sent it to the app's origin — this request's scheme, its ``Host``
header and its path — so the check holds whether apps live under ``/apps/{slug}/`` or on their own host.
Every other check (``htm``, ``iat`` window, ``ath``, signature, key parse cached per thumbprint) is
``idp.dpop.proof``'s; the ``jti`` is single use across instances (``idp.dpop.replay``). Failures are 401 with
``WWW-Authenticate: DPoP error=..., algs=...`` and the problem+json body.
"""

from __future__ import annotations

from gateway.errors import Unauthenticated
from gateway.model import RequestHead
from idp.clock import Clock
from idp.dpop.proof import PROOF_ALGS, InvalidProof, KeyCache, ProofWindow, check_proof
from idp.dpop.replay import ReplayStore

ALGS = " ".join(PROOF_ALGS)


def build_dpop_challenge(error: str | None = None, description: str | None = None) -> bytes:
    """``WWW-Authenticate: DPoP`` (§7.1); descriptions are our own fixed texts."""
    parts = [f'DPoP algs="{ALGS}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{description}"')
    return ", ".join(parts).encode()


def refuse_dpop(error: str, description: str) -> Unauthenticated:
    return Unauthenticated(description, headers=((b"www-authenticate", build_dpop_challenge(error, description)),))


def request_url(head: RequestHead) -> str:
    host = head.header(b"host")
    return f"{head.scheme}://{(host or head.host.encode()).decode('latin-1')}{head.path}"


class DpopProofChecker:
    def __init__(self, replay: ReplayStore, clock: Clock, window: ProofWindow | None = None) -> None:
        self._replay = replay
        self._clock = clock
        self._window = window or ProofWindow()
        self._keys = KeyCache()

    async def check(self, head: RequestHead, access_token: str, jkt: str) -> None:
        """Raises ``Unauthenticated`` unless the request carries one valid proof by the key ``jkt``."""
        proofs = [value for name, value in head.headers if name == b"dpop"]
        if len(proofs) != 1:
            raise refuse_dpop("invalid_dpop_proof", "send exactly one DPoP proof with a DPoP-bound token")
        now = self._clock.now()
        try:
            proof = check_proof(
                proofs[0].decode("latin-1"),
                method=head.method,
                url=request_url(head),
                now=now,
                window=self._window,
                keys=self._keys,
                access_token=access_token,
            )
        except InvalidProof as exc:
            raise refuse_dpop("invalid_dpop_proof", str(exc)) from exc
        if proof.jkt != jkt:
            raise refuse_dpop("invalid_dpop_proof", "the proof was made with another key than the token's (cnf)")
        ttl = self._window.past + self._window.future + 5
        if not await self._replay.first_use(f"{proof.jkt}:{proof.jti}", ttl):
            raise refuse_dpop("invalid_dpop_proof", "the proof was already used (jti)")
