"""An isolated Airflow per run, for comparing executors and worker counts on the same window.

Each run named ``name`` gets a fresh warehouse database (``ibdc_<name>``, provisioned as
``ibdc-dev up`` provisions one), a fresh metadata database (``airflow_<name>``), its own emptied raw
and docs buckets (``ibdc-raw-<name>``, ``ibdc-docs-<name>``, created by the S3 administrator), its own
api-server port, task log folder and, with the CeleryExecutor, its own redis-server and workers; so
two runs of the same window can be compared table by table, and nothing of the demo's or the other
tests' data is touched. The services start under the pid-file prefix ``airflow-<name>`` and stop when
the ``isolated_airflow`` block ends.

``backfill`` starts a backfill over the REST API, as the UI does, and waits for it and for the
asset-triggered transform run; ``reset`` makes a running one new again for the next window (empty
warehouse and raw zone, no run of its DAGs, every service up), cheaper than starting another.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from minio import Minio
from minio.deleteobjects import DeleteObject

from ibdc import governance
from ibdc.settings import LOCAL_DIR, Settings
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import postgres, processes, seaweedfs
from ibdc_dev.localstack.airflow_api import AirflowApi
from ibdc_dev.localstack.processes import LOG_DIR

EXTRACT = "ibdc_extract_industrial_output"
TRANSFORM = "ibdc_transform_dbt"
# Runs started at once (threads of one process) prepare one at a time: the warehouse's roles are the
# cluster's (PostgreSQL fails the second of two transactions altering one role: "tuple concurrently
# updated"; governance's advisory lock is per database), and the first Airflow command writes
# AIRFLOW_HOME's configuration.
_PREPARING = threading.Lock()


@dataclass(frozen=True)
class IsolatedRun:
    """A running isolated Airflow: its ``settings`` (the run's databases, buckets, port), the
    environment its processes got over the defaults (``env``), its pid-file ``prefix`` and ``api``."""

    name: str
    settings: Settings
    env: dict[str, str]
    prefix: str
    celery: local_airflow.CeleryWorkers | None
    api: AirflowApi


def run_settings(base: Settings, name: str) -> tuple[Settings, dict[str, str]]:
    """The settings of run ``name`` (``base`` with its own databases, buckets and api-server port) and
    the ``IBDC_*`` variables that give the run's processes (workers, tasks) the same."""
    bucket = name.replace("_", "-")
    update = {
        "warehouse_db": f"ibdc_{name}",
        "airflow_db": f"airflow_{name}",
        "raw_bucket": f"ibdc-raw-{bucket}",
        "docs_bucket": f"ibdc-docs-{bucket}",
        "airflow_port": processes.free_port(),
    }
    if base.warehouse_dsn:  # an external server: the run's database beside the given one
        update["warehouse_dsn"] = urlsplit(base.warehouse_dsn)._replace(path=f"/{update['warehouse_db']}").geturl()
    settings = base.model_copy(update=update)
    env = {f"IBDC_{key.upper()}": str(value) for key, value in update.items()}
    env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] = str(LOCAL_DIR / "airflow-runs" / name / "logs")
    # Only the DAGs the run unpauses run (no scheduled run of the other datasets beside it).
    env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "True"
    return settings, env


def fresh_databases(settings: Settings, metadata: bool = True) -> None:
    """Drop and create the run's warehouse database (and its Airflow metadata database unless
    ``metadata`` is False), then provision the warehouse."""
    names = [settings.warehouse_db, *([settings.airflow_db] if metadata else [])]
    postgres.create_databases(settings.warehouse, names, fresh=True)
    governance.provision_warehouse(settings)


def fresh_data(settings: Settings, metadata: bool = True) -> None:
    """:func:`fresh_databases`, and the run's raw and docs buckets created and emptied."""
    fresh_databases(settings, metadata)
    mc = seaweedfs.admin_client(settings)
    for bucket in (settings.raw_bucket, settings.docs_bucket):
        empty_bucket(mc, bucket)


def empty_bucket(mc: Minio, bucket: str) -> None:
    """Create ``bucket`` as the pipeline's (``seaweedfs.ensure_bucket``) and delete every version in it
    (``mc``: the S3 administrator's client). RuntimeError naming the first object not deleted."""
    seaweedfs.ensure_bucket(mc, bucket)
    versions = [
        DeleteObject(o.object_name, o.version_id) for o in mc.list_objects(bucket, recursive=True, include_version=True)
    ]
    for error in mc.remove_objects(bucket, versions):
        raise RuntimeError(f"could not delete {error.name} from {bucket}: {error.message}")


def remove_bucket(mc: Minio, bucket: str) -> None:
    """Delete every version in ``bucket`` and the bucket itself, if it exists (``mc``: the S3
    administrator's client)."""
    if mc.bucket_exists(bucket):
        empty_bucket(mc, bucket)
        mc.remove_bucket(bucket)


@contextlib.contextmanager
def isolated_airflow(
    base: Settings,
    name: str,
    celery: local_airflow.CeleryWorkers | None = None,
    env: dict[str, str] | None = None,
    dags: tuple[str, ...] = (EXTRACT, TRANSFORM),
) -> Iterator[IsolatedRun]:
    """Run ``name``'s Airflow (LocalExecutor, or ``celery``) on fresh databases and buckets, with
    ``env`` over its configuration; ``dags`` parsed and unpaused when it is yielded; every process
    stopped after. ServiceError when a service does not start. Two may start at once, in threads:
    their databases are made and migrated one at a time."""
    settings, run_env = run_settings(base, name)
    run_env.update(env or {})
    prefix = f"airflow-{name}"
    with _PREPARING:
        fresh_data(settings)
        local_airflow.run(settings, "db", "migrate", log=LOG_DIR / f"{prefix}-db-migrate.log", env=run_env)
    mc = seaweedfs.admin_client(settings)
    local_airflow.run(settings, "dags", "reserialize", log=LOG_DIR / f"{prefix}-reserialize.log", env=run_env)
    try:
        local_airflow.start_services(settings, say=lambda m: None, prefix=prefix, celery=celery, env=run_env)
        api = AirflowApi(settings.airflow_url, settings.airflow_admin_password)
        for dag_id in dags:
            api.wait_for(f"{dag_id} parsed", lambda d=dag_id: api.exists(f"/dags/{d}"), timeout_s=180)
        unpause_without_scheduled_run(api, EXTRACT)
        api.patch(f"/dags/{TRANSFORM}", {"is_paused": False})  # asset-scheduled: no run of its own
        yield IsolatedRun(name, settings, run_env, prefix, celery, api)
    finally:
        local_airflow.stop_services(prefix)
        # SeaweedFS gives every bucket (a collection) volumes of its own, out of a fixed number:
        # the run's buckets are removed, or a few runs leave the shared store no room to write.
        for bucket in (settings.raw_bucket, settings.docs_bucket):
            remove_bucket(mc, bucket)


def reset(run: IsolatedRun) -> None:
    """Make ``run`` as new for another backfill: the extract DAG's backfill runs and the transform's
    runs deleted (a backfill of the same window creates them again; the failed scheduled run stays,
    see :func:`unpause_without_scheduled_run`), a fresh warehouse, emptied buckets, and every service
    it started running again (a killed worker restarted). Call it with no run active."""
    for dag_id, params in ((EXTRACT, {"run_type": "backfill"}), (TRANSFORM, {})):
        for dag_run in run.api.get(f"/dags/{dag_id}/dagRuns", limit=1000, **params)["dag_runs"]:
            run.api.delete(f"/dags/{dag_id}/dagRuns/{dag_run['dag_run_id']}")
    fresh_data(run.settings, metadata=False)
    local_airflow.start_services(run.settings, say=lambda m: None, prefix=run.prefix, celery=run.celery, env=run.env)


def unpause_without_scheduled_run(api: AirflowApi, dag_id: str) -> None:
    """Unpause ``dag_id`` without its latest interval's run (``catchup=False`` creates it at once on
    unpausing: a whole month of every province beside the run's own window). The DAG is paused again
    as soon as the run exists, before it gets past its first tasks, and the run is marked failed:
    it stays (a deleted one is created again), loads nothing and updates no asset; the next
    scheduled run is due only at the next interval's end."""
    api.patch(f"/dags/{dag_id}", {"is_paused": False})

    def scheduled():
        return api.get(f"/dags/{dag_id}/dagRuns", run_type="scheduled")["dag_runs"]

    runs = api.wait_for(f"{dag_id}'s scheduled run", scheduled, timeout_s=120, every_s=0.2)
    api.patch(f"/dags/{dag_id}", {"is_paused": True})
    for run in runs:
        api.patch(f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", {"state": "failed"})
    api.patch(f"/dags/{dag_id}", {"is_paused": False})


def start_backfill(
    api: AirflowApi,
    periods: list[str],
    conf: dict | None = None,
    max_active_runs: int = 2,
    dag_id: str = EXTRACT,
    reprocess_behavior: str = "none",
) -> dict:
    """Start a backfill of ``dag_id`` (a monthly extract DAG) over the months ``periods`` (first to
    last) with ``conf`` (default: every province), as the UI's backfill dialog does;
    ``reprocess_behavior`` for months that ran before (``none``, ``failed`` or ``completed``).
    Returns the backfill."""
    return api.post(
        "/backfills",
        {
            "dag_id": dag_id,
            "from_date": f"{periods[0]}-01T00:00:00Z",
            "to_date": f"{periods[-1]}-01T00:00:00Z",
            "dag_run_conf": conf or {},
            "reprocess_behavior": reprocess_behavior,
            "max_active_runs": max_active_runs,
        },
    )


def wait_for_backfill(api: AirflowApi, backfill: dict, timeout_s: float = 900, every_s: float = 3) -> None:
    """Wait until ``backfill`` completed (every run of it ended), asking every ``every_s`` seconds."""
    api.wait_for(
        "the backfill to complete", lambda: api.get(f"/backfills/{backfill['id']}")["completed_at"], timeout_s, every_s
    )


def loads_under_way(api: AirflowApi, dag_ids: list[str]) -> int:
    """What the transform's ``loads_settled`` asks through the Task SDK
    (:func:`ibdc.orchestration.loads_under_way`), asked of the REST API: the extract DAGs' (``dag_ids``)
    runs queued or running, less those waiting for their source's release."""
    from ibdc.orchestration import ACTIVE_RUN_STATES, RELEASE_WAIT

    task_id, state = RELEASE_WAIT
    runs = sum(api.get(f"/dags/{d}/dagRuns", state=list(ACTIVE_RUN_STATES), limit=1)["total_entries"] for d in dag_ids)
    body = {"dag_ids": dag_ids, "task_ids": [task_id], "state": [state], "page_limit": 1}
    return runs - api.post("/dags/~/dagRuns/~/taskInstances/list", body)["total_entries"]


def no_active_backfill(api: AirflowApi, dag_id: str, timeout_s: float = 120) -> None:
    """Airflow allows one active backfill per DAG, and marks one complete only in a periodic check
    (every 30 s) after its runs ended: cancel any of ``dag_id``'s not marked complete, and wait until
    each is."""
    for backfill in api.get("/backfills", dag_id=dag_id)["backfills"]:
        if not backfill["completed_at"]:
            api.session.put(f"{api.url}/api/v2/backfills/{backfill['id']}/cancel", timeout=30)
    api.wait_for(
        f"{dag_id}'s earlier backfills to end",
        lambda: all(b["completed_at"] for b in api.get("/backfills", dag_id=dag_id)["backfills"]),
        timeout_s=timeout_s,
        every_s=1,
    )


def await_transform(api: AirflowApi, started: datetime, timeout_s: float = 900, every_s: float = 3) -> dict:
    """Wait for the asset-triggered transform runs after ``started`` to end; returns the last one.
    AssertionError when it times out or the last run failed.

    Done when no asset event waits in the transform's queue, no transform run is active, and the
    last one, created after ``started``, ended (its end is recorded after the extract's last task, so
    the transform may start a moment before the extract run is marked finished)."""

    def transformed():
        queued = api.get(f"/dags/{TRANSFORM}/assets/queuedEvents")["total_entries"]
        last = api.get(f"/dags/{TRANSFORM}/dagRuns", order_by="-run_after", limit=5)["dag_runs"]
        if queued or any(r["state"] in ("queued", "running") for r in last):
            return None
        return last and datetime.fromisoformat(last[0]["run_after"]) >= started and last[0]

    transform = api.wait_for("the asset-triggered transform run", transformed, timeout_s, every_s)
    assert transform["state"] == "success", transform
    return transform


def await_backfill(api: AirflowApi, backfill: dict, started: datetime, timeout_s: float = 900) -> list[dict]:
    """Wait for ``backfill`` (started at ``started``) and the transform run its loads trigger; returns
    the backfill's extract runs. AssertionError when it times out or the transform run fails."""
    wait_for_backfill(api, backfill, timeout_s)
    runs = api.get(f"/dags/{EXTRACT}/dagRuns", run_type="backfill", limit=100)["dag_runs"]
    # No load of another run may still be under way (the scheduled run failed at unpausing stops).
    api.wait_for(
        "no extract run active", lambda: not api.get(f"/dags/{EXTRACT}/dagRuns", state="running")["total_entries"]
    )
    await_transform(api, started, timeout_s)
    return runs


def backfill(api: AirflowApi, periods: list[str], conf: dict | None = None) -> list[dict]:
    """Backfill ``periods`` and wait for it and its transform; returns its extract runs."""
    started = datetime.now(UTC)
    return await_backfill(api, start_backfill(api, periods, conf), started)
