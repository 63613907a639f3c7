"""A running Airflow (api-server, scheduler, dag-processor, triggerer) on the tests' metadata database,
driven over its REST API with authentication, as the UI drives it."""

from __future__ import annotations

import pytest

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import postgres
from ibdc_dev.localstack.airflow_api import AirflowApi
from ibdc_dev.localstack.processes import LOG_DIR

PREFIX = "airflow-test"


# Package scope: the scheduler stops when the e2e tests end, before other tests use the same metadata.
@pytest.fixture(scope="package")
def airflow(services):
    # A metadata database of its own each time: runs of an earlier `make test` (a backfill's months
    # already run) would change what these tests' backfills do.
    postgres.create_databases(services.warehouse, [services.airflow_db], fresh=True)
    local_airflow.run(services, "db", "migrate", log=LOG_DIR / "test-airflow-db-migrate.log")
    local_airflow.run(services, "dags", "reserialize", log=LOG_DIR / "test-airflow-reserialize.log")
    local_airflow.start_services(services, say=lambda m: None, prefix=PREFIX)
    try:
        api = AirflowApi(services.airflow_url, services.airflow_admin_password)
        for dag_id in ("ibdc_extract_industrial_output", "ibdc_transform_dbt"):
            api.wait_for(f"{dag_id} parsed", lambda d=dag_id: api.exists(f"/dags/{d}"), timeout_s=180)
        yield api
    finally:
        local_airflow.stop_services(prefix=PREFIX)
