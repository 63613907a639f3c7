"""The whole slice for all 31 provinces: extract -> raw zone -> parse -> load -> dbt -> mart, checked
against the simulator's ground truth; then rerun and compared."""

from datetime import date
from decimal import Decimal

import pytest

from ibdc import pipeline
from ibdc.reference import provinces
from ibdc.transform.dbt import run_dbt
from tests.partitions import ANY

# February carries January-February; December 2018 carries the NBS-calibrated crude steel year.
WINDOW = ["2018-12", "2026-02", "2026-03"]
# Every province's industrial output in the window (its checks of the quarantine read these months only).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset="industrial_output", provinces=ANY, periods=WINDOW),
]

BUSINESS_COLUMNS = (
    "province_code, period_month, product_code, unit_code, value_current_month, value_cumulative, record_position"
)
MART_COLUMNS = (
    "province_code, province_name_en, period_month, product_code, unit_code, output_value, "
    "output_ytd, output_value_base, base_unit, months_covered"
)


def _run_window():
    results = {}
    for period in WINDOW:
        for code in provinces():
            pipeline.extract_partition("industrial_output", code, period)
            results[code, period] = pipeline.load_partition_from_raw("industrial_output", code, period)
    run_dbt("build", "--quiet")
    return results


def _snapshot(conn):
    firsts = [date(int(p[:4]), int(p[5:]), 1) for p in WINDOW]
    return {
        "raw": conn.execute(
            f"SELECT {BUSINESS_COLUMNS} FROM raw.industrial_output WHERE period_month = ANY(%s) ORDER BY 1, 2, 3",
            (firsts,),
        ).fetchall(),
        "quarantine": conn.execute(
            "SELECT province_code, period, record_position, raw_text, reason"
            " FROM raw.quarantine WHERE period = ANY(%s) ORDER BY 1, 2, 3",
            (WINDOW,),
        ).fetchall(),
        "mart": conn.execute(
            f"SELECT {MART_COLUMNS} FROM marts.mart_industrial_output_monthly"
            " WHERE period_month = ANY(%s) ORDER BY 1, 3, 4",
            (firsts,),
        ).fetchall(),
    }


def _figure(record: dict, period: str) -> Decimal:
    """The month's figure the mart shows for a record of the truth: its current month; February, the
    January-February release, publishes none, and its figure is the January-February year to date."""
    if period.endswith("-02"):
        assert record["current_month"] is None, record
        return Decimal(record["cumulative"])
    return Decimal(record["current_month"])


@pytest.fixture(scope="module")
def first_run(services):
    return _run_window()


def test_mart_equals_ground_truth_for_every_province(first_run, warehouse, truth):
    checked = 0
    for period in WINDOW:
        for code in provinces():
            expected = truth(code, period)
            mart = {
                row[0]: (row[1], row[2], row[3])
                for row in warehouse.execute(
                    "SELECT product_code, unit_code, output_value, output_ytd"
                    " FROM marts.mart_industrial_output_monthly WHERE province_code = %s"
                    " AND period_month = to_date(%s, 'YYYY-MM')",
                    (code, period),
                ).fetchall()
            }
            want = {
                e["product_code"]: (e["unit"], _figure(e, period), Decimal(e["cumulative"]))
                for e in expected["expected"]
            }
            assert mart == want, (code, period)
            checked += len(want)
    assert checked > 31 * len(WINDOW) * 5


def test_crude_steel_2018_in_the_mart_equals_the_nbs_figures(first_run, warehouse, truth):
    mart = dict(
        warehouse.execute(
            "SELECT province_code, output_ytd FROM marts.mart_industrial_output_monthly"
            " WHERE product_code = 'crude_steel' AND period_month = '2018-12-01'"
        ).fetchall()
    )
    nbs = dict(
        warehouse.execute(
            "SELECT adcode, crude_steel_10k_tonnes FROM reference.nbs_crude_steel_2018_by_province"
        ).fetchall()
    )
    assert len(nbs) == 28
    for code in provinces():
        served_malformed = any(m["key"] == "crude_steel" for m in truth(code, "2018-12")["malformed"])
        if served_malformed:  # the source's own bad figure: quarantined, not in the mart
            assert code not in mart
        else:
            assert mart.get(code) == nbs.get(code), code
    assert len(mart) >= 27


def test_malformed_records_are_quarantined_with_reasons_and_the_rest_load(first_run, warehouse, truth):
    quarantined = 0
    for period in ("2026-02", "2026-03"):
        for code in provinces():
            malformed = truth(code, period)["malformed"]
            rows = warehouse.execute(
                "SELECT record_position, reason, raw_text FROM raw.quarantine WHERE dataset = 'industrial_output'"
                " AND province_code = %s AND period = %s ORDER BY 1",
                (code, period),
            ).fetchall()
            assert [r[0] for r in rows] == [m["position"] for m in malformed], (code, period)
            assert all(r[1] and r[2] for r in rows)
            result = first_run[code, period]
            assert result.rows_quarantined == len(malformed)
            assert result.rows_loaded == len(truth(code, period)["expected"]) > 0
            quarantined += len(rows)
    assert quarantined == 3 * 2  # the default fault profile: three provinces, one record each
    reasons = {r[0] for r in warehouse.execute("SELECT reason FROM raw.quarantine WHERE period = '2026-03'")}
    assert any("valid decimal" in r for r in reasons)
    assert any("non-negative" in r for r in reasons)
    assert any("unknown product code" in r for r in reasons)


def test_every_load_is_audited(first_run, warehouse):
    batch_ids = [r.batch_id for r in first_run.values()]
    rows = warehouse.execute(
        "SELECT outcome, rows_in, rows_loaded + rows_quarantined, checksum_verified FROM raw.load_audit"
        " WHERE batch_id::text = ANY(%s)",
        (batch_ids,),
    ).fetchall()
    assert len(rows) == len(batch_ids)
    assert all(o == "succeeded" and n == m and ok for o, n, m, ok in rows)


def test_rerunning_the_window_leaves_the_tables_identical(first_run, warehouse):
    before = _snapshot(warehouse)
    _run_window()
    after = _snapshot(warehouse)
    assert before["raw"] and before["quarantine"] and before["mart"]
    assert after == before
    dupes = warehouse.execute(
        "SELECT count(*) FROM (SELECT dataset, province_code, period, record_position FROM raw.quarantine"
        " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
    ).fetchone()[0]
    assert dupes == 0
