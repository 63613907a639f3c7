"""The periods the transform DAG hands dbt (var ``ibdc_loaded_periods``) are written into SQL by the
macro ``loaded_periods_filter``: one that is not strictly a period fails the run instead (issue 13,
point 5): ``re.match``'s ``$`` took ``"2022-06-01\\n"`` and ``\\d`` full-width digits, and
PostgreSQL's ``date '2022-06-01\\n'`` is the real day."""

import json

import pytest

from ibdc.transform.dbt import DbtError, run_dbt

pytestmark = pytest.mark.integration


def _filter(loaded: dict) -> None:
    run_dbt(
        "run-operation",
        "loaded_periods_filter",
        "--args",
        json.dumps({"column": "period_day", "datasets": ["equipment_telemetry", "industrial_output"]}),
        "--vars",
        json.dumps({"ibdc_loaded_periods": json.dumps(loaded)}),  # as the DAG renders it
        "--quiet",
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"equipment_telemetry": ["2022-06-01\n"]},
        {"industrial_output": ["２０２２-06"]},
    ],  # each case a dbt invocation (about 10 s): the two ways through, no more
)
def test_the_dbt_filter_refuses_a_period_that_is_not_strictly_one(services, bad):
    with pytest.raises(DbtError):
        _filter(bad)


def test_the_dbt_filter_takes_real_periods(services):
    _filter({"equipment_telemetry": ["2022-06-01"], "industrial_output": ["2022-06"]})
