"""Backfilling through the REST API the UI calls: two months for two provinces reach the marts, and
re-running the completed backfill ("all runs") leaves the warehouse identical; a `period` in the
backfill's conf (which Airflow hands to every run) does not make every run collect that month; the
mart's asset, updated by the transform, has a product listed of it published by the exchange's DAG."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from ibdc.assets import mart_asset
from ibdc.exchange.market import Market
from ibdc.exchange.models import Role
from tests.partitions import Claim

EXTRACT = "ibdc_extract_industrial_output"
TRANSFORM = "ibdc_transform_dbt"
PUBLISH = "ibdc_exchange_publish"
PROVINCES = ["110000", "440000"]
PERIODS = ["2025-04", "2025-05"]
CONF_PERIODS = ["2025-06", "2025-07"]  # the backfill whose conf names a period
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim("industrial_output", PROVINCES, PERIODS), Claim("industrial_output", ["110000"], CONF_PERIODS)
    ),
]


def _backfill(api, reprocess: str, periods: list[str] = PERIODS, conf: dict | None = None) -> list[dict]:
    """Backfill the months ``periods`` (first to last) with ``conf`` (default: the two provinces), wait
    for it and the transform it triggers; returns its runs."""
    started = datetime.now(UTC)
    backfill = api.post(
        "/backfills",
        {
            "dag_id": EXTRACT,
            "from_date": f"{periods[0]}-01T00:00:00Z",
            "to_date": f"{periods[-1]}-01T00:00:00Z",
            "dag_run_conf": conf or {"provinces": PROVINCES},
            "reprocess_behavior": reprocess,
            "max_active_runs": 2,
        },
    )
    api.wait_for("the backfill to complete", lambda: api.get(f"/backfills/{backfill['id']}")["completed_at"])
    runs = api.get(f"/dags/{EXTRACT}/dagRuns", run_type="backfill", order_by="-run_after", limit=50)["dag_runs"]
    mine = [r for r in runs if datetime.fromisoformat(r["queued_at"] or r["start_date"]) >= started]
    assert sorted(r["data_interval_start"][:7] for r in mine) == periods
    assert {r["state"] for r in mine} == {"success"}

    # The loads updated the raw asset; the scheduler runs the transform DAG on those events. Done when
    # no event waits in the transform's queue, no transform run is active, and the last one, created
    # after the backfill began, succeeded. (A DAG run's end is recorded after its last task, so the
    # transform may start a moment before the extract run is marked finished.)
    def transformed():
        queued = api.get(f"/dags/{TRANSFORM}/assets/queuedEvents")["total_entries"]
        runs = api.get(f"/dags/{TRANSFORM}/dagRuns", order_by="-run_after", limit=5)["dag_runs"]
        if queued or any(r["state"] in ("queued", "running") for r in runs):
            return False
        return runs and datetime.fromisoformat(runs[0]["run_after"]) >= started and runs[0]

    run = api.wait_for("the asset-triggered transform run", transformed)
    assert run["state"] == "success" and run["run_type"] == "asset_triggered"
    return mine


def _warehouse(conn) -> dict:
    months = [f"{p}-01" for p in PERIODS]
    return {
        "raw": conn.execute(
            "SELECT province_code, period_month, product_code, value_current_month, value_cumulative"
            " FROM raw.industrial_output WHERE period_month = ANY(%s::date[]) ORDER BY 1, 2, 3",
            (months,),
        ).fetchall(),
        "quarantine": conn.execute(
            "SELECT province_code, period, record_position, reason FROM raw.quarantine"
            " WHERE period = ANY(%s) ORDER BY 1, 2, 3",
            (PERIODS,),
        ).fetchall(),
        "mart": conn.execute(
            "SELECT province_code, period_month, product_code, output_value, output_ytd"
            " FROM marts.mart_industrial_output_monthly WHERE period_month = ANY(%s::date[]) ORDER BY 1, 2, 3",
            (months,),
        ).fetchall(),
    }


def _listed_product(services) -> str:
    """A product of Guangdong's rows of the output mart, listed before the backfill (the gate reads the
    dbt manifest, not the rows): the mart's asset, updated by the transform, has it published."""
    from tests.exchange_walk import credit_code

    with psycopg.connect(services.exchange, autocommit=True) as conn:
        market = Market(conn)
        centre, _ = market.register(credit_code(), "e2e Guangdong centre", "440000", [Role.PROVIDER], by="e2e")
        product_id = f"e2e-{uuid.uuid4().hex[:12]}"
        market.list_product(
            centre,
            product_id=product_id,
            version="1.0.0",
            mart="mart_industrial_output_monthly",
            columns=["province_code", "period_month", "product_code", "unit_code"],
            province_code="440000",
        )
    return product_id


def test_backfill_reaches_the_marts_and_a_rerun_changes_nothing(airflow, services, warehouse, truth):
    product_id = _listed_product(services)
    for dag_id in (EXTRACT, TRANSFORM, PUBLISH):
        airflow.patch(f"/dags/{dag_id}", {"is_paused": False})
    started = datetime.now(UTC)
    _backfill(airflow, reprocess="none")
    first = _warehouse(warehouse)
    # The mart's asset triggered the exchange's publication of the product listed before (issue 22): the
    # last run whose consumed (upstream) asset events hold this mart's, once no publication waits or runs. Not
    # merely a run after the backfill began: the DAG waits for any mart's asset, so another mart's event
    # starts a run that publishes that mart's products only (CI at 51ef2f4 took such a run and found no
    # publication row).
    mart = mart_asset("mart_industrial_output_monthly")

    def triggered_by_the_mart(run: dict) -> bool:
        path = f"/dags/{PUBLISH}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        return mart.uri in {e["uri"] for e in airflow.get(path)["asset_events"]}

    def publications_of_the_mart():
        # The queue first: the scheduler empties it as it creates the run that consumes its events, so
        # the runs read after an empty queue include that run (read the other way, the run may appear
        # between the two reads and an older one be taken).
        if airflow.get(f"/dags/{PUBLISH}/assets/queuedEvents")["total_entries"]:
            return []
        runs = airflow.get(f"/dags/{PUBLISH}/dagRuns", order_by="-id", limit=20)["dag_runs"]
        if any(r["state"] in ("queued", "running") for r in runs):
            return []
        return [
            r
            for r in runs
            if r["run_type"] == "asset_triggered"
            and datetime.fromisoformat(r["run_after"]) >= started
            and triggered_by_the_mart(r)
        ]

    published = airflow.wait_for("the asset-triggered publication of the mart", publications_of_the_mart)
    assert all(r["state"] == "success" for r in published), published
    rows = warehouse.execute(
        "SELECT p.rows, (SELECT count(*) FROM marts.mart_industrial_output_monthly WHERE province_code = '440000')"
        " FROM exchange.publications p WHERE p.product_id = %s ORDER BY p.published_at DESC LIMIT 1",
        (product_id,),
    ).fetchone()
    assert rows is not None and rows[0] == rows[1] > 0, rows
    # The transform's build updated the mart's asset (ibdc.assets.mart_asset), from the mart's tests' task.
    events = airflow.get("/assets/events", source_dag_id=TRANSFORM, limit=100)["asset_events"]
    assert {(e["uri"], e["source_task_id"]) for e in events} >= {(mart.uri, "dbt.mart_industrial_output_monthly.test")}
    # Nothing below reads a publication: the exchange's DAG paused again, so the rerun's and the next
    # test's transforms do not queue publications of every listed product beside their own work.
    airflow.patch(f"/dags/{PUBLISH}", {"is_paused": True})
    assert {r[0] for r in first["mart"]} == set(PROVINCES)
    for province in PROVINCES:
        for period in PERIODS:
            want = {
                e["product_code"]: (Decimal(e["current_month"]), Decimal(e["cumulative"]))
                for e in truth(province, period)["expected"]
            }
            got = {r[2]: (r[3], r[4]) for r in first["mart"] if r[0] == province and r[1].isoformat()[:7] == period}
            assert got == want, (province, period)
    _backfill(airflow, reprocess="completed")  # the UI's "all runs"
    assert _warehouse(warehouse) == first


def test_a_period_in_the_backfill_conf_does_not_make_every_run_collect_it(airflow, warehouse):
    """The UI's backfill dialog sends the form's params to every run: each run still collects its own
    month (the run of another month ignores ``period`` and says so in its plan task's log)."""
    province, periods = "110000", CONF_PERIODS
    for dag_id in (EXTRACT, TRANSFORM):
        airflow.patch(f"/dags/{dag_id}", {"is_paused": False})
    started = datetime.now(UTC)
    runs = _backfill(airflow, "completed", periods, {"provinces": [province], "period": periods[0]})
    for run in runs:
        loads = airflow.get(f"/dags/{EXTRACT}/dagRuns/{run['dag_run_id']}/taskInstances", task_id="extract_load")
        labels = [ti["rendered_map_index"] for ti in loads["task_instances"]]
        assert labels == [f"{province} {run['data_interval_start'][:7]}"], run["dag_run_id"]
    # Each month loaded once (before, both runs collected the first month); other periods are other
    # tests' business (they share the warehouse).
    loaded = warehouse.execute(
        "SELECT period, count(*) FROM raw.load_audit WHERE dataset = 'industrial_output' AND province_code = %s"
        " AND outcome = 'succeeded' AND started_at >= %s AND period = ANY(%s) GROUP BY period ORDER BY period",
        (province, started, periods),
    ).fetchall()
    assert loaded == [(period, 1) for period in periods]
