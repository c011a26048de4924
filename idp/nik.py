"""NIK (Nomor Induk Kependudukan) structure check: 16 digits, PP KK CC DDMMYY SSSS.

Province (PP), regency/city (KK) and district (CC) codes must be plausible Kemendagri codes;
the birth date is DDMMYY with 40 added to the day for women; the serial is never 0000.
Structure only: whether a NIK is issued is for Dukcapil to say, not us.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# Kemendagri province codes (Permendagri 72/2019 and the 2022 Papua provinces).
PROVINCES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        21,
        31,
        32,
        33,
        34,
        35,
        36,
        51,
        52,
        53,
        61,
        62,
        63,
        64,
        65,
        71,
        72,
        73,
        74,
        75,
        76,
        81,
        82,
        91,
        92,
        93,
        94,
        95,
        96,
        97,
    }
)


class NikError(ValueError):
    """The NIK is not structurally valid; the message is safe to show to the citizen."""


@dataclass(frozen=True)
class Nik:
    value: str
    province: int
    regency: int
    district: int
    birth_date: dt.date
    female: bool
    serial: int


def parse_nik(raw: str, today: dt.date | None = None) -> Nik:
    value = raw.strip().replace(" ", "")
    if len(value) != 16 or not value.isascii() or not value.isdigit():
        raise NikError("NIK harus 16 digit angka")
    province, regency, district = int(value[0:2]), int(value[2:4]), int(value[4:6])
    if province not in PROVINCES:
        raise NikError("kode provinsi pada NIK tidak dikenal")
    if regency == 0 or district == 0:
        raise NikError("kode kabupaten/kota atau kecamatan pada NIK tidak valid")
    day, month, year2 = int(value[6:8]), int(value[8:10]), int(value[10:12])
    female = day > 40
    if female:
        day -= 40
    today = today or dt.date.today()
    century = 2000 if 2000 + year2 <= today.year else 1900
    try:
        birth = dt.date(century + year2, month, day)
    except ValueError as exc:
        raise NikError("tanggal lahir pada NIK tidak valid") from exc
    if birth > today:
        raise NikError("tanggal lahir pada NIK tidak valid")
    serial = int(value[12:16])
    if serial == 0:
        raise NikError("nomor urut pada NIK tidak valid")
    return Nik(value, province, regency, district, birth, female, serial)
