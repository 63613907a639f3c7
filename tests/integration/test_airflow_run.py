"""The extract DAG run by a real Airflow (``airflow dags test``, metadata on the local PostgreSQL)."""

import json

import psycopg
import pytest

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack.processes import LOG_DIR
from tests.partitions import Claim

PROVINCES = ["110000", "650000"]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim("industrial_output", PROVINCES, ["2025-09"]),
        Claim("industrial_output", ["110000", "460000"], ["2025-08"]),
        Claim("industrial_output", ["110000"], ["2025-01"]),
    ),
]


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
        ("extract_load", 0, "success"),
        ("extract_load", 1, "success"),
        ("plan", -1, "success"),
        ("wait_for_release", -1, "success"),  # September's figures were out on 17 October
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


def _run(services, logical_date: str, conf: dict, log: str) -> list[tuple]:
    """``airflow dags test`` of the output DAG; the run's state and its task instances (with notes)."""
    local_airflow.run(
        services,
        "dags",
        "test",
        "ibdc_extract_industrial_output",
        logical_date,
        "-c",
        json.dumps(conf),
        log=LOG_DIR / log,
    )
    with psycopg.connect(services.airflow_metadata) as meta:
        run_id, state = meta.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = 'ibdc_extract_industrial_output'"
            " AND logical_date = %s ORDER BY id DESC LIMIT 1",
            (logical_date,),
        ).fetchone()
        tis = meta.execute(
            "SELECT task_id, map_index, state, try_number FROM task_instance"
            " WHERE dag_id = 'ibdc_extract_industrial_output' AND run_id = %s ORDER BY 1, 2",
            (run_id,),
        ).fetchall()
    return [("run", -1, state, 0), *tis]


def test_a_month_not_released_is_skipped_in_airflow_and_changes_nothing(services, warehouse):
    """Hainan (NBS) has not released August 2025 yet (a fault for this test); Beijing has: its load
    succeeds, Hainan's ends skipped at its first try, the run succeeds, Hainan's August loaded before
    stays as it was."""
    import requests

    from ibdc import pipeline

    pipeline.load_extracted(pipeline.extract_partition("industrial_output", "460000", "2025-08"))
    query = "SELECT * FROM raw.industrial_output WHERE province_code = '460000' AND period_month = '2025-08-01'"
    before = warehouse.execute(query + " ORDER BY product_code").fetchall()
    url, headers = f"{services.sources_url}/admin/faults", {"X-Admin-Secret": services.simulator_client_secret}
    fault = {"dataset": "industrial_output", "province": "460000", "kind": "not_released", "periods": ["2025-08"]}
    requests.post(url, json=[fault], headers=headers, timeout=10).raise_for_status()
    try:
        tis = _run(services, "2025-09-01T00:00:00+00:00", {"provinces": ["110000", "460000"]}, "test-not-released.log")
    finally:
        requests.delete(url, headers=headers, timeout=10).raise_for_status()
    assert tis == [
        ("run", -1, "success", 0),
        ("extract_load", 0, "success", 1),
        ("extract_load", 1, "skipped", 1),
        ("plan", -1, "success", 1),
        ("wait_for_release", -1, "success", 1),
    ]
    assert before and warehouse.execute(query + " ORDER BY product_code").fetchall() == before
    outcome = warehouse.execute(
        "SELECT outcome FROM raw.load_audit WHERE province_code = '460000' AND period = '2025-08'"
        " ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    assert outcome == ("not_released",)


def test_january_completes_at_once_as_not_published_by_the_calendar(services, warehouse):
    tis = _run(services, "2025-02-01T00:00:00+00:00", {"provinces": ["110000"]}, "test-not-published.log")
    assert tis == [
        ("run", -1, "success", 0),
        ("extract_load", 0, "success", 1),
        ("plan", -1, "success", 1),
        ("wait_for_release", -1, "success", 1),
    ]
    assert warehouse.execute(
        "SELECT outcome, rows_loaded FROM raw.load_audit WHERE province_code = '110000' AND period = '2025-01'"
        " ORDER BY started_at DESC LIMIT 1"
    ).fetchone() == ("not_published", 0)
