"""Configuration as code: the city's OPD tree, clients, apps, staff roles and Kominfo admins as YAML files.

``document`` reads and checks the files, ``state`` reads the database into the same shape (``gerbang export``),
``plan`` compares the two and ``apply_plan`` carries a plan out in one audited transaction (``gerbang apply``).
"""
