"""A transform run builds exactly the periods its triggering loads wrote (the var the transform DAG
passes, ``ibdc_loaded_periods``), and a run without it rebuilds every period. Months in 2021 and
2022-03: no other test writes them."""

import json
from decimal import Decimal

import pytest

from ibdc import pipeline
from ibdc.transform.dbt import DbtError, run_dbt

pytestmark = pytest.mark.integration

PROVINCES = ["110000", "320000"]
MONTHS = ["2021-03", "2021-04", "2022-03"]
MART = "mart_industrial_output_monthly"


def _dbt(command: str, select: str, loaded: dict | None) -> None:
    args = [command, "--select", select]
    if loaded is not None:
        args += ["--vars", json.dumps({"ibdc_loaded_periods": json.dumps(loaded)})]  # as the DAG renders it
    run_dbt(*args, "--quiet")


def _build(loaded: dict | None) -> None:
    _dbt("run", MART, loaded)


def _mart(conn, month: str) -> dict:
    rows = conn.execute(
        f"SELECT province_code, product_code, output_value, output_yoy_growth FROM marts.{MART}"
        " WHERE period_month = to_date(%s, 'YYYY-MM') AND province_code = ANY(%s)",
        (month, PROVINCES),
    ).fetchall()
    return {(p, c): (v, y) for p, c, v, y in rows}


def _double_raw(conn, month: str) -> None:
    conn.execute(
        "UPDATE raw.industrial_output SET value_current_month = value_current_month * 2"
        " WHERE period_month = to_date(%s, 'YYYY-MM') AND province_code = ANY(%s)",
        (month, PROVINCES),
    )


@pytest.fixture
def loaded_months(services):
    for month in MONTHS:
        for province in PROVINCES:
            pipeline.extract_partition("industrial_output", province, month)
            pipeline.load_partition_from_raw("industrial_output", province, month)
    run_dbt("build", "--select", f"+{MART}", "--exclude", "resource_type:test", "--quiet")
    yield
    for month in MONTHS:  # the raw figures as loaded again, and the mart rebuilt from them
        for province in PROVINCES:
            pipeline.load_partition_from_raw("industrial_output", province, month)
    _build(None)


def test_a_run_rebuilds_the_loaded_months_and_the_year_after_and_nothing_else(loaded_months, warehouse):
    before = {m: _mart(warehouse, m) for m in MONTHS}
    assert all(before.values())
    _double_raw(warehouse, "2021-03")
    _double_raw(warehouse, "2021-04")

    _build({"industrial_output": ["2021-03"]})
    after = {m: _mart(warehouse, m) for m in MONTHS}
    assert after["2021-03"] == {k: (v * 2, y) for k, (v, y) in before["2021-03"].items()}  # rebuilt
    assert after["2021-04"] == before["2021-04"]  # not loaded: untouched
    # A year later: the same figures, the growth recomputed against the (doubled) 2021-03.
    for key, (value, growth) in after["2022-03"].items():
        assert value == before["2022-03"][key][0]
        previous = before["2021-03"][key][0] * 2
        assert growth == round(value / previous - 1, 6) != before["2022-03"][key][1]

    # The reconciliation with raw checks the months the run built; over every month it sees that
    # 2021-04 (changed in raw, not loaded again) is stale.
    reconciliation = "assert_output_mart_reconciles_with_raw"
    _dbt("test", reconciliation, {"industrial_output": ["2021-03"]})
    with pytest.raises(DbtError):
        _dbt("test", reconciliation, None)

    _build({"equipment_telemetry": ["2021-04-01"]})  # loads of another dataset only
    assert _mart(warehouse, "2021-04") == before["2021-04"]

    _build(None)  # a manual run: every month
    assert _mart(warehouse, "2021-04") == {k: (v * 2, y) for k, (v, y) in before["2021-04"].items()}
    assert all(isinstance(v, Decimal) for v, _ in _mart(warehouse, "2021-04").values())
