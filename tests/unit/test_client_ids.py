"""Client ids the hub generates: never read as a command-line option, always in the form a city file accepts."""

from __future__ import annotations

from idp.clients import CLIENT_ID, new_client_id


def test_generated_ids_start_with_a_letter_or_digit_and_fit_the_one_form() -> None:
    ids = [new_client_id() for _ in range(4000)]  # a leading '-' or '_' came 1 in 16 before: ~250 here
    assert all(value[0].isalnum() and CLIENT_ID.fullmatch(value) and len(value) == 24 for value in ids)
    assert len(set(ids)) == len(ids)


def test_the_one_form_refuses_ids_that_read_as_options() -> None:
    for value in ("bapenda-pajak", "a" * 64, "a.b_c-d", "0x"):
        assert CLIENT_ID.fullmatch(value), value
    for value in ("", "-x", "_x", ".x", "a" * 65, "a b", "a/b", "a:b", "ä"):
        assert not CLIENT_ID.fullmatch(value), value
