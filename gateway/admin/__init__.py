"""Kominfo's admin API under ``/admin/api/``: the registration workflow and delegated administration."""
