"""``gerbang clients add --profile fapi2 | --require-par | --dpop-bound | --id-token-alg``,
``gerbang apps add|update --require-dpop`` and ``gerbang dpop proof``."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from joserfc.jwk import ECKey

from idp.dpop.proof import KeyCache, ProofWindow, check_proof
from tests.integration.test_cli import one_json, run  # noqa: F401 (fixture)


def test_fapi2_client_from_the_command_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    refused = run(
        "clients",
        "add",
        "--name",
        "Bukan FAPI",
        "--redirect-uri",
        "https://x.palembang.go.id/cb",
        "--profile",
        "fapi2",
        "--json",
    )
    assert refused.exit_code != 0 and "private_key_jwt" in refused.output
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256", parameters={"kid": "k1"}).as_dict()]}))
    client = one_json(
        run(
            "clients",
            "add",
            "--name",
            "E-Budgeting FAPI",
            "--redirect-uri",
            "https://e-budgeting.palembang.go.id/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            str(jwks),
            "--profile",
            "fapi2",
            "--id-token-alg",
            "PS256",
            "--json",
        )
    )
    assert client["profile"] == "fapi2" and client["client_secret"] is None
    assert client["require_pushed_authorization_requests"] is True and client["dpop_bound_access_tokens"] is True
    assert client["id_token_signed_response_alg"] == "PS256"
    plain = one_json(
        run(
            "clients",
            "add",
            "--name",
            "Hanya DPoP",
            "--redirect-uri",
            "https://d.palembang.go.id/cb",
            "--dpop-bound",
            "--require-par",
            "--json",
        )
    )
    assert plain["profile"] is None and plain["dpop_bound_access_tokens"] is True
    assert plain["require_pushed_authorization_requests"] is True


def test_apps_require_dpop_and_the_proof_helper(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    one_json(run("opd", "add", "--slug", "bpkad", "--name", "BPKAD", "--kind", "badan", "--json"))
    app = one_json(
        run(
            "apps",
            "add",
            "--slug",
            "e-budgeting",
            "--opd",
            "bpkad",
            "--upstream",
            "http://10.0.0.5:8080",
            "--auth",
            "bearer",
            "--require-dpop",
            "--json",
        )
    )
    assert app["require_dpop"] is True
    updated = one_json(run("apps", "update", "--slug", "e-budgeting", "--no-require-dpop", "--json"))
    assert updated["diff"]["require_dpop"] == {"from": True, "to": False}
    session = run(
        "apps",
        "add",
        "--slug",
        "parkir",
        "--opd",
        "bpkad",
        "--upstream",
        "http://10.0.0.6:8080",
        "--auth",
        "session",
        "--require-dpop",
    )
    assert session.exit_code != 0 and "bearer" in session.output
    key = tmp_path / "dpop.pem"
    url = "https://e-budgeting.apps.palembang.go.id/api/anggaran"
    made = run("dpop", "proof", "--key", str(key), "--token", "tok", "get", url)
    assert made.exit_code == 0, made.output
    proof = made.output.strip()
    assert key.exists() and oct(key.stat().st_mode & 0o777) == "0o600"
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == "dpop+jwt" and "d" not in header["jwk"]
    iat = jwt.decode(proof, options={"verify_signature": False})["iat"]
    checked = check_proof(
        proof, method="GET", url=url, now=iat, window=ProofWindow(), keys=KeyCache(), access_token="tok"
    )
    again = run("dpop", "proof", "--key", str(key), "GET", url).output.strip()  # the same key, kept in the file
    assert jwt.get_unverified_header(again)["jwk"] == header["jwk"] and checked.jti
