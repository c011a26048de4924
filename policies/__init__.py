"""Kominfo's access rules as files: validated, compiled, explained. Pure: no I/O beyond reading files."""
