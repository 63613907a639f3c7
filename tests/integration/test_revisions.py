"""A source revises an earlier month: the latest published figure wins in the marts, the history is
kept in the snapshot, and the months after the revised one do not break the transform before they
are collected again. (Province 370000, April and May 2020.)"""

import json
from decimal import Decimal

import pytest

from ibdc import pipeline
from ibdc.transform.dbt import run_dbt

DATASET = "industrial_output"
PROVINCE = "370000"
APRIL, MAY = "2020-04", "2020-05"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=DATASET, provinces=[PROVINCE], periods=[APRIL, MAY]),
]


def _collect(month: str) -> None:
    pipeline.extract_partition(DATASET, PROVINCE, month)
    pipeline.load_partition_from_raw(DATASET, PROVINCE, month)


CHECK = "assert_current_month_equals_cumulative_difference"


def _transform(*months: str) -> None:
    """As the transform DAG runs after loads of ``months``: staging, the history snapshot and the
    output mart, with the NBS consistency check of the staging model. The check only warns (a
    disagreement keeps the published value); here it must pass: a revision is no disagreement."""
    loaded = json.dumps({DATASET: list(months)})
    results = run_dbt(
        "build",
        "--select",
        f"stg_provincial__industrial_output int_industrial_output_month_figures snap_industrial_output"
        f" mart_industrial_output_monthly {CHECK}",
        "--vars",
        json.dumps({"ibdc_loaded_periods": loaded}),
        "--quiet",
    )
    assert [str(r.status) for r in results if r.node.name == CHECK] == ["pass"]


def _mart(conn, month: str) -> dict[str, Decimal]:
    return dict(
        conn.execute(
            "SELECT product_code, output_value FROM marts.mart_industrial_output_monthly"
            " WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
            (PROVINCE, month),
        ).fetchall()
    )


def _expected(truth, month: str) -> dict[str, Decimal]:
    return {e["product_code"]: Decimal(e["current_month"]) for e in truth(PROVINCE, month)["expected"]}


def test_a_revision_wins_in_the_mart_keeps_its_history_and_does_not_block_later_months(
    services, source_faults, truth, warehouse
):
    # The snapshot's history of these months is this test's own: earlier runs' revisions are not.
    warehouse.execute(
        "DELETE FROM snapshots.snap_industrial_output WHERE province_code = %s"
        " AND period_month IN (to_date(%s, 'YYYY-MM'), to_date(%s, 'YYYY-MM'))",
        (PROVINCE, APRIL, MAY),
    )
    _collect(APRIL)
    _collect(MAY)
    _transform(APRIL, MAY)
    first = _mart(warehouse, APRIL)
    assert first == _expected(truth, APRIL) and first

    # April revised upwards; May's year-to-date follows at the source, but May is not collected yet.
    source_faults([{"dataset": DATASET, "province": PROVINCE, "kind": "revision", "periods": [APRIL], "factor": "1.1"}])
    _collect(APRIL)
    _transform(APRIL)  # the consistency check skips May, whose stored year-to-date predates the revision
    revised = _mart(warehouse, APRIL)
    assert revised == _expected(truth, APRIL)
    assert revised.keys() == first.keys() and all(revised[p] > first[p] for p in first if first[p] > 0)

    history = warehouse.execute(
        "SELECT product_code, value_current_month, dbt_valid_to IS NULL FROM snapshots.snap_industrial_output"
        " WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
        (PROVINCE, APRIL),
    ).fetchall()
    assert sorted((p, v) for p, v, current in history if not current) == sorted(first.items())
    assert sorted((p, v) for p, v, current in history if current) == sorted(revised.items())

    # May collected again: its year-to-date now includes the revised April, and the check compares it.
    _collect(MAY)
    _transform(MAY)
    derived = dict(
        warehouse.execute(
            "SELECT product_code, value_month_from_cumulative - value_current_month"
            " FROM intermediate.int_industrial_output_month_figures"
            " WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
            (PROVINCE, MAY),
        ).fetchall()
    )
    assert derived and set(derived.values()) == {0}
    assert _mart(warehouse, MAY) == _expected(truth, MAY)
