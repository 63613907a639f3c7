"""Airflow's cost over the work it orchestrates (issue 19): two ratios of medians over rounds.

``backfill_year_vs_direct``: a backfill of ``months`` of industrial output (default: the 12 months
of 2025) x 31 provinces, requested over the REST API as the UI's backfill dialog requests it (max
active runs 3, the DAG's own), on an isolated Airflow (:mod:`ibdc_dev.localstack.airflow_runs`:
LocalExecutor, fresh warehouse, metadata and buckets, the local stack's Airflow settings); timed
from the request to the end of the last dbt task of the asset-triggered transform that built its
loads (Airflow's own timestamps; its docs, generated after, printed apart).
Against: the same partitions extracted and loaded by the pipeline functions one after the other in
one process (:func:`ibdc.pipeline.extract_partition`, :func:`~ibdc.pipeline.load_extracted`; the
issue's baseline: Airflow runs 6 at once, so the ratio of busy core-seconds is printed too), then
one ``dbt build`` of the project, on a fresh warehouse and raw bucket of their own. Also printed:
the whole machine's busy core-seconds (``/proc/stat``) per task instance run.

``transform_vs_dbt_build``: after the backfill, a manual run of the transform DAG (every period),
timed from the run's start to the end of its last dbt task (the wait for loads, the audit read,
the producer's ``dbt build`` and every node's task), against one ``dbt build`` of the same project,
vars and warehouse run directly just after. Docs generation is timed and printed apart; the DAG
runs no source freshness.

The set-up (migration, the services' start, fresh databases between rounds) is not timed.

    .venv/bin/python -m ibdc_dev.bench.orchestration [--months 2025-01,...] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ibdc.periods import add_months
from ibdc.settings import Settings
from ibdc_dev.localstack import airflow_runs, seaweedfs, stack

DIRECT = "bench_direct"
PLATFORM = "bench_airflow"
YEAR = [add_months("2025-01", n) for n in range(12)]
DATASET = "industrial_output"
BACKFILL_MAX_ACTIVE_RUNS = 3  # the extract DAG's max_active_runs
FULL_BUILD_VARS = json.dumps({"ibdc_loaded_periods": {}})  # what a manual transform run hands dbt


def busy_core_seconds() -> float:
    """Core-seconds the machine has spent busy since boot (``/proc/stat``: user, nice, system, irq,
    softirq, steal), every process included: the services the work reaches as well as Airflow."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Round:
    """One round's figures, in seconds (core-seconds for ``core_s``)."""

    direct_load_s: float  # extract + load of every partition, in one process
    direct_build_s: float  # one dbt build after them
    direct_core_s: float  # the machine's busy core-seconds during both (set-up of the fresh warehouse too)
    backfill_s: float  # request -> end of the last dbt task of the transform that built the loads
    backfill_docs_s: float  # that transform's docs generation and publishing, after dbt, apart
    core_s: float  # the machine's busy core-seconds from the request to the transform's end
    task_instances: int  # task instances run by the backfill and its transform runs
    transform_dbt_s: float  # manual transform run: start -> end of its last dbt task
    transform_docs_s: float  # its docs generation and publishing, apart
    transform_run_s: float  # the whole run
    dbt_build_s: float  # one dbt build of the same project, vars and warehouse, directly

    @property
    def direct_s(self) -> float:
        return self.direct_load_s + self.direct_build_s


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def dbt_build(env: dict[str, str], vars_json: str = FULL_BUILD_VARS) -> float:
    """Wall seconds of one ``dbt build`` (the dbt CLI in a subprocess, as cosmos' producer runs it)
    of the project with ``vars_json``, on the warehouse the ``IBDC_*`` variables of ``env`` name.
    RuntimeError with dbt's output when it fails."""
    from ibdc.transform.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR

    code = "from ibdc.settings import get_settings; import json; print(json.dumps(get_settings().dbt_env()))"
    child = {**os.environ, **env}
    dbt_env = json.loads(
        subprocess.run([sys.executable, "-c", code], env=child, capture_output=True, text=True, check=True).stdout
    )
    argv = [
        str(DBT_EXECUTABLE),
        "build",
        "--vars",
        vars_json,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    t0 = time.monotonic()
    done = subprocess.run(argv, env={**child, **dbt_env}, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    seconds = time.monotonic() - t0
    if done.returncode:
        raise RuntimeError(f"dbt build failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return seconds


def direct_work(base: Settings, months: list[str]) -> tuple[float, float]:
    """(extract+load seconds, dbt build seconds) of ``months`` x 31 provinces done directly, on a
    fresh warehouse and raw bucket (run ``bench_direct``); the extract and load in a child process
    that reads those settings from its environment, as a task does."""
    settings, env = airflow_runs.run_settings(base, DIRECT)
    airflow_runs.fresh_data(settings, metadata=False)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ibdc_dev.bench.orchestration", "--direct-load", ",".join(months)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"the direct extract and load failed:\n{done.stderr[-3000:]}")
        load_s = float(done.stdout.strip().splitlines()[-1])
        return load_s, dbt_build(env)
    finally:
        mc = seaweedfs.admin_client(settings)
        for bucket in (settings.raw_bucket, settings.docs_bucket):
            airflow_runs.remove_bucket(mc, bucket)


def _direct_load(months: list[str]) -> float:
    """In the child: extract and load every province of ``months``, one partition after the other."""
    from ibdc import pipeline
    from ibdc.reference import provinces

    t0 = time.monotonic()
    for period in months:
        for code in provinces():
            pipeline.load_extracted(pipeline.extract_partition(DATASET, code, period), False)
    return time.monotonic() - t0


def _task_instances(api, since: datetime) -> list[dict]:
    """Every task instance of every DAG that started at or after ``since`` (paged: the API gives 100 at most)."""
    tis: list[dict] = []
    while True:
        page = api.get("/dags/~/dagRuns/~/taskInstances", start_date_gte=since.isoformat(), limit=100, offset=len(tis))[
            "task_instances"
        ]
        tis += page
        if len(page) < 100:
            return tis


def platform_backfill(run: airflow_runs.IsolatedRun, months: list[str]) -> tuple[float, float, int, float]:
    """(seconds, busy core-seconds, task instances run, docs seconds) of a backfill of ``months`` and
    the transform it triggers, on ``run``: from the request to the end of the last dbt task of the
    transform runs after it (the docs' generation, after dbt, returned apart). AssertionError when a
    run fails."""
    api = run.api
    airflow_runs.no_active_backfill(api, airflow_runs.EXTRACT)  # the last round's, not yet marked complete
    started, c0 = datetime.now(UTC), busy_core_seconds()
    airflow_runs.start_backfill(api, months, max_active_runs=BACKFILL_MAX_ACTIVE_RUNS)
    api.wait_for("the loads to settle", lambda: not airflow_runs.loads_under_way(api, [airflow_runs.EXTRACT]), 3600, 1)
    airflow_runs.await_transform(api, started, timeout_s=3600, every_s=1)
    core_s = busy_core_seconds() - c0
    extract_runs = api.get(f"/dags/{airflow_runs.EXTRACT}/dagRuns", run_type="backfill", limit=100)["dag_runs"]
    failed = [r["dag_run_id"] for r in extract_runs if r["state"] != "success"]
    assert len(extract_runs) == len(months) and not failed, f"backfill runs failed: {failed}"
    tis = _task_instances(api, started)
    transform = [t for t in tis if t["dag_id"] == airflow_runs.TRANSFORM and t["end_date"]]
    dbt_end = max(t["end_date"] for t in transform if t["task_id"].startswith("dbt."))
    docs = sum(_seconds(t["start_date"], t["end_date"]) for t in transform if t["task_id"] == "publish_docs")
    ran = [t for t in tis if t["state"] in ("success", "failed", "up_for_retry")]
    return _seconds(started.isoformat(), dbt_end), core_s, len(ran), docs


def manual_transform(run: airflow_runs.IsolatedRun) -> tuple[float, float, float]:
    """(dbt work, docs, whole run) seconds of a manual transform run (every period) on ``run``."""
    api = run.api
    created = api.post(f"/dags/{airflow_runs.TRANSFORM}/dagRuns", {"logical_date": None})
    path = f"/dags/{airflow_runs.TRANSFORM}/dagRuns/{created['dag_run_id']}"
    dag_run = api.wait_for(
        "the manual transform run", lambda: (r := api.get(path))["state"] in ("success", "failed") and r, 1800, 1
    )
    assert dag_run["state"] == "success", dag_run
    tis = api.get(f"{path}/taskInstances", limit=100)["task_instances"]
    assert len(tis) < 100, "the transform has grown past one page of task instances"
    dbt_end = max(t["end_date"] for t in tis if t["task_id"].startswith("dbt."))
    docs = next(t for t in tis if t["task_id"] == "publish_docs")
    return (
        _seconds(dag_run["start_date"], dbt_end),
        _seconds(docs["start_date"], docs["end_date"]),
        _seconds(dag_run["start_date"], dag_run["end_date"]),
    )


def run(months: list[str], rounds: int = 3, say=print) -> list[Round]:
    """``rounds`` rounds of: the direct work, the backfill through Airflow, a manual transform run and
    a direct ``dbt build``. ServiceError when a service does not start."""
    base = stack.up(say=lambda m: None)
    results: list[Round] = []
    with airflow_runs.isolated_airflow(base, PLATFORM) as isolated:
        for n in range(1, rounds + 1):
            if n > 1:
                airflow_runs.reset(isolated)
            c0 = busy_core_seconds()
            load_s, build_s = direct_work(base, months)
            direct_core_s = busy_core_seconds() - c0
            backfill_s, core_s, tis, backfill_docs_s = platform_backfill(isolated, months)
            dbt_s, docs_s, run_s = manual_transform(isolated)
            results.append(
                Round(
                    load_s,
                    build_s,
                    direct_core_s,
                    backfill_s,
                    backfill_docs_s,
                    core_s,
                    tis,
                    dbt_s,
                    docs_s,
                    run_s,
                    dbt_build(isolated.env),
                )
            )
            r = results[-1]
            say(
                f"orchestration round {n}: {len(months)} months x 31 provinces: directly {r.direct_load_s:.1f}s"
                f" + dbt build {r.direct_build_s:.1f}s ({r.direct_core_s:.0f} core-s); backfill through Airflow to"
                f" its transform's dbt end {r.backfill_s:.1f}s ({r.task_instances} task instances, {r.core_s:.0f}"
                f" core-s; docs after it {r.backfill_docs_s:.1f}s); manual transform: dbt work {r.transform_dbt_s:.1f}s"
                f" (docs {r.transform_docs_s:.1f}s apart, whole run {r.transform_run_s:.1f}s), dbt build directly"
                f" {r.dbt_build_s:.1f}s"
            )
    return results


def _spread(values: list[float], unit: str = "s", digits: int = 1) -> str:
    median, low, high = (f"{v:.{digits}f}" for v in (statistics.median(values), min(values), max(values)))
    return f"median {median}{unit} (min-max {low}-{high})"


def report(results: list[Round], say=print) -> None:
    """The medians with their spread, then the two ratios (of medians) and their per-round range."""
    backfill = [r.backfill_s for r in results]
    direct = [r.direct_s for r in results]
    per_ti = [r.core_s / r.task_instances for r in results]
    dag_dbt = [r.transform_dbt_s for r in results]
    dbt = [r.dbt_build_s for r in results]
    say(f"backfill through Airflow (request -> transform built): {_spread(backfill)}")
    say(f"the same work directly (extract+load, then dbt build): {_spread(direct)}")
    say(f"core-seconds per task instance (whole machine): {_spread(per_ti, ' core-s', 2)}")
    core = [r.core_s / r.direct_core_s for r in results]
    say(f"busy core-seconds, backfill through Airflow over the direct work: {_spread(core, 'x', 2)}")
    say(
        f"transform DAG's dbt work: {_spread(dag_dbt)}; dbt build directly: {_spread(dbt)};"
        f" docs apart: {_spread([r.transform_docs_s for r in results])}"
    )
    rounds = ", ".join(f"{b / d:.2f}" for b, d in zip(backfill, direct, strict=True))
    say(f"backfill_year_vs_direct: {statistics.median(backfill) / statistics.median(direct):.2f} (rounds: {rounds})")
    rounds = ", ".join(f"{a / b:.2f}" for a, b in zip(dag_dbt, dbt, strict=True))
    say(f"transform_vs_dbt_build: {statistics.median(dag_dbt) / statistics.median(dbt):.2f} (rounds: {rounds})")


def main(argv: list[str] | None = None) -> int:
    from ibdc_dev.localstack.env import load_local_env

    parser = argparse.ArgumentParser(prog="python -m ibdc_dev.bench.orchestration", description=__doc__)
    parser.add_argument("--months", type=lambda v: v.split(","), default=YEAR, help="months backfilled (YYYY-MM,...)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--direct-load", type=lambda v: v.split(","), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.direct_load:  # the child of direct_work: its settings come from the environment
        print(_direct_load(args.direct_load))
        return 0
    load_local_env()
    say = lambda m: print(m, flush=True)  # noqa: E731
    report(run(args.months, args.rounds, say=say), say=say)
    return 0


if __name__ == "__main__":
    sys.exit(main())
