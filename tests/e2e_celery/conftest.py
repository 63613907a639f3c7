"""Isolated Airflows for comparing executors (``ibdc_dev.localstack.airflow_runs``): each run its own
warehouse and metadata databases, buckets, ports and processes, so the runs of one window can be
compared table by table. A package of its own: it runs after ``tests/e2e``, whose LocalExecutor
Airflow has stopped by then.

The Celery Airflow starts in a thread beside the LocalExecutor's: starting one is a minute and more of
commands and services started one after another, a core's work, so the two starts share the
machine's two cores. The Celery Airflow loads nothing while the LocalExecutor's reference run
backfills (its extract DAG's scheduled run is failed at unpausing,
``airflow_runs.unpause_without_scheduled_run``), and the Celery tests run once the reference has
ended and its Airflow has stopped: no other scheduler runs tasks beside theirs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TypeVar

import pytest

from ibdc.sources.registry import sources_for
from ibdc_dev.localstack import airflow as local_airflow
from ibdc_dev.localstack import airflow_runs
from ibdc_dev.localstack.processes import free_port
from tests.e2e_celery.warehouse import snapshot

T = TypeVar("T")


def _provinces_by_style(per_style: int) -> list[str]:
    """The first ``per_style`` provinces (by code) of each API style industrial output is collected in."""
    chosen: dict[str, list[str]] = {}
    for code, source in sorted(sources_for("industrial_output").items()):
        codes = chosen.setdefault(source.style, [])
        if len(codes) < per_style:
            codes.append(code)
    return sorted(code for codes in chosen.values() for code in codes)


# The window every run backfills: 2 months x 12 provinces (two of each of the six source styles, the
# NBS portal's included) of industrial output, 24 extract tasks a run: three times the Celery
# Airflow's 8 task slots, so both workers run several at once and a killed one is killed while it
# runs tasks; each parser and loader runs in both executors.
PERIODS = ["2019-05", "2019-06"]
PROVINCES = _provinces_by_style(2)
CONF = {"provinces": PROVINCES}

# Lowered so that Airflow notices a lost worker in seconds: the heartbeat timeout (300 s by default)
# and how often the scheduler looks (10 s); a task the lost worker had received but not started
# stays queued, requeued after task_queued_timeout (600 s by default; measured, a task here waits 4 s
# at most between queued and running, the scheduler's parallelism being the workers' 8 slots; 60 s
# because a task requeued more than num_stuck_in_queued_retries times (2) is failed, not retried).
# A lost attempt's retry waits max_task_retry_delay at most: it caps the extract's exponential
# backoff (30 to 60 s before a second try), not whether or where the retry runs. The clean backfill
# runs with them too: a live task heartbeats every few seconds, well within 15.
LOST_WORKER_ENV = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "15",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
    "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "5",
}


def celery_workers(count: int = 2) -> local_airflow.CeleryWorkers:
    return local_airflow.CeleryWorkers(count=count, concurrency=4, redis_port=free_port())


@dataclass(frozen=True)
class Runs:
    """The LocalExecutor's reference (``warehouse.snapshot`` of its warehouse) and the Celery Airflow."""

    reference: dict[str, list[tuple]]
    celery: airflow_runs.IsolatedRun


@contextlib.contextmanager
def _entered_in_background(cm: AbstractContextManager[T]) -> Iterator[Future[T]]:
    """Enter ``cm`` in a thread of its own; yields the future of what it gives. Exited after, once
    entered (a failed start has stopped what it started: ``airflow_runs.isolated_airflow``)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        entered = pool.submit(cm.__enter__)
        try:
            yield entered
        finally:
            if entered.exception() is None:  # waits for the start to end
                cm.__exit__(None, None, None)


@pytest.fixture(scope="package")
def airflows(services) -> Iterator[Runs]:
    """The Celery Airflow the tests share, started in a thread, and meanwhile the LocalExecutor's
    backfill of ``PERIODS`` x ``PROVINCES`` in an Airflow of its own (stopped once its warehouse is read)."""
    with contextlib.ExitStack() as stack:
        celery = airflow_runs.isolated_airflow(services, "celery_test", celery=celery_workers(), env=LOST_WORKER_ENV)
        starting = stack.enter_context(_entered_in_background(celery))
        with airflow_runs.isolated_airflow(services, "local_executor_test") as local:
            airflow_runs.backfill(local.api, PERIODS, CONF)
            reference = snapshot(local.settings)
        yield Runs(reference, starting.result())


@pytest.fixture(scope="package")
def local_executor_run(airflows) -> dict:
    """The LocalExecutor's backfill of the window: the warehouse's business content
    (``warehouse.snapshot``) the Celery runs must equal."""
    return airflows.reference


@pytest.fixture(scope="package")
def celery_airflow(airflows) -> airflow_runs.IsolatedRun:
    return airflows.celery
