"""OPD integrations: a machine client gets a token by client_credentials, then calls an API app with it.

    loadtests/run-locust.sh opd_integration http://127.0.0.1:8000

Environment: GERBANG_LT_CLIENT_ID, GERBANG_LT_CLIENT_SECRET (a client registered with
``--grant client_credentials --resource https://{slug}.{apps domain}/``), GERBANG_LT_API_APP (slug, default
``ebudgeting``), GERBANG_LT_API_PATHS (comma-separated paths under the app, default ``/``),
GERBANG_LT_RESOURCE (default the app's origin + ``/``), GERBANG_LT_SCOPE (default empty),
GERBANG_LT_APPS_DOMAIN (default as Gerbang derives it).
"""

from __future__ import annotations

import itertools

from locust import HttpUser, between, task
from provider import AccessToken, app_origin, fetch_client_credentials_token, load_discovery, setting

WAIT = [float(part) for part in setting("GERBANG_LT_WAIT", "0.1,0.5").split(",")]


class OpdIntegration(HttpUser):
    wait_time = between(WAIT[0], WAIT[-1])

    def on_start(self) -> None:
        self.slug = setting("GERBANG_LT_API_APP", "ebudgeting")
        self.origin = app_origin(self.host, self.slug)
        self.resource = setting("GERBANG_LT_RESOURCE", f"{self.origin}/")
        self.paths = itertools.cycle(p.strip() for p in setting("GERBANG_LT_API_PATHS", "/").split(","))
        self.token_endpoint = load_discovery(self.client)["token_endpoint"]
        self.token: AccessToken | None = None

    def _fresh_token(self) -> AccessToken | None:
        if self.token is None or not self.token.is_fresh():
            self.token = fetch_client_credentials_token(
                self.client,
                self.token_endpoint,
                setting("GERBANG_LT_CLIENT_ID"),
                setting("GERBANG_LT_CLIENT_SECRET"),
                self.resource,
                setting("GERBANG_LT_SCOPE", ""),
            )
        return self.token

    @task
    def call_api(self) -> None:
        token = self._fresh_token()
        if token is None:
            return
        path = next(self.paths).lstrip("/")
        with self.client.get(
            f"{self.origin}/{path}",
            headers={"Authorization": f"Bearer {token.value}"},
            name=f"{self.slug}: /[path]",
            catch_response=True,
        ) as response:
            if response.status_code == 401:
                self.token = None  # expired or revoked: ask again next time
                response.failure("401 with a fresh token")
            elif response.status_code == 429:
                response.failure("429 rate limited")
            elif response.status_code >= 400:
                response.failure(f"{response.status_code}")
