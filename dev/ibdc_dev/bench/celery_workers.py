"""A backfill's wall time with 1 and with 2 Celery workers, in the same run (issue 16).

For each worker count, one after the other on the same machine: an isolated Airflow with the
CeleryExecutor (``ibdc_dev.localstack.airflow_runs``: fresh warehouse ``ibdc_bench_celery_<n>``,
fresh metadata, own buckets, its own redis-server and ``n`` workers of ``--concurrency`` slots each)
backfills ``--periods`` of industrial output for all 31 provinces; the time from the backfill request
to the backfill's completion (every extract_load task; polled every second) is its wall time. The
transform run its loads trigger (dbt: one DAG run at a time, whatever the workers) is not waited for,
and the set-up (migration, start of the services) is not timed.

    .venv/bin/python -m ibdc_dev.bench.celery_workers [--workers 1,2] [--periods 2019-05,2019-06]

prints one line per count, then ``celery_2_workers_vs_1:`` (the wall-time ratio; below 1: faster).
"""

from __future__ import annotations

import argparse
import sys
import time

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import airflow_runs, stack
from ibdc_dev.localstack.processes import free_port


def run(worker_counts: list[int], periods: list[str], concurrency: int, say=print) -> dict[int, float]:
    """Wall time in seconds of the backfill of ``periods`` (its extract_load tasks, from the
    request to its completion, polled every second) for each count of ``worker_counts``."""
    settings = stack.up(say=lambda m: None)
    times = {}
    for count in worker_counts:
        workers = local_airflow.CeleryWorkers(count=count, concurrency=concurrency, redis_port=free_port())
        with airflow_runs.isolated_airflow(settings, f"bench_celery_{count}", celery=workers) as isolated:
            api, t0 = isolated.api, time.monotonic()
            created = airflow_runs.start_backfill(api, periods)
            airflow_runs.wait_for_backfill(api, created, every_s=1)
            times[count] = time.monotonic() - t0
            runs = api.get(f"/dags/{airflow_runs.EXTRACT}/dagRuns", run_type="backfill")["dag_runs"]
            failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
            if failed:
                raise RuntimeError(f"backfill runs failed with {count} workers: {failed}")
        say(
            f"celery workers={count} concurrency={concurrency}: backfill of {len(periods)} months x 31 provinces"
            f" (extract_load) in {times[count]:.0f}s"
        )
    return times


def main(argv: list[str] | None = None) -> int:
    from ibdc_dev.localstack.env import load_local_env

    parser = argparse.ArgumentParser(prog="python -m ibdc_dev.bench.celery_workers", description=__doc__)
    parser.add_argument("--workers", type=lambda v: [int(n) for n in v.split(",")], default=[1, 2])
    parser.add_argument("--periods", type=lambda v: v.split(","), default=["2019-05", "2019-06"])
    parser.add_argument("--concurrency", type=int, default=4, help="task slots per worker")
    args = parser.parse_args(argv)
    load_local_env()
    times = run(args.workers, args.periods, args.concurrency, say=lambda m: print(m, flush=True))
    if 1 in times and 2 in times:
        print(f"celery_2_workers_vs_1: {times[2] / times[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
