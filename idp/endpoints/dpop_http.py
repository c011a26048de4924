"""RFC 9449 at the provider's HTTP edge: reading a request's proof and answering a refused one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from idp.dpop.proof import PROOF_ALGS, CheckedProof, NonceRequired
from idp.http import oauth_error
from idp.provider import Provider

ALGS = " ".join(PROOF_ALGS)


async def read_proof(
    provider: Provider, request: Request, url: str, access_token: str | None = None
) -> CheckedProof | None:
    """The checked proof of this request (None without one); raises ``InvalidProof``."""
    return await provider.dpop.check(
        request.headers.getlist("dpop"), method=request.method, url=url, access_token=access_token
    )


def nonce_header(provider: Provider) -> dict[str, str]:
    return {"DPoP-Nonce": provider.dpop.fresh_nonce()}


def token_endpoint_refusal(provider: Provider, exc: Exception) -> Response:
    """§5 and §8: 400 ``invalid_dpop_proof``, or ``use_dpop_nonce`` with the nonce to use."""
    if isinstance(exc, NonceRequired):
        return oauth_error(400, "use_dpop_nonce", str(exc), nonce_header(provider))
    return oauth_error(400, "invalid_dpop_proof", str(exc), nonce_header(provider))


def resource_refusal(provider: Provider, error: str, description: str, status: int = 401) -> Response:
    """§7.1: a protected resource's ``WWW-Authenticate: DPoP`` challenge (with the algorithms it accepts)."""
    challenge = f'DPoP algs="{ALGS}", error="{error}", error_description="{description}"'
    headers = {"WWW-Authenticate": challenge, **nonce_header(provider)}
    return oauth_error(status, error, description, headers)
