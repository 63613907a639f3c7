"""A running Airflow (api-server, scheduler, dag-processor, triggerer) on the tests' metadata database,
driven over its REST API with authentication, as the UI drives it."""

from __future__ import annotations

import time

import pytest
import requests

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack.processes import LOG_DIR

PREFIX = "airflow-test"


class AirflowApi:
    def __init__(self, url: str, password: str) -> None:
        self.url = url
        self.session = requests.Session()
        token = requests.post(
            f"{url}/auth/token", json={"username": local_airflow.ADMIN_USER, "password": password}, timeout=30
        )
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

    def wait_for(self, what: str, check, timeout_s: float = 600, every_s: float = 3):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(every_s)
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; logs in {LOG_DIR}")


# Package scope: the scheduler stops when the e2e tests end, before other tests use the same metadata.
@pytest.fixture(scope="package")
def airflow(services):
    local_airflow.run(services, "db", "migrate", log=LOG_DIR / "test-airflow-db-migrate.log")
    local_airflow.run(services, "dags", "reserialize", log=LOG_DIR / "test-airflow-reserialize.log")
    local_airflow.start_services(services, say=lambda m: None, prefix=PREFIX)
    try:
        api = AirflowApi(services.airflow_url, services.airflow_admin_password)
        for dag_id in ("ibdc_extract_industrial_output", "ibdc_transform_dbt"):
            api.wait_for(f"{dag_id} parsed", lambda d=dag_id: _exists(api, d), timeout_s=180)
        yield api
    finally:
        local_airflow.stop_services(prefix=PREFIX)


def _exists(api: AirflowApi, dag_id: str) -> bool:
    try:
        api.get(f"/dags/{dag_id}")
    except requests.HTTPError:
        return False
    return True
