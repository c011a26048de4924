"""1.78 million citizens by SQL: one ``INSERT … SELECT generate_series`` with one precomputed argon2id hash.

Each citizen ``i`` (1-based) signs in with a structurally valid Palembang NIK (``idp.nik``: province 16, city 71,
district, birth date DDMMYY with +40 for women, serial), computed alike here and in SQL so the load client can
pick a random citizen without reading the database.
"""

from __future__ import annotations

import time

DISTRICTS, DAYS, SEXES, MONTHS, YEARS = 18, 28, 2, 12, 66  # 798,336 citizens per serial number
FIRST_YEAR = 1940


def nik_of(index: int) -> str:
    district = 1 + index % DISTRICTS
    rest = index // DISTRICTS
    day = 1 + rest % DAYS + 40 * (rest // DAYS % SEXES)
    rest //= DAYS * SEXES
    month = 1 + rest % MONTHS
    rest //= MONTHS
    year = (FIRST_YEAR + rest % YEARS) % 100
    serial = 1 + rest // YEARS
    return f"1671{district:02d}{day:02d}{month:02d}{year:02d}{serial:04d}"


NIK_SQL = (
    "'1671' || lpad((1 + i % 18)::text, 2, '0')"
    " || lpad((1 + (i / 18) % 28 + 40 * ((i / 504) % 2))::text, 2, '0')"
    " || lpad((1 + (i / 1008) % 12)::text, 2, '0')"
    " || lpad(((1940 + (i / 12096) % 66) % 100)::text, 2, '0')"
    " || lpad((1 + i / 798336)::text, 4, '0')"
)

INSERT_CITIZENS = (
    "INSERT INTO users (id, email, name, name_key, nik, kind, password_hash, email_verified, disabled, created_at, "
    "updated_at, password_changed_at) "
    f"SELECT md5('warga-' || i)::uuid::text, 'warga' || i || '@warga.palembang.go.id', 'Warga ' || i, "
    f"'warga ' || i, {NIK_SQL}, 'citizen', $1, true, false, $2, $2, $2 "
    "FROM generate_series($3::bigint, $4::bigint) AS i"
)


async def seed_citizens(database_url: str, count: int, password_hash: str, batch: int = 250_000) -> float:
    """Insert citizens 1..count; returns the seconds it took (then ANALYZE, as after any bulk load)."""
    import asyncpg

    started = time.monotonic()
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        created = int(time.time()) - 86_400
        for first in range(1, count + 1, batch):
            await connection.execute(INSERT_CITIZENS, password_hash, created, first, min(count, first + batch - 1))
        await connection.execute("ANALYZE users")
    finally:
        await connection.close()
    return time.monotonic() - started
