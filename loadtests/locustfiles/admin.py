"""Kominfo admin: log in through the login form once, then browse console pages and admin API lists.

    loadtests/run-locust.sh admin http://127.0.0.1:8000

Environment: GERBANG_LT_ADMIN_LOGIN, GERBANG_LT_ADMIN_PASSWORD (a Kominfo admin account),
GERBANG_LT_ADMIN_PATHS (comma-separated, default ``/admin/,/admin/api/apps,/admin/api/opd``).
"""

from __future__ import annotations

from locust import HttpUser, between, task
from provider import find_form, is_login_page, setting


class KominfoAdmin(HttpUser):
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.paths = [
            p.strip() for p in setting("GERBANG_LT_ADMIN_PATHS", "/admin/,/admin/api/apps,/admin/api/opd").split(",")
        ]
        self.signed_in = self._log_in()

    def _log_in(self) -> bool:
        with self.client.get(self.paths[0], name="admin → login page", catch_response=True) as page:
            form = find_form(page.url, page.text) if page.status_code == 200 else None
            if form is None or not is_login_page(page.text):
                page.failure(f"expected the login form, got {page.status_code} at {page.url}")
                return False
        fields = {
            **form.fields,
            "login": setting("GERBANG_LT_ADMIN_LOGIN"),
            "password": setting("GERBANG_LT_ADMIN_PASSWORD"),
        }
        with self.client.post(form.action, data=fields, name="admin login (POST form)", catch_response=True) as done:
            if done.status_code != 200 or is_login_page(done.text):
                done.failure(f"admin login failed: {done.status_code} at {done.url}")
                return False
        return True

    @task
    def browse(self) -> None:
        if not self.signed_in:
            self.signed_in = self._log_in()
            return
        for path in self.paths:
            with self.client.get(path, name=path, catch_response=True) as response:
                if response.status_code != 200 or is_login_page(response.text):
                    response.failure(f"{response.status_code} at {response.url}")
