"""gateway.paths: one normal form, ambiguous paths refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.paths import build_policy_path, check_app_path, normalise_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/", "/"),
        (b"/apps/parkir/tiket/1", "/apps/parkir/tiket/1"),
        (b"/apps/parkir/", "/apps/parkir/"),
        (b"/apps//parkir///x", "/apps/parkir/x"),
        (b"/apps/./parkir/./x/.", "/apps/parkir/x/"),
        (b"/apps/%70arkir/%7Ex", "/apps/parkir/~x"),
        (b"/apps/p/a%20b", "/apps/p/a%20b"),
        (b"/apps/p/a%3fb", "/apps/p/a%3Fb"),
        (b"/apps/p/caf%C3%A9", "/apps/p/caf%C3%A9"),
        (b"/apps/p/x;v=1", "/apps/p/x;v=1"),
        (b"/apps/p/%2e/x", "/apps/p/x"),
        (b"//", "/"),
    ],
)
def test_normal_form(raw: bytes, expected: str) -> None:
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    "ambiguous_path",
    [
        b"/apps/p/../admin",
        b"/apps/p/..",
        b"/apps/p/%2e%2e/admin",
        b"/apps/p/%2E./x",
        b"/apps/p/.%2e",
        b"/apps/p/..;/admin",
        b"/apps/p%2fadmin",
        b"/apps/p%2Fx",
        b"/apps/p%5cx",
        b"/apps/p%00",
        b"/apps/p%0a",
        b"/apps/p\\x",
        b"/apps/p/\x00",
        b"/apps/p/\x7f",
        b"/apps/p/a b",
        b"/apps/p/\xc3\xa9",
        b"/apps/p/%zz",
        b"/apps/p/%4",
        b"http://evil.example/apps/p/",
        b"*",
        b"apps/p",
        b"/apps/p#frag",
        b"/apps/p/%C0%AE%C0%AE/x",
        b"/apps/p/%C0%AF",
        b"/apps/p/%E0%80%AE",
        b"/apps/p/%C3",
        b"/apps/p/%C3x",
        b"/apps/p/%FF",
        b"/apps/p/%ED%A0%80",
        b"/apps/p/%F8%88%80%80%80",
    ],
)
def test_ambiguous_path_is_refused(ambiguous_path: bytes) -> None:
    with pytest.raises(BadRequest):
        normalise_path(ambiguous_path)


SEGMENT = st.text(alphabet=st.sampled_from("abcXYZ019-_~.%2fe"), max_size=6)


@given(st.lists(SEGMENT, max_size=6), st.booleans())
def test_normal_form_is_stable_and_has_no_dot_segments(segments: list[str], trailing: bool) -> None:
    raw = ("/" + "/".join(segments) + ("/" if trailing else "")).encode()
    try:
        once = normalise_path(raw)
    except BadRequest:
        return
    assert normalise_path(once.encode()) == once
    assert once.startswith("/")
    assert "//" not in once
    parts = once.split("/")
    assert "." not in parts and ".." not in parts
    assert "%2F" not in once.upper() and "%5C" not in once.upper()


@pytest.mark.parametrize(
    "ambiguous_for_the_app",
    [
        "/admin;x",
        "/a;b/admin",
        "/;/admin",
        "/adm%2569n",
        "/%252e%252e/x",
        "/admin.",
        "/admin./x",
        "/admin...",
        "/admin%20",
        "/admin%20/x",
    ],
)
def test_paths_an_app_server_may_read_differently_are_refused_unless_the_app_opts_in(
    ambiguous_for_the_app: str,
) -> None:
    with pytest.raises(BadRequest):
        check_app_path(ambiguous_for_the_app)
    check_app_path(ambiguous_for_the_app, allow_ambiguous=True)


@pytest.mark.parametrize(
    "plain", ["/", "/admin", "/a%20b", "/file.tar.gz", "/100%25", "/%25zz", "/.well-known/x", "/caf%C3%A9"]
)
def test_plain_paths_pass_the_app_check(plain: str) -> None:
    check_app_path(plain)


def test_policies_read_path_parameters_as_the_app_server_does() -> None:
    assert build_policy_path("/admin;jsessionid=1/users", allow_ambiguous=True) == "/admin/users"
    assert build_policy_path("/admin;x", allow_ambiguous=False) == "/admin;x"  # refused before it matters
