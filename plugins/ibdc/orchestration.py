"""What the DAG files share: default arguments, and partition planning from a run's context (each
cadence's schedule and period spelling: :data:`ibdc.periods.CADENCES`)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from ibdc.alerts import record_failure
from ibdc.datasets import DATASETS
from ibdc.landing.manifest import Partition
from ibdc.periods import CADENCES, check_period
from ibdc.schemas import Cadence
from ibdc.sources.registry import resolve_provinces

OWNER = "ibdc-data-platform"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(minutes=30),
    "on_failure_callback": record_failure,
}


@contextlib.contextmanager
def retry_policy():
    """The task's fate follows the error's kind (:mod:`ibdc.errors`): a permanent failure fails the
    task at once instead of after its retries; "not released" ends it skipped, with the source's
    message; transient failures keep the task's retries."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from ibdc.errors import ErrorKind, kind_of

    try:
        yield
    except Exception as exc:
        kind = kind_of(exc)
        if kind is ErrorKind.PERMANENT:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
        if kind is ErrorKind.NOT_RELEASED:
            raise AirflowSkipException(f"not released yet: {exc}") from exc
        raise


def period_of(cadence: Cadence, moment) -> str:
    """The period of ``cadence`` holding ``moment`` (a data interval's start)."""
    return CADENCES[cadence].period_of(moment)


def plan_partitions(dataset: str, params: dict, data_interval_start) -> list[Partition]:
    """The partitions a run covers, one per province.

    A run with a data interval (scheduled, backfill, manual with a logical date) collects the month
    (or day) of its interval, always: a ``period`` param naming another one is ignored, with a warning
    in the task log. Airflow gives every run of a backfill the same conf, so a ``period`` in it (the UI's
    backfill dialog sends the form's params) would otherwise collect that one period over and over.
    A ``period`` equal to the interval's is just that period. A run without a data interval (a manual
    run with no logical date) collects the ``period`` param; with neither it fails clearly rather than
    guess from the clock. A malformed ``period`` fails in every case.
    """
    import logging

    cadence = DATASETS[dataset].cadence
    period = params.get("period")
    if period:
        check_period(cadence, period)
    if data_interval_start is not None:
        interval_period = period_of(cadence, data_interval_start)
        if period and period != interval_period:
            logging.getLogger(__name__).warning(
                "param period=%s ignored: this run's data interval is %s, which it collects"
                " (period is for runs without a data interval)",
                period,
                interval_period,
            )
        period = interval_period
    elif not period:
        raise ValueError(f"this run has no data interval: give the 'period' param ({CADENCES[cadence].format})")
    provinces = resolve_provinces(dataset, params.get("provinces") or None)
    return [Partition(dataset=dataset, province_code=p, period=period) for p in provinces]


def extract_dag_id(dataset: str) -> str:
    """The id of ``dataset``'s extract-and-load DAG (``dags/extract_load.py``)."""
    return f"ibdc_extract_{dataset}"


# A run of an extract DAG that is queued or running has loads to come, unless it waits for its
# source's release: its release sensor between two pokes (up_for_reschedule, for days).
ACTIVE_RUN_STATES = ("queued", "running")
RELEASE_WAIT = ("wait_for_release", "up_for_reschedule")  # (task id, state)
# How long the transform waits for loads to settle before building what has loaded, with a warning:
# a paused DAG or backfill keeps its runs queued or running without loading anything.
SETTLE_MAX_WAIT = timedelta(minutes=50)


def loads_under_way(ti) -> dict[str, int]:
    """Extract DAG id -> its runs with loads to come, for the DAGs with any: runs queued or running
    (:data:`ACTIVE_RUN_STATES`), less those waiting for their source's release (:data:`RELEASE_WAIT`);
    empty when every load that was started has ended. ``ti``: the running task instance (Airflow's
    Task SDK), whose ``get_dr_count`` and ``get_ti_count`` ask Airflow's API.

    Runs, not task instances: a run between two of its tasks (queued to running, ``plan`` done and
    its mapped loads not yet created) has no task in an active state, yet loads to come.

    The transform waits for this to be empty (``dags/transform_dbt.py``, task ``loads_settled``):
    one dbt build then covers every run of a backfill (a year of industrial output: one build, not
    one per asset-triggered run), and no load replaces a partition between a mart's build and the
    tests that reconcile it with raw (which failed the builds that ran beside a backfill's loads)."""
    task_id, state = RELEASE_WAIT
    under_way = {}
    for dataset in DATASETS:
        dag_id = extract_dag_id(dataset)
        count = ti.get_dr_count(dag_id=dag_id, states=list(ACTIVE_RUN_STATES)) - ti.get_ti_count(
            dag_id=dag_id, task_ids=[task_id], states=[state]
        )
        if count > 0:
            under_way[dag_id] = count
    return under_way


def loads_settled(ti, waited: timedelta) -> bool:
    """Whether the transform may build now (the ``loads_settled`` sensor's poke): no loads under way
    (:func:`loads_under_way`), or :data:`SETTLE_MAX_WAIT` ``waited`` already, which is logged as a
    warning naming the runs still counted (a paused DAG or backfill holds its runs)."""
    import logging

    under_way = loads_under_way(ti)
    log = logging.getLogger(__name__)
    if not under_way:
        return True
    if waited >= SETTLE_MAX_WAIT:
        log.warning("loads still under way after %s, building what has loaded: %s", waited, under_way)
        return True
    log.info("loads under way, waiting: %s", under_way)
    return False
