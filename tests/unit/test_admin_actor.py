"""Delegated administration rules, without I/O: who manages which OPD subtree and which users."""

from __future__ import annotations

import pytest

from gateway.admin.actor import Actor, check_manages, check_manages_user, check_may_submit
from gateway.errors import Forbidden

KOMINFO = Actor("k", True, (), ())
DISHUB_ADMIN = Actor("a", False, ("/kota/dishub/",), ())
OPERATOR = Actor("o", False, (), ("/kota/dishub/",))


def test_an_opd_admin_manages_their_subtree_only() -> None:
    check_manages(DISHUB_ADMIN, "/kota/dishub/")
    check_manages(DISHUB_ADMIN, "/kota/dishub/upt-parkir/")
    for outside in ("/kota/", "/kota/bpkad/", "/kota/dishub-lama/"):  # a sibling sharing a name prefix too
        with pytest.raises(Forbidden):
            check_manages(DISHUB_ADMIN, outside)


def test_an_operator_submits_for_their_own_unit_only() -> None:
    check_may_submit(OPERATOR, "/kota/dishub/")
    for other in ("/kota/dishub/upt-parkir/", "/kota/", "/kota/bpkad/"):
        with pytest.raises(Forbidden):
            check_may_submit(OPERATOR, other)
    with pytest.raises(Forbidden):
        check_manages(OPERATOR, "/kota/dishub/")


@pytest.mark.parametrize("paths", [[], ["/kota/bpkad/"], ["/kota/dishub/", "/kota/diskominfo/"]])
def test_users_with_any_role_outside_the_subtree_or_none_are_out_of_reach(paths: list[str]) -> None:
    with pytest.raises(Forbidden):
        check_manages_user(DISHUB_ADMIN, paths, "someone")


def test_nobody_changes_their_own_account_not_even_kominfo() -> None:
    check_manages_user(DISHUB_ADMIN, ["/kota/dishub/upt-parkir/"], "someone")
    check_manages_user(KOMINFO, [], "citizen")
    for actor in (KOMINFO, DISHUB_ADMIN):
        with pytest.raises(Forbidden):
            check_manages_user(actor, ["/kota/dishub/"], actor.sub)
