"""Citizen journey: log in once through the login form, open three city apps (single sign-on), log out.

    loadtests/run-locust.sh citizen http://127.0.0.1:8000

Environment: GERBANG_LT_APPS (three app slugs, default ``parkir,cctv,ebudgeting``; each is opened at its own
origin, see ``provider.app_origin`` and GERBANG_LT_APPS_DOMAIN), and either
GERBANG_LT_USERS_FILE (CSV lines ``login,password``; login is an email or a NIK) or
GERBANG_LT_LOGIN + GERBANG_LT_PASSWORD. GERBANG_LT_WAIT = "min,max" think time in seconds.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

from locust import HttpUser, between, task
from provider import app_origin, find_form, is_login_page, load_discovery, setting

APP_BYTES = 64 * 1024  # a streaming app (CCTV) never ends: read the first bytes, then hang up


def _accounts() -> list[tuple[str, str]]:
    users_file = setting("GERBANG_LT_USERS_FILE", "")
    if users_file:
        with Path(users_file).open(newline="", encoding="utf-8") as handle:
            return [(row[0].strip(), row[1]) for row in csv.reader(handle) if len(row) >= 2 and row[0].strip()]
    return [(setting("GERBANG_LT_LOGIN"), setting("GERBANG_LT_PASSWORD"))]


ACCOUNTS = itertools.cycle(_accounts())
WAIT = [float(part) for part in setting("GERBANG_LT_WAIT", "1,3").split(",")]


class Citizen(HttpUser):
    wait_time = between(WAIT[0], WAIT[-1])

    def on_start(self) -> None:
        self.login, self.password = next(ACCOUNTS)
        self.apps = [slug.strip() for slug in setting("GERBANG_LT_APPS", "parkir,cctv,ebudgeting").split(",")]
        self.end_session = load_discovery(self.client).get("end_session_endpoint")

    @task
    def journey(self) -> None:
        self.client.cookies.clear()
        first, *others = self.apps
        if not self._log_in_through(first):
            return
        for slug in others:
            self._open(slug, expect_login=False)
        self._log_out()

    def _log_in_through(self, slug: str) -> bool:
        """Opening the first app lands on the login form; posting it lands back on the app."""
        with self.client.get(
            f"{app_origin(self.host, slug)}/", name="[first app]/ → login page", catch_response=True
        ) as page:
            form = find_form(page.url, page.text) if page.status_code == 200 else None
            if form is None or not is_login_page(page.text):
                page.failure(f"expected the login form, got {page.status_code} at {page.url}")
                return False
        fields = {**form.fields, "login": self.login, "password": self.password}
        with self.client.post(form.action, data=fields, name="login (POST form)", catch_response=True) as done:
            if done.status_code != 200 or is_login_page(done.text):
                done.failure(f"login did not reach the app: {done.status_code} at {done.url}")
                return False
        return True

    def _open(self, slug: str, expect_login: bool) -> None:
        name = "[app]/ (signed in)" if not expect_login else "[app]/ (after logout)"
        with self.client.get(
            f"{app_origin(self.host, slug)}/", name=name, stream=True, catch_response=True
        ) as response:
            head = response.raw.read(APP_BYTES, decode_content=True).decode(errors="replace")
            if response.status_code != 200:
                response.failure(f"{slug} answered {response.status_code}")
            elif is_login_page(head) != expect_login:
                response.failure(f"{slug}: {'no ' if expect_login else ''}login page (single sign-on broken?)")

    def _log_out(self) -> None:
        if not self.end_session:
            return
        with self.client.get(self.end_session, name="logout", catch_response=True) as page:
            form = find_form(page.url, page.text) if page.status_code == 200 else None
            if page.status_code >= 400:
                page.failure(f"logout answered {page.status_code}")
                return
        if form is not None:  # a confirmation page (OpenID Connect RP-Initiated Logout §2)
            self.client.post(form.action, data=form.fields, name="logout (confirm)")
        self._open(self.apps[0], expect_login=True)
