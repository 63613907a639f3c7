"""A transform run builds exactly the periods loaded since the last successful build (the var the
transform DAG passes, ``ibdc_loaded_periods``), and a run without it rebuilds every period: the monthly output mart
and the daily OEE marts, on the partitions the module claims (pytestmark)."""

import json
from decimal import Decimal

import pytest

from ibdc import pipeline
from ibdc.transform.dbt import DbtError, run_dbt
from tests.partitions import Claim

PROVINCES = ["110000", "320000"]
# Months no other module writes (2022 is test_governance.py's): March and April, and March a year later.
MARCH, APRIL, NEXT_MARCH = "2014-03", "2014-04", "2015-03"
MONTHS = [MARCH, APRIL, NEXT_MARCH]
MART = "mart_industrial_output_monthly"
OEE_DAYS = ["2021-05-03", "2021-05-04"]
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim("industrial_output", PROVINCES, MONTHS), Claim("equipment_telemetry", PROVINCES, OEE_DAYS)
    ),
]


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
    _double_raw(warehouse, MARCH)
    _double_raw(warehouse, APRIL)

    _build({"industrial_output": [MARCH]})
    after = {m: _mart(warehouse, m) for m in MONTHS}
    assert after[MARCH] == {k: (v * 2, y) for k, (v, y) in before[MARCH].items()}  # rebuilt
    assert after[APRIL] == before[APRIL]  # not loaded: untouched
    # A year later: the same figures, the growth recomputed against the (doubled) March.
    for key, (value, growth) in after[NEXT_MARCH].items():
        assert value == before[NEXT_MARCH][key][0]
        previous = before[MARCH][key][0] * 2
        assert growth == round(value / previous - 1, 6) != before[NEXT_MARCH][key][1]

    # The reconciliation with raw checks the months the run built; over every month it sees that
    # April (changed in raw, not loaded again) is stale.
    reconciliation = "assert_output_mart_reconciles_with_raw"
    _dbt("test", reconciliation, {"industrial_output": [MARCH]})
    with pytest.raises(DbtError):
        _dbt("test", reconciliation, None)

    _build({"equipment_telemetry": [f"{APRIL}-01"]})  # loads of another dataset only
    assert _mart(warehouse, APRIL) == before[APRIL]

    _build(None)  # a manual run: every month
    assert _mart(warehouse, APRIL) == {k: (v * 2, y) for k, (v, y) in before[APRIL].items()}
    assert all(isinstance(v, Decimal) for v, _ in _mart(warehouse, APRIL).values())


OEE_MARTS = "mart_equipment_oee_enterprise_daily mart_equipment_oee_province_daily"


def _oee(conn, day: str) -> dict:
    rows = conn.execute(
        "SELECT uscc, output_units, oee FROM marts.mart_equipment_oee_enterprise_daily"
        " WHERE period_day = %s AND province_code = ANY(%s)",
        (day, PROVINCES),
    ).fetchall()
    units = conn.execute(
        "SELECT sum(output_units) FROM marts.mart_equipment_oee_province_daily"
        " WHERE period_day = %s AND province_code = ANY(%s)",
        (day, PROVINCES),
    ).fetchone()[0]
    return {"enterprises": {u: (n, o) for u, n, o in rows}, "province_units": units}


def test_an_oee_run_rebuilds_the_loaded_days_only(services, warehouse):
    for day in OEE_DAYS:
        for province in PROVINCES:
            pipeline.extract_partition("equipment_telemetry", province, day)
            pipeline.load_partition_from_raw("equipment_telemetry", province, day)
    run_dbt("build", "--select", "+mart_equipment_oee_province_daily", "--exclude", "resource_type:test", "--quiet")
    try:
        before = {d: _oee(warehouse, d) for d in OEE_DAYS}
        assert all(b["enterprises"] for b in before.values())
        warehouse.execute(
            "UPDATE raw.equipment_telemetry SET output_units = output_units * 2"
            " WHERE period_day = ANY(%s::date[]) AND province_code = ANY(%s)",
            (OEE_DAYS, PROVINCES),
        )
        _dbt("run", OEE_MARTS, {"equipment_telemetry": [OEE_DAYS[0]]})
        rebuilt, untouched = _oee(warehouse, OEE_DAYS[0]), _oee(warehouse, OEE_DAYS[1])
        assert untouched == before[OEE_DAYS[1]]
        assert {u: n for u, (n, _) in rebuilt["enterprises"].items()} == {
            u: n * 2 for u, (n, _) in before[OEE_DAYS[0]]["enterprises"].items()
        }
        assert rebuilt["province_units"] == before[OEE_DAYS[0]]["province_units"] * 2  # the roll-up follows
        _dbt("run", OEE_MARTS, {"industrial_output": ["2021-05"]})  # loads of another dataset only
        assert _oee(warehouse, OEE_DAYS[1]) == before[OEE_DAYS[1]]
        # A registry load rebuilds the whole roll-up (a version it reveals may date from any earlier day),
        # from the enterprise-day mart as it stands; not the enterprise-day mart itself.
        rolled_up = "SELECT count(*) FROM marts.mart_equipment_oee_province_daily WHERE period_day = ANY(%s::date[])"
        counts = warehouse.execute(rolled_up, (OEE_DAYS,)).fetchone()[0]
        warehouse.execute(
            "DELETE FROM marts.mart_equipment_oee_province_daily WHERE period_day = ANY(%s::date[])", (OEE_DAYS,)
        )
        _dbt("run", OEE_MARTS, {"enterprises": ["2021-05"]})
        assert warehouse.execute(rolled_up, (OEE_DAYS,)).fetchone()[0] == counts > 0
        assert _oee(warehouse, OEE_DAYS[1]) == before[OEE_DAYS[1]]
        assert _oee(warehouse, OEE_DAYS[0]) == rebuilt
    finally:  # the raw telemetry as loaded again, and the marts rebuilt from it
        for day in OEE_DAYS:
            for province in PROVINCES:
                pipeline.load_partition_from_raw("equipment_telemetry", province, day)
        _dbt("run", OEE_MARTS, {"equipment_telemetry": OEE_DAYS})
