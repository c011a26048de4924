"""The `gerbang` CLI against real databases: every create command prints one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main


@pytest.fixture
def run(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"GERBANG_DATABASE_URL": database_url, "GERBANG_DATA_DIR": str(tmp_path), "GERBANG_SECRET_KEY": "k" * 40}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, list(args), env=env, input=stdin)

    invoke.env = env  # type: ignore[attr-defined]
    return invoke


def one_json(result) -> dict:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_opd_tree_users_and_clients_with_json(run) -> None:  # type: ignore[no-untyped-def]
    city = one_json(
        run("opd", "add", "--slug", "kota-palembang", "--name", "Kota Palembang", "--kind", "kota", "--json")
    )
    assert city["id"] and city["path"] == "/kota-palembang/"
    dinkes = one_json(
        run(
            "opd",
            "add",
            "--slug",
            "dinkes",
            "--name",
            "Dinas Kesehatan",
            "--kind",
            "dinas",
            "--parent",
            "kota-palembang",
            "--json",
        )
    )
    assert dinkes["path"] == "/kota-palembang/dinkes/"
    user = one_json(
        run(
            "users",
            "add",
            "--email",
            "Dr.Ani@Dinkes.Example.id",
            "--name",
            "dr. Ani",
            "--opd",
            "dinkes",
            "--role",
            "operator",
            "--role",
            "opd-admin",
            "--password-stdin",
            "--json",
            stdin="rahasia-dinkes-2026\n",
        )
    )
    assert user["email"] == "dr.ani@dinkes.example.id" and user["kind"] == "asn"
    listed = one_json(run("users", "list", "--json"))["users"]
    assert sorted(listed[0]["roles"]) == ["opd-admin@dinkes", "operator@dinkes"]
    client = one_json(
        run(
            "clients",
            "add",
            "--name",
            "SIMPUS",
            "--opd",
            "dinkes",
            "--redirect-uri",
            "https://simpus.palembang.go.id/cb",
            "--json",
        )
    )
    assert len(client["client_secret"]) >= 43 and client["token_endpoint_auth_method"] == "client_secret_basic"
    public = one_json(
        run("clients", "add", "--name", "Mobile", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--json")
    )
    assert public["client_secret"] is None and public["token_endpoint_auth_method"] == "none"
    tree = run("opd", "list")
    assert tree.exit_code == 0 and "  dinkes" in tree.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("opd", "add", "--slug", "Bad Slug", "--name", "x", "--kind", "dinas"), "slug"),
        (("opd", "add", "--slug", "x", "--name", "x", "--kind", "dinas", "--parent", "nowhere"), "does not exist"),
        (("users", "add", "--email", "not-an-email", "--name", "x"), "email"),
        (("users", "add", "--email", "a@b.example.id", "--name", "x", "--nik", "1234"), "NIK"),
        (("users", "add", "--email", "a@b.example.id", "--name", "x", "--role", "operator"), "OPD"),
        (("clients", "add", "--name", "x", "--redirect-uri", "http://evil.example/cb"), "https"),
        (("clients", "add", "--name", "x", "--redirect-uri", "https://a.example/cb#f"), "fragment"),
        (("clients", "add", "--name", "x", "--public", "--grant", "client_credentials"), "public"),
        (("clients", "add", "--name", "x", "--client-id", "bapenda pajak"), "client id"),
        (("clients", "add", "--name", "x", "--client-id", "-bapenda"), "client id"),
        (("clients", "add", "--name", "x", "--client-id", "b" * 65), "client id"),
    ],
)
def test_bad_input_gets_one_clear_error_and_writes_nothing(run, args, message) -> None:  # type: ignore[no-untyped-def]
    result = run(*args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and message in result.output
    assert "Traceback" not in result.output
    assert one_json(run("clients", "list", "--json"))["clients"] == []


def test_a_client_id_policies_name_can_be_chosen_once_and_never_the_hubs_own(run) -> None:  # type: ignore[no-untyped-def]
    args = (
        "clients",
        "add",
        "--name",
        "Bapenda",
        "--client-id",
        "bapenda-pajak",
        "--grant",
        "client_credentials",
        "--scope",
        "budget.read",
        "--json",
    )
    assert one_json(run(*args))["client_id"] == "bapenda-pajak"
    again = run(*args)
    assert again.exit_code == 1 and "already exists" in again.output
    hubs = run("clients", "add", "--name", "x", "--client-id", "gerbang-console")
    assert hubs.exit_code == 2 and "the hub's own" in hubs.output
    assert [c["client_id"] for c in one_json(run("clients", "list", "--json"))["clients"]] == ["bapenda-pajak"]


def test_duplicate_opd_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    args = ("opd", "add", "--slug", "dishub", "--name", "Dishub", "--kind", "dinas")
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 1 and "already exists" in again.output


def test_weak_password_from_stdin_is_refused(run) -> None:  # type: ignore[no-untyped-def]
    result = run("users", "add", "--email", "a@b.example.id", "--name", "A", "--password-stdin", stdin="short\n")
    assert result.exit_code == 1 and "at least" in result.output


def test_keys_rotate_keeps_the_old_key_verifying(run) -> None:  # type: ignore[no-untyped-def]
    first = one_json(run("keys", "rotate", "--json"))
    second = one_json(run("keys", "rotate", "--alg", "RS256", "--json"))
    assert first["kid"] != second["kid"] and second["alg"] == "RS256"
    keys = {k["kid"]: k["state"] for k in one_json(run("keys", "list", "--json"))["keys"]}
    # The first key signs at once (nothing signed before it); the next one is published before it signs.
    assert keys == {first["kid"]: "active", second["kid"]: "next (published, not signing yet)"}
    assert second["activates_at"] >= second["created_at"] + 300


def test_keys_revoke_replaces_the_active_key_and_refuses_what_it_cannot_revoke(run) -> None:  # type: ignore[no-untyped-def]
    run.env["GERBANG_KEY_ACTIVATION_DELAY"] = "0"  # rotations switch at once here: this test is about revoking
    first = one_json(run("keys", "rotate", "--json"))
    second = one_json(run("keys", "rotate", "--json"))
    retired = one_json(run("keys", "revoke", first["kid"], "--json"))  # a retired key: nothing replaces it
    assert retired == {"revoked": first["kid"], "new_kid": None}
    active = one_json(run("keys", "revoke", second["kid"], "--json"))  # the signing key: a new one first
    assert active["revoked"] == second["kid"] and active["new_kid"] not in (None, first["kid"], second["kid"])
    states = {k["kid"]: k["state"] for k in one_json(run("keys", "list", "--json"))["keys"]}
    assert states == {
        first["kid"]: "expired (verifies nothing)",
        second["kid"]: "expired (verifies nothing)",
        active["new_kid"]: "active",
    }
    again = run("keys", "revoke", second["kid"])
    assert again.exit_code == 1 and "verifies nothing already" in again.output
    unknown = run("keys", "revoke", "no-such-kid")
    assert unknown.exit_code == 1 and "no signing key" in unknown.output
    exported = run("audit", "export")
    assert exported.exit_code == 0, exported.output
    revoked = [
        (e["action"], e["target"])
        for e in map(json.loads, exported.output.splitlines())
        if e["action"] == "keys.revoke"
    ]
    assert revoked == [("keys.revoke", f"key:{first['kid']}"), ("keys.revoke", f"key:{second['kid']}")]


def test_configuration_problems_are_reported_together(tmp_path: Path) -> None:
    env = {
        "GERBANG_ISSUER": "http://gerbang.example.id",
        "GERBANG_SECRET_KEY": "short",
        "GERBANG_ACCESS_TOKEN_TTL": "5",
    }
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 2
    for expected in ("https", "secret_key", "access_token_ttl"):
        assert expected in result.output
