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
