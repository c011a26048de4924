import datetime as dt

import pytest

from idp.nik import NikError, parse_nik

TODAY = dt.date(2026, 11, 28)


def test_male_nik_parses_birth_date() -> None:
    nik = parse_nik("1671011203900001", TODAY)
    assert (nik.province, nik.regency, nik.district) == (16, 71, 1)
    assert nik.birth_date == dt.date(1990, 3, 12) and not nik.female


def test_female_day_has_forty_added() -> None:
    nik = parse_nik("1671015203950002", TODAY)
    assert nik.birth_date == dt.date(1995, 3, 12) and nik.female


def test_two_digit_year_in_this_century() -> None:
    assert parse_nik("1671010101100003", TODAY).birth_date.year == 2010


@pytest.mark.parametrize(
    "bad",
    [
        "167101120390000",  # 15 digits
        "16710112039000011",  # 17 digits
        "1671O11203900001",  # letter O
        "9971011203900001",  # unknown province
        "1600011203900001",  # regency 00
        "1671001203900001",  # district 00
        "1671013203900001",  # day 32
        "1671017203900001",  # female day 32
        "1671011213900001",  # month 13
        "1671011203900000",  # serial 0000
        "1671012902230001",  # 29 February 2023 does not exist
    ],
)
def test_structurally_invalid_nik_is_refused(bad: str) -> None:
    with pytest.raises(NikError):
        parse_nik(bad, TODAY)
