"""Airflow's REST API (``/api/v2``) as the UI calls it, with a user's token (the admin's unless told):
what the end-to-end tests and the worker benchmark drive a running Airflow with."""

from __future__ import annotations

import time

import requests

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack.processes import LOG_DIR


class AirflowApi:
    """A session on the api-server at ``url`` logged in as ``username`` (the local admin by default)
    with ``password``, through the auth manager's token endpoint (FAB's ``POST /auth/token``, 201
    with the JWT); ``requests.HTTPError`` when the login is refused."""

    def __init__(self, url: str, password: str, username: str = local_airflow.ADMIN_USER) -> None:
        self.url = url
        self.session = requests.Session()
        token = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def get(self, path: str, **params) -> dict:
        resp = self.session.get(f"{self.url}/api/v2{path}", params=params, timeout=30)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, body: dict) -> dict:
        resp = self.session.post(f"{self.url}/api/v2{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def patch(self, path: str, body: dict) -> dict:
        resp = self.session.patch(f"{self.url}/api/v2{path}", json=body, timeout=30)
        assert resp.status_code < 300, resp.text
        return resp.json()

    def delete(self, path: str) -> None:
        resp = self.session.delete(f"{self.url}/api/v2{path}", timeout=30)
        assert resp.status_code < 300, resp.text

    def wait_for(self, what: str, check, timeout_s: float = 600, every_s: float = 3):
        """``check()``'s first truthy result, asked every ``every_s`` seconds; AssertionError after
        ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(every_s)
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; logs in {LOG_DIR}")

    def exists(self, path: str) -> bool:
        """Whether ``GET path`` answers (a DAG parsed, a run created...)."""
        try:
            self.get(path)
        except requests.HTTPError:
            return False
        return True
