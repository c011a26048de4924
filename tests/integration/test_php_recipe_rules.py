"""contrib/php/gerbang.php decides as the Python verifiers do, rule by rule: the same assertions and the same signed
requests, genuine and broken every way docs/assertion.md and docs/integrity.md name, go through both
(``php`` runs the PHP file; ``gateway.assertion`` and ``gateway.integrity.http_signatures`` run in the test), and
each answer (the claims, or the status and the message) must be the same.

The PHP side is given the JWKS as an array and a replay callback of its own (the pluggable one apps without apcu
use); its JWKS source (``gerbang_jwks_from``) is tested against a key server of its own at the end.
tests/integration/test_php_recipe.py runs the file behind a real hub.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from gateway.assertion import AssertionRejected, AssertionVerifier
from gateway.integrity.http_signatures import (
    MessageSignatureVerifier,
    SignatureRejected,
    build_signature_base,
    build_signature_params,
    format_content_digest,
)
from idp.keys import HTTP_MESSAGE, public_jwk
from tests.support.hub_city import JwksServer
from tests.support.hub_tokens import TestKey, hand_made, hs256_with_public_key, unsigned_none
from tests.support.php import APCU, RECIPE, php_binary
from tests.support.server import run_server

ISSUER = "https://gerbang.palembang.go.id"
AUDIENCE = "https://e-budgeting.apps.palembang.go.id/"
ORIGIN = "https://e-budgeting.apps.palembang.go.id"
TYP = "gerbang-assertion+jwt"
ES, RS = TestKey("hub-es", "ES256"), TestKey("hub-rs", "RS256")
MESSAGE_KEY = ec.generate_private_key(ec.SECP256R1())
JWKS = {"keys": [ES.jwk, RS.jwk, public_jwk(MESSAGE_KEY, "msg-1", "ES256", HTTP_MESSAGE)]}

DRIVER = r"""
require getenv('GERBANG_RECIPE') . '/gerbang.php';
$in = json_decode(stream_get_contents(STDIN), true);
$seen = [];
$first_use = function (string $nonce, int $expires) use (&$seen): bool {
    if (isset($seen[$nonce])) { return false; }
    $seen[$nonce] = $expires;
    return true;
};
$answer = function (callable $check): array {
    try { return ['ok' => $check()]; }
    catch (GerbangRejected $e) { return ['status' => $e->status, 'detail' => $e->getMessage()]; }
};
$out = ['assertions' => [], 'requests' => []];
foreach ($in['assertions'] as $token) {
    $out['assertions'][] = $answer(fn () => gerbang_verify_assertion($in['jwks'], $in['issuer'], $in['audience'], $token));
}
foreach ($in['requests'] as $r) {
    $out['requests'][] = $answer(function () use ($in, $r, $first_use) {
        gerbang_verify_signature($in['jwks'], $in['origins'], $r['body'], $first_use, $r['server']);
        return true;
    });
}
echo json_encode($out);
"""


def php_answers(assertions: list[str], requests: list[Request]) -> dict[str, list[dict[str, Any]]]:
    document = {
        "jwks": JWKS,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "origins": [ORIGIN],
        "assertions": assertions,
        "requests": [{"server": request.server(), "body": request.body} for request in requests],
    }
    done = subprocess.run(
        [php_binary(), "-r", DRIVER],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        env={"GERBANG_RECIPE": str(RECIPE)},
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# --- assertions --------------------------------------------------------------------------------------------------


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "roles": ["petugas"], "iat": now, "exp": now + 30}
    values.update({"jti": "j-1", **overrides})
    return {name: value for name, value in values.items() if value is not None}


def raw_payload(payload: bytes) -> str:
    return jwt.api_jws.PyJWS().encode(payload, ES.private, algorithm="ES256", headers={"kid": ES.kid, "typ": TYP})


def flip_last_signature_byte(token: str) -> str:
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[-1] ^= 1
    return f"{head}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"


def at(offset: int) -> int:
    """A time ``offset`` seconds from now (when the token is built, just before both verifiers see it)."""
    return int(time.time()) + offset


ASSERTIONS: dict[str, Callable[[], str]] = {
    "genuine-es256": lambda: ES.sign(claims(), typ=TYP),
    "genuine-rs256": lambda: RS.sign(claims(), typ=TYP),
    "aud-in-a-list": lambda: ES.sign(claims(aud=["https://other/", AUDIENCE]), typ=TYP),
    "typ-upper-case": lambda: ES.sign(claims(), typ=TYP.upper()),
    "empty": lambda: "",
    "two-segments": lambda: ES.sign(claims(), typ=TYP).rsplit(".", 1)[0],
    "header-not-json": lambda: "bm90IGpzb24." + ES.sign(claims(), typ=TYP).split(".", 1)[1],
    "header-a-list": lambda: hand_made([TYP], claims()),  # type: ignore[arg-type]
    "alg-none": lambda: unsigned_none(ES, claims(), typ=TYP),
    "hs256-with-the-public-key": lambda: hs256_with_public_key(ES, claims(), typ=TYP),
    "typ-access-token": lambda: ES.sign(claims(), typ="at+jwt"),
    "typ-absent": lambda: hand_made({"alg": "ES256", "kid": ES.kid}, claims()),
    "jku": lambda: ES.sign(claims(), typ=TYP, jku="https://evil.example/jwks"),
    "x5c": lambda: ES.sign(claims(), typ=TYP, x5c=["MIIB"]),
    "crit": lambda: ES.sign(claims(), typ=TYP, crit=["exp"]),
    "no-kid": lambda: hand_made({"alg": "ES256", "typ": TYP}, claims()),
    "unknown-kid": lambda: TestKey("hub-9").sign(claims(), typ=TYP),
    "es256-under-the-rsa-kid": lambda: jwt.encode(
        claims(), ES.private, algorithm="ES256", headers={"kid": RS.kid, "typ": TYP}
    ),
    "signed-by-the-message-key": lambda: jwt.encode(
        claims(), MESSAGE_KEY, algorithm="ES256", headers={"kid": "msg-1", "typ": TYP}
    ),
    "throwaway-key-under-the-hub-kid": lambda: TestKey(ES.kid).sign(claims(), typ=TYP),
    "signature-changed": lambda: flip_last_signature_byte(ES.sign(claims(), typ=TYP)),
    "rs256-signature-changed": lambda: flip_last_signature_byte(RS.sign(claims(), typ=TYP)),
    "payload-a-list": lambda: raw_payload(b"[1, 2]"),
    "expired": lambda: ES.sign(claims(iat=at(-100), exp=at(-70)), typ=TYP),
    "expired-within-leeway": lambda: ES.sign(claims(iat=at(-32), exp=at(-2)), typ=TYP),
    "issued-in-the-future": lambda: ES.sign(claims(iat=at(30), exp=at(60)), typ=TYP),
    "lives-too-long": lambda: ES.sign(claims(exp=at(61)), typ=TYP),
    "iss-with-a-slash": lambda: ES.sign(claims(iss=ISSUER + "/"), typ=TYP),
    "iss-other": lambda: ES.sign(claims(iss="https://evil.example"), typ=TYP),
    "aud-other-app": lambda: ES.sign(claims(aud="https://pajak.apps.palembang.go.id/"), typ=TYP),
    "aud-list-without-this-app": lambda: ES.sign(claims(aud=["https://pajak.apps.palembang.go.id/"]), typ=TYP),
    "aud-absent": lambda: ES.sign(claims(aud=None), typ=TYP),
    "jti-absent": lambda: ES.sign(claims(jti=None), typ=TYP),
    "jti-a-number": lambda: ES.sign(claims(jti=7), typ=TYP),
    "sub-a-number": lambda: ES.sign(claims(sub=7), typ=TYP),
    "iat-a-float": lambda: ES.sign(claims(iat=at(0) + 0.5), typ=TYP),
    "exp-a-boolean": lambda: ES.sign(claims(exp=True), typ=TYP),
}
# pyjwt refuses these itself, before the Python verifier's own checks, and says only "signature is invalid".
PYJWT_WORDING = {"jti-a-number", "sub-a-number"}
ACCEPTED = {"genuine-es256", "genuine-rs256", "aud-in-a-list", "typ-upper-case", "expired-within-leeway"}


def python_assertion(token: str) -> dict[str, Any]:
    verifier = AssertionVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JWKS, cache_size=0)
    try:
        return {"ok": verifier.verify(token).claims}
    except AssertionRejected as exc:
        return {"status": exc.status, "detail": exc.message}


def test_the_php_file_decides_every_assertion_as_the_python_verifier() -> None:
    tokens = {name: build() for name, build in ASSERTIONS.items()}
    php = dict(zip(tokens, php_answers(list(tokens.values()), [])["assertions"], strict=True))
    python = {name: python_assertion(token) for name, token in tokens.items()}
    assert {name for name, answer in python.items() if "ok" in answer} == ACCEPTED
    for name in PYJWT_WORDING:
        assert php[name]["status"] == python[name]["status"] == 403
        php[name]["detail"] = python[name]["detail"]
    assert php == python
    assert php["empty"]["status"] == 401 and php["alg-none"]["status"] == 403


# --- signed requests ---------------------------------------------------------------------------------------------


@dataclass
class Request:
    method: str = "POST"
    target: str = "/api/anggaran?tahun=2027"
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"tahun": 2027, "pagu": 1250000000}'

    def server(self) -> dict[str, str]:
        """As PHP's ``$_SERVER`` holds it."""
        names = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in self.headers.items()}
        return {"REQUEST_METHOD": self.method, "REQUEST_URI": self.target, **names}


def signed(created_offset: int = 0, ttl: int = 30, **params: str) -> Request:
    """A request as the gateway forwards it, signed with the hub's message key (``params`` override the profile)."""
    request = Request()
    created = int(time.time()) + created_offset
    values = {
        "@method": "POST",
        "@target-uri": ORIGIN + request.target,
        "content-digest": format_content_digest(hashlib.sha256(request.body.encode()).digest()),
        "x-gerbang-assertion": "a.b.c",
        "x-request-id": "req-1",
    }
    components = params.pop("components", " ".join(values)).split()
    settings = {"nonce": "n" * 24, "keyid": "msg-1", **params}
    text = build_signature_params(created, created + ttl, settings["nonce"], settings["keyid"], components)
    if "alg" in params or "tag" in params:
        text = text.replace('alg="ecdsa-p256-sha256"', f'alg="{params.get("alg", "ecdsa-p256-sha256")}"')
        text = text.replace('tag="gerbang"', f'tag="{params.get("tag", "gerbang")}"')
    signature = _sign_es256(MESSAGE_KEY, build_signature_base(values, text, components))
    request.headers = {
        "content-digest": values["content-digest"],
        "x-gerbang-assertion": values["x-gerbang-assertion"],
        "x-request-id": values["x-request-id"],
        "x-forwarded-proto": "https",
        "x-forwarded-host": "e-budgeting.apps.palembang.go.id",
        "signature-input": f"gerbang={text}",
        "signature": f"gerbang=:{base64.b64encode(signature).decode()}:",
    }
    return request


def changed(request: Request, **headers: str | None) -> Request:
    for name, value in headers.items():
        name = name.replace("_", "-")
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value
    return request


def nonce(value: str) -> str:
    return value * 24


SIGNED: dict[str, Callable[[], Request]] = {
    "genuine": lambda: signed(nonce=nonce("a")),
    "without-forwarded-headers": lambda: changed(
        signed(nonce=nonce("b")), x_forwarded_host=None, x_forwarded_proto=None
    ),
    "forwarded-host-in-capitals": lambda: changed(
        signed(nonce=nonce("c")), x_forwarded_host="E-Budgeting.Apps.Palembang.Go.Id"
    ),
    "replayed": lambda: signed(nonce=nonce("a")),  # the genuine one's nonce, sent after it
    "body-changed": lambda: Request(**{**signed(nonce=nonce("d")).__dict__, "body": '{"tahun": 2027, "pagu": 9}'}),
    "path-changed": lambda: Request(**{**signed(nonce=nonce("e")).__dict__, "target": "/api/anggaran-x?tahun=2027"}),
    "method-changed": lambda: Request(**{**signed(nonce=nonce("f")).__dict__, "method": "PUT"}),
    "assertion-changed": lambda: changed(signed(nonce=nonce("g")), x_gerbang_assertion="x.y.z"),
    "request-id-changed": lambda: changed(signed(nonce=nonce("h")), x_request_id="req-2"),
    "other-origin": lambda: changed(signed(nonce=nonce("i")), x_forwarded_host="evil.example"),
    "digest-and-body-changed-together": lambda: changed(
        Request(**{**signed(nonce=nonce("j")).__dict__, "body": "{}"}),
        content_digest=format_content_digest(hashlib.sha256(b"{}").digest()),
    ),
    "digest-of-another-algorithm": lambda: changed(signed(nonce=nonce("k")), content_digest="sha-512=:AAAA:"),
    "signed-header-missing": lambda: changed(signed(nonce=nonce("l")), x_request_id=None),
    "unsigned": lambda: changed(signed(nonce=nonce("m")), signature=None, signature_input=None),
    "other-label-only": lambda: changed(
        signed(nonce=nonce("n")),
        signature_input=signed(nonce=nonce("n")).headers["signature-input"].replace("gerbang=", "sig1=", 1),
        signature=signed(nonce=nonce("n")).headers["signature"].replace("gerbang=", "sig1=", 1),
    ),
    "label-twice": lambda: changed(
        signed(nonce=nonce("o")),
        signature=signed(nonce=nonce("o")).headers["signature"] + ", " + signed().headers["signature"],
    ),
    "malformed-field": lambda: changed(signed(nonce=nonce("p")), signature="gerbang=:abc:; x, !!"),
    "signature-not-base64": lambda: changed(signed(nonce=nonce("q")), signature="gerbang=:abc:"),
    "a-component-left-out": lambda: signed(
        nonce=nonce("r"), components="@method @target-uri content-digest x-gerbang-assertion"
    ),
    "other-alg": lambda: signed(nonce=nonce("s"), alg="rsa-pss-sha512"),
    "other-tag": lambda: signed(nonce=nonce("t"), tag="other"),
    "short-nonce": lambda: signed(nonce="short"),
    "unknown-keyid": lambda: signed(nonce=nonce("u"), keyid="msg-9"),
    "keyid-of-a-jws-key": lambda: signed(nonce=nonce("v"), keyid=ES.kid),
    "stale": lambda: signed(created_offset=-100, nonce=nonce("w")),
    "created-in-the-future": lambda: signed(created_offset=60, nonce=nonce("x")),
    "lives-too-long": lambda: signed(ttl=61, nonce=nonce("y")),
}
SIGNED_ACCEPTED = {"genuine", "without-forwarded-headers", "forwarded-host-in-capitals"}


def python_signed(requests: list[Request]) -> list[dict[str, Any]]:
    keys = AssertionVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JWKS).message_key
    verifier = MessageSignatureVerifier(keys, [ORIGIN])
    answers: list[dict[str, Any]] = []
    for request in requests:
        try:
            verifier.verify(request.method, request.target, request.headers, request.body.encode())
            answers.append({"ok": True})
        except SignatureRejected as exc:
            answers.append({"status": exc.status, "detail": exc.message})
    return answers


def test_the_php_file_decides_every_signed_request_as_the_python_verifier() -> None:
    requests = {name: build() for name, build in SIGNED.items()}  # in order: "replayed" comes after "genuine"
    php = dict(zip(requests, php_answers([], list(requests.values()))["requests"], strict=True))
    python = dict(zip(requests, python_signed(list(requests.values())), strict=True))
    assert {name for name, answer in python.items() if "ok" in answer} == SIGNED_ACCEPTED
    assert php == python
    assert php["unsigned"]["status"] == 401 and "replay" in php["replayed"]["detail"]


@pytest.mark.parametrize("name", ["genuine-es256", "genuine-rs256"])
def test_keys_are_built_from_the_jwk_alone(name: str) -> None:
    """The PEM the PHP file builds from x/y (P-256) or n/e (RSA) is the key: a token of another key of the same
    kind under the same kid fails, the genuine one passes."""
    token = ASSERTIONS[name]()
    impostor = TestKey(ES.kid if name.endswith("es256") else RS.kid, "ES256" if name.endswith("es256") else "RS256")
    answers = php_answers([token, impostor.sign(claims(), typ=TYP)], [])["assertions"]
    assert "ok" in answers[0] and answers[1] == {"status": 403, "detail": "the assertion signature is invalid"}


# --- the JWKS source ---------------------------------------------------------------------------------------------

KEYS_DRIVER = r"""
require getenv('GERBANG_RECIPE') . '/gerbang.php';
$jwks = gerbang_jwks_from(getenv('GERBANG_JWKS_URL'), 300, (int) getenv('GERBANG_MIN_REFRESH'));
while (($token = fgets(STDIN)) !== false) {
    try {
        gerbang_verify_assertion($jwks, getenv('GERBANG_ISSUER'), getenv('GERBANG_AUDIENCE'), trim($token));
        echo "ok\n";
    } catch (GerbangRejected $e) {
        echo $e->getMessage(), "\n";
    }
}
"""
MIN_REFRESH = 2


@contextmanager
def php_verifier(jwks_url: str) -> Iterator[Callable[[str], str]]:
    """One PHP process (its apcu lives as long as it does) verifying the tokens it is given, one per line."""
    env = {"GERBANG_RECIPE": str(RECIPE), "GERBANG_JWKS_URL": jwks_url, "GERBANG_MIN_REFRESH": str(MIN_REFRESH)}
    env |= {"GERBANG_ISSUER": ISSUER, "GERBANG_AUDIENCE": AUDIENCE}
    command = [php_binary(), *APCU, "-d", "apc.use_request_time=0", "-r", KEYS_DRIVER]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdin is not None and process.stdout is not None

        def verify(token: str) -> str:
            process.stdin.write(token + "\n")  # type: ignore[union-attr]
            process.stdin.flush()  # type: ignore[union-attr]
            return process.stdout.readline().strip()  # type: ignore[union-attr]

        yield verify
        process.stdin.close()


def test_the_php_jwks_source_follows_a_key_rotation_and_resists_kid_spray() -> None:
    """docs/assertion.md rule 4, as the Python verifier's own test proves it (test_assertion_middleware.py)."""
    published = [ES.jwk]
    server = JwksServer(lambda: {"keys": list(published)})
    spray = [TestKey(f"spray-{number}").sign(claims(), typ=TYP) for number in range(30)]
    rotated = TestKey("hub-2")
    with run_server(server.app) as base, php_verifier(f"{base}/jwks") as verify:
        assert verify(ES.sign(claims(), typ=TYP)) == "ok"
        assert {verify(token) for token in spray} == {"the assertion was not signed by a key of the hub"}
        assert server.fetches == 1  # made-up kids: no refetch within MIN_REFRESH
        published.append(rotated.jwk)
        time.sleep(MIN_REFRESH + 1.1)  # apcu counts whole seconds
        assert verify(rotated.sign(claims(), typ=TYP)) == "ok"  # an unknown kid, after the interval: refetched
        assert server.fetches == 2
        assert verify(ES.sign(claims(), typ=TYP)) == "ok" and server.fetches == 2  # cached


def _sign_es256(key: ec.EllipticCurvePrivateKey, base: bytes) -> bytes:
    """RFC 9421 §3.3.4: ECDSA P-256 over SHA-256, r || s (the test signs its own cases, as a hub would)."""
    r, s = decode_dss_signature(key.sign(base, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
