"""The CeleryExecutor for real: Airflow with a redis-server broker and two ``airflow celery worker``
processes (``make airflow-celery``'s set-up), each reporting its own hostname.

- Two workers share a backfill of 2 months x 12 provinces (two of each source style,
  ``conftest.PROVINCES``): its task instances ran on both, and the warehouse equals the
  LocalExecutor's run of the same window (``conftest.local_executor_run``), compared on every raw and
  mart table's business columns (``warehouse.py`` lists what is excluded).
- One worker is SIGKILLed (with every process under it, as a lost machine) while it runs tasks; the
  task heartbeat timeout lowered to seconds, the scheduler fails the lost attempts, they are retried
  on the other worker, and the warehouse again equals the LocalExecutor's run.

Both run on one Celery Airflow (``conftest.celery_airflow``, started beside the LocalExecutor's),
made new between them (``airflow_runs.reset``: empty warehouse and raw zone, no run, the killed worker
restarted): starting a second costs more than a minute.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import airflow_runs
from ibdc_dev.localstack.airflow_runs import EXTRACT
from tests.e2e_celery.conftest import CONF, PERIODS, PROVINCES
from tests.e2e_celery.warehouse import differing_tables, snapshot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    # Written to the runs' own warehouses and buckets (``airflow_runs``), declared all the same.
    pytest.mark.partitions(dataset="industrial_output", provinces=PROVINCES, periods=PERIODS),
]


def _hostnames(prefix: str, count: int = 2) -> set[str]:
    return {local_airflow.worker_name(prefix, n) for n in range(1, count + 1)}


def _task_instances(api, runs: list[dict] | None = None, **params) -> list[dict]:
    """The extract DAG's task instances (of ``runs`` only, when given)."""
    found = api.get(f"/dags/{EXTRACT}/dagRuns/~/taskInstances", limit=1000, **params)["task_instances"]
    return [ti for ti in found if runs is None or ti["dag_run_id"] in {r["dag_run_id"] for r in runs}]


def _loaded(content: dict) -> set[tuple[str, str]]:
    return {(r[0], r[1].isoformat()[:7]) for r in content["raw.industrial_output"]}


@pytest.fixture
def celery_run(celery_airflow):
    """The Celery Airflow, new: an empty warehouse and raw zone, no run, both workers up. Reset once a
    test has backfilled on it (a test kills a worker only during its backfill); as started, it is new."""
    if celery_airflow.api.get(f"/dags/{EXTRACT}/dagRuns", run_type="backfill", limit=1)["total_entries"]:
        airflow_runs.reset(celery_airflow)
    return celery_airflow


def test_two_workers_share_a_backfill_and_load_what_the_local_executor_loads(celery_run, local_executor_run):
    run = celery_run
    runs = airflow_runs.backfill(run.api, PERIODS, CONF)
    assert sorted(r["data_interval_start"][:7] for r in runs) == PERIODS
    assert {r["state"] for r in runs} == {"success"}
    extracts = _task_instances(run.api, runs, task_id="extract_load")
    assert len(extracts) == len(PROVINCES) * len(PERIODS)
    hosts = {ti["hostname"] for ti in _task_instances(run.api, runs)}
    assert hosts == _hostnames(run.prefix), hosts  # on both workers, nowhere else
    # The baseline holds the whole window (the comparison is not of two empty warehouses).
    assert _loaded(local_executor_run) == {(code, period) for code in PROVINCES for period in PERIODS}
    assert differing_tables(snapshot(run.settings), local_executor_run) == []


def test_a_killed_worker_loses_nothing(celery_run, local_executor_run):
    run = celery_run
    api, lost, survivor = run.api, *sorted(_hostnames(run.prefix))
    started = datetime.now(UTC)
    backfill = airflow_runs.start_backfill(api, PERIODS, CONF)

    def running_on_lost() -> list[dict]:
        tis = _task_instances(api, state="running")
        return [ti for ti in tis if ti["hostname"] == lost and ti["task_id"] == "extract_load"]

    # Killed while two of its tasks run (a fetch and the kill race: the attempts checked below
    # are those the API still reports running on it just after).
    api.wait_for(f"two tasks running on {lost}", lambda: len(running_on_lost()) >= 2, timeout_s=300, every_s=0.5)
    local_airflow.kill_worker(run.prefix, 1)
    killed = {(ti["dag_run_id"], ti["task_id"], ti["map_index"]): ti["try_number"] for ti in running_on_lost()}
    assert killed, f"no task of {lost} was running when it was killed"

    runs = airflow_runs.await_backfill(api, backfill, started)
    assert {r["state"] for r in runs} == {"success"}
    for (run_id, task_id, map_index), try_number in killed.items():
        tries = api.get(f"/dags/{EXTRACT}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/tries")
        by_try = {t["try_number"]: t for t in tries["task_instances"]}
        assert by_try[try_number]["hostname"] == lost
        assert by_try[try_number]["state"] in ("failed", "up_for_retry"), by_try[try_number]
        last = by_try[max(by_try)]
        assert max(by_try) > try_number and last["state"] == "success" and last["hostname"] == survivor, last
    after_kill = snapshot(run.settings)
    assert differing_tables(after_kill, local_executor_run) == []
