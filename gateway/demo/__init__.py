"""``gerbang demo``: a seeded Palembang on the embedded default, with sample apps on loopback."""
