"""Shared fixtures. Integration tests run against the real local services in their own database and
buckets (``ibdc_test``, ``ibdc-raw-test``), so a test run never touches the demo's data."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from ibdc.settings import LOCAL_DIR

# Airflow reads its configuration once per process: give the test process its own home.
os.environ["AIRFLOW_HOME"] = str(LOCAL_DIR / "airflow-test")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__COSMOS__CACHE_DIR", str(LOCAL_DIR / "cosmos-cache-test"))
os.environ.setdefault("DO_NOT_TRACK", "1")

TEST_ENV = {
    "IBDC_WAREHOUSE_DB": "ibdc_test",
    "IBDC_AIRFLOW_DB": "airflow_test",
    "IBDC_RAW_BUCKET": "ibdc-raw-test",
    "IBDC_DOCS_BUCKET": "ibdc-docs-test",
    "IBDC_AIRFLOW_PORT": "58180",  # the tests' Airflow never collides with `make airflow`
    # No scheduled run of the latest month appears on its own while the tests drive Airflow.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
}


def _point_at_test_databases() -> None:
    os.environ.update(TEST_ENV)
    dsn = os.environ.get("IBDC_WAREHOUSE_DSN")
    if dsn:  # an external warehouse: use a test database on the same server
        os.environ["IBDC_WAREHOUSE_DSN"] = urlsplit(dsn)._replace(path="/ibdc_test").geturl()


@pytest.fixture(scope="session")
def services():
    """The local stack, started when not running (idempotent); returns the settings."""
    _point_at_test_databases()
    from ibdc import governance
    from ibdc_dev.localstack import postgres, stack
    from ibdc_dev.localstack.env import load_local_env

    load_local_env()
    settings = stack.up(say=lambda m: None)
    if not settings.manages_postgres:
        postgres.create_databases(settings.warehouse, [settings.warehouse_db, settings.airflow_db])
        governance.provision_warehouse(settings)
    return settings


@pytest.fixture
def warehouse(services):
    import psycopg

    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def truth(services):
    """The simulator's ground truth for a partition, over HTTP."""
    import requests

    def get(province: str, period: str, dataset: str = "industrial_output") -> dict:
        resp = requests.get(
            f"{services.sources_url}/truth/{dataset}",
            params={"province": province, "period": period},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()

    return get


@pytest.fixture
def source_faults(services):
    """Switch simulator faults on for one test (``source_faults([...])``); all cleared afterwards."""
    import requests

    url = f"{services.sources_url}/admin/faults"
    headers = {"X-Admin-Secret": services.simulator_client_secret}

    def add(faults: list[dict]) -> None:
        requests.post(url, json=faults, headers=headers, timeout=10).raise_for_status()

    requests.delete(url, headers=headers, timeout=10).raise_for_status()
    yield add
    requests.delete(url, headers=headers, timeout=10).raise_for_status()
