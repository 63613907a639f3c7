"""What the DAG files share: default arguments, and partition planning from a run's context."""

from __future__ import annotations

from datetime import timedelta

from ibdc.alerts import record_failure
from ibdc.periods import month_of, parse_period
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


def plan_partitions(dataset: str, params: dict, data_interval_start) -> list[dict]:
    """The (province, period) partitions a run covers.

    The period is the ``period`` param when given, else the month of the data interval; a run with
    neither (a manual run with no logical date) fails clearly rather than guess from the clock.
    """
    period = params.get("period")
    if period:
        parse_period(period)
    elif data_interval_start is not None:
        period = month_of(data_interval_start)
    else:
        raise ValueError("this run has no data interval: give the 'period' param (YYYY-MM)")
    provinces = resolve_provinces(dataset, params.get("provinces") or None)
    return [{"dataset": dataset, "province": p, "period": period} for p in provinces]
