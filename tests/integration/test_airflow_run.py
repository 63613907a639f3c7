"""The extract DAG run by a real Airflow (``airflow dags test``, metadata on the local PostgreSQL)."""

import json

import psycopg
import pytest

from ibdc.localstack import airflow as local_airflow
from ibdc.localstack.processes import LOG_DIR

pytestmark = pytest.mark.integration

PROVINCES = ["110000", "650000"]


@pytest.fixture(scope="module")
def dag_run(services):
    local_airflow.run(services, "db", "migrate", log=LOG_DIR / "test-airflow-db-migrate.log")
    # The tests' DAGs are paused at creation; an asset event queues runs of unpaused DAGs only.
    local_airflow.run(services, "dags", "reserialize", log=LOG_DIR / "test-airflow-reserialize.log")
    local_airflow.run(services, "dags", "unpause", "ibdc_transform_dbt", log=LOG_DIR / "test-airflow-unpause.log")
    # Logical date 2025-10-01: the monthly data interval inferred is September 2025.
    local_airflow.run(
        services,
        "dags",
        "test",
        "ibdc_extract_industrial_output",
        "2025-10-01T00:00:00+00:00",
        "-c",
        json.dumps({"provinces": PROVINCES}),
        log=LOG_DIR / "test-airflow-dags-test.log",
    )
    with psycopg.connect(services.airflow_metadata) as meta:
        return meta.execute(
            "SELECT run_id, state, data_interval_start FROM dag_run WHERE dag_id = %s"
            " AND logical_date = '2025-10-01T00:00:00+00' ORDER BY id DESC LIMIT 1",
            ("ibdc_extract_industrial_output",),
        ).fetchone()


def test_the_run_succeeds_for_the_data_interval_month(dag_run, services):
    run_id, state, start = dag_run
    assert state == "success"
    assert (start.year, start.month) == (2025, 9)
    with psycopg.connect(services.airflow_metadata) as meta:
        tis = meta.execute(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = %s AND run_id = %s ORDER BY 1, 2",
            ("ibdc_extract_industrial_output", run_id),
        ).fetchall()
    assert tis == [
        ("extract", 0, "success"),
        ("extract", 1, "success"),
        ("load", 0, "success"),
        ("load", 1, "success"),
        ("plan", -1, "success"),
    ]


def test_the_run_loads_the_selected_provinces_only(dag_run, warehouse, truth):
    loaded = dict(
        warehouse.execute(
            "SELECT province_code, count(*) FROM raw.industrial_output WHERE period_month = '2025-09-01' GROUP BY 1"
        ).fetchall()
    )
    assert loaded == {p: len(truth(p, "2025-09")["expected"]) for p in PROVINCES}


def test_the_load_updates_the_asset_and_queues_the_transform(dag_run, services):
    run_id = dag_run[0]
    with psycopg.connect(services.airflow_metadata) as meta:
        events = meta.execute(
            "SELECT count(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id"
            " WHERE a.name = 'raw.industrial_output' AND e.source_run_id = %s",
            (run_id,),
        ).fetchone()[0]
        queued = meta.execute(
            "SELECT count(*) FROM asset_dag_run_queue WHERE target_dag_id = 'ibdc_transform_dbt'"
        ).fetchone()[0]
    assert events == len(PROVINCES)
    assert queued == 1
