"""A backfill's wall time with 1 and with 2 Celery workers, in the same run (issue 16).

For each worker count, one after the other on the same machine: an isolated Airflow with the
CeleryExecutor (``ibdc_dev.localstack.airflow_runs``: fresh warehouse ``ibdc_bench_celery_<n>``,
fresh metadata, own buckets, its own redis-server and ``n`` workers of ``--concurrency`` slots each)
backfills ``--periods`` of industrial output for all 31 provinces, ``--rounds`` times (made new
between rounds: ``airflow_runs.reset``); the time from the backfill request to the backfill's
completion (every extract_load task; polled every second) is a round's wall time. The transform
runs the loads trigger (dbt: one DAG run at a time, whatever the workers) are waited for between
rounds but not timed, nor is the set-up (migration, start of the services).

    .venv/bin/python -m ibdc_dev.bench.celery_workers [--workers 1,2] [--periods 2019-05,2019-06] [--rounds 3]

prints one line per round, the median and spread (min-max) per count, then
``celery_2_workers_vs_1:`` (the ratio of the medians; below 1: faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime

from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import airflow_runs, stack
from ibdc_dev.localstack.processes import free_port


def run(
    worker_counts: list[int], periods: list[str], concurrency: int, rounds: int = 3, say=print
) -> dict[int, list[float]]:
    """Wall times in seconds of ``rounds`` backfills of ``periods`` (their extract_load tasks, from
    the request to the backfill's completion, polled every second) for each count of
    ``worker_counts``. RuntimeError when a backfill run fails."""
    settings = stack.up(say=lambda m: None)
    times: dict[int, list[float]] = {}
    for count in worker_counts:
        workers = local_airflow.CeleryWorkers(count=count, concurrency=concurrency, redis_port=free_port())
        with airflow_runs.isolated_airflow(settings, f"bench_celery_{count}", celery=workers) as isolated:
            api = isolated.api
            for round_ in range(1, rounds + 1):
                if round_ > 1:
                    airflow_runs.reset(isolated)
                started, t0 = datetime.now(UTC), time.monotonic()
                created = airflow_runs.start_backfill(api, periods)
                airflow_runs.wait_for_backfill(api, created, every_s=1)
                times.setdefault(count, []).append(time.monotonic() - t0)
                runs = api.get(f"/dags/{airflow_runs.EXTRACT}/dagRuns", run_type="backfill")["dag_runs"]
                failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
                if failed:
                    raise RuntimeError(f"backfill runs failed with {count} workers: {failed}")
                say(
                    f"celery workers={count} concurrency={concurrency} round {round_}: backfill of {len(periods)}"
                    f" months x 31 provinces (extract_load) in {times[count][-1]:.0f}s"
                )
                airflow_runs.await_backfill(api, created, started)  # its transform ends before the next round
    return times


def main(argv: list[str] | None = None) -> int:
    from ibdc_dev.localstack.env import load_local_env

    parser = argparse.ArgumentParser(prog="python -m ibdc_dev.bench.celery_workers", description=__doc__)
    parser.add_argument("--workers", type=lambda v: [int(n) for n in v.split(",")], default=[1, 2])
    parser.add_argument("--periods", type=lambda v: v.split(","), default=["2019-05", "2019-06"])
    parser.add_argument("--concurrency", type=int, default=4, help="task slots per worker")
    parser.add_argument("--rounds", type=int, default=3, help="backfills per worker count")
    args = parser.parse_args(argv)
    load_local_env()
    say = lambda m: print(m, flush=True)  # noqa: E731
    times = run(args.workers, args.periods, args.concurrency, args.rounds, say=say)
    medians = {count: statistics.median(rounds) for count, rounds in times.items()}
    for count, rounds in times.items():
        say(f"workers={count}: median {medians[count]:.0f}s (min-max {min(rounds):.0f}-{max(rounds):.0f}s)")
    if 1 in medians and 2 in medians:
        say(f"celery_2_workers_vs_1: {medians[2] / medians[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
