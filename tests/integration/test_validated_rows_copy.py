"""Every record validation passes is one PostgreSQL accepts (issue 13, points 1 and 2): generated
records of every dataset -- valid ones and the same mutated with huge and odd numbers, control
characters, Unicode digits, final newlines, odd hours and offsets -- are validated and loaded through
the real ``load_partition`` into the test warehouse. The COPY always succeeds (a value validation
passed but a column refused would fail the whole partition), the quarantine takes the rejects whatever
they hold, and the rows in the table are the rows validation passed, value for value."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.datasets import DATASETS
from ibdc.loading.postgres import load_partition
from ibdc.reference import products
from ibdc.schemas import SCHEMAS
from ibdc.uscc import check_digit
from tests.partitions import ANY
from tests.unit.validator_strategies import mutated_records, validate

# This module's partitions, in the past (the marts' freshness tests refuse a month loaded more
# than a month before it ends); emptied before and after (_own_partitions).
PROVINCE = "540000"
PERIOD = {"equipment_telemetry": "2012-06-03"}
HOSTILE_PERIOD = {"equipment_telemetry": "2012-06-04"}
MONTHS = ("2012-06-01", "2012-07-01")
DAYS = ("2012-06-03", "2012-06-04")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=ANY, provinces=[PROVINCE], periods=["2012-06", "2012-07"]),
]
LOADS = settings(max_examples=30)  # the shared profile: tests/conftest.py


def _period(dataset: str) -> str:
    return PERIOD.get(dataset, "2012-06")


def _hostile_period(dataset: str) -> str:
    return HOSTILE_PERIOD.get(dataset, "2012-07")


@pytest.fixture(scope="module", autouse=True)
def _own_partitions(services):
    """This module's partitions, emptied before and after (as the administrator): the raw tables,
    quarantine and audit, and what a dbt run meanwhile took from them into the snapshots and the
    incremental marts, so that no other test (the marts' checks) sees the generated records."""

    def empty():
        periods = [m[:7] for m in MONTHS] + list(DAYS)
        with psycopg.connect(services.warehouse, autocommit=True) as conn, conn.transaction():
            for spec in DATASETS.values():
                column, values = ("period_day", DAYS) if spec.cadence == "daily" else ("period_month", MONTHS)
                conn.execute(
                    f"DELETE FROM {spec.table} WHERE province_code = %s AND {column} = ANY(%s::date[])",
                    (PROVINCE, list(values)),
                )
            for table in ("raw.quarantine", "raw.load_audit"):
                conn.execute(f"DELETE FROM {table} WHERE province_code = %s AND period = ANY(%s)", (PROVINCE, periods))
            for table, column, values in DERIVED:
                if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]:
                    conn.execute(
                        f"DELETE FROM {table} WHERE province_code = %s AND {column} = ANY(%s::date[])",
                        (PROVINCE, list(values)),
                    )

    empty()
    yield
    empty()


# What dbt keeps from a raw partition across runs (snapshots, incremental marts).
DERIVED = [
    *((f"snapshots.snap_{d}", "period_month", MONTHS) for d in ("enterprises", "industrial_output",
                                                                 "electricity_consumption")),
    ("marts.mart_equipment_oee_enterprise_daily", "period_day", DAYS),
    ("marts.mart_equipment_oee_province_daily", "period_day", DAYS),
    ("marts.mart_digital_scorecard_monthly", "period_month", MONTHS),
    ("marts.mart_industrial_output_monthly", "period_month", MONTHS),
    ("marts.mart_energy_intensity_monthly", "period_month", MONTHS),
]  # fmt: skip


def _distinct_keys(dataset: str, records: list[dict]) -> list[dict]:
    """The first record of each key, as the extraction's duplicate check leaves them (a mutation can
    give two records one key; telemetry's key is taken by device alone: two texts of one instant are
    one key to the table)."""
    key = ("device_id",) if dataset == "equipment_telemetry" else SCHEMAS[dataset].key
    seen, out = set(), []
    for record in records:
        k = tuple(record.get(f) for f in key)
        if k not in seen:
            seen.add(k)
            out.append(record)
    return out


def _as_db(expected: object, loaded: object) -> object:
    """A validated row's value as PostgreSQL returns its column's type."""
    if expected is None or isinstance(expected, bool | date):
        return expected
    if isinstance(loaded, Decimal):
        return Decimal(expected)
    if isinstance(loaded, int):
        return int(expected)
    if isinstance(loaded, datetime):
        return datetime.fromisoformat(expected)
    return expected


def _loaded(conn: psycopg.Connection, dataset: str, columns: list[str], period: str) -> list[tuple]:
    spec = DATASETS[dataset]
    order = ", ".join(SCHEMAS[dataset].key if dataset != "equipment_telemetry" else ("device_id",))
    return conn.execute(
        f'SELECT {", ".join(columns)} FROM {spec.table} WHERE {spec.partition_predicate} ORDER BY {order} COLLATE "C"',
        (PROVINCE, period),
    ).fetchall()


def _load_and_compare(services, dataset: str, records: list[dict], period: str) -> tuple:
    """Validate ``records``, load them with ``load_partition`` and check the table holds exactly the
    rows validation passed (and the quarantine its rejects); the page."""
    page = validate(dataset, PROVINCE, period, _distinct_keys(dataset, records))
    result = load_partition(
        services.loader,
        DATASETS[dataset],
        PROVINCE,
        period,
        [page],
        manifest_key=f"{dataset}/province={PROVINCE}/period={period}/_manifest.json",
        extract_id=None,
        max_quarantine_share=1.0,
        accept_fewer_records=True,
    )
    assert (result.rows_loaded, result.rows_quarantined) == (page.rows.num_rows, len(page.rejects))
    key = ("device_id",) if dataset == "equipment_telemetry" else SCHEMAS[dataset].key
    columns = page.rows.column_names
    expected = sorted(page.rows.to_pylist(), key=lambda r: tuple(r[k] for k in key))
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        loaded = _loaded(conn, dataset, columns, period)
        reasons = conn.execute(
            "SELECT reason FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
            (dataset, PROVINCE, period),
        ).fetchall()
    assert len(reasons) == len(page.rejects) and all(r[0] for r in reasons)
    assert len(loaded) == len(expected)
    for want, got in zip(expected, loaded, strict=True):
        assert tuple(_as_db(want[c], v) for c, v in zip(columns, got, strict=True)) == got
    return page


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_every_row_validation_passes_is_copied_into_its_table(services, dataset):
    period = _period(dataset)

    @LOADS  # inside the test: a falsifying example prints the records, not the fixture's settings
    @given(data=st.data())
    def load(data):
        records = data.draw(mutated_records(dataset, PROVINCE, period, data.draw(st.integers(1, 6)), max_changes=4))
        _load_and_compare(services, dataset, records, period)

    load()


# --- the faults named in the issue, each in a record of its own -----------------------------------------


def _uscc(n: int) -> str:
    first = f"9154000000000{n:04d}"
    return first + check_digit(first)


def _hostile(dataset: str) -> tuple[list[dict], int]:
    """Valid records and hostile ones of ``dataset`` (each key distinct); how many are valid."""
    period = _hostile_period(dataset)
    if dataset == "industrial_output":
        valid = [("cement", "1.5E+3", "12345678901234567890.123456789012"), ("industrial_robots", "-0", "0")]
        bad = [("automobiles", "1", "1E+200000"), ("crude_oil_processed", "1", "1e99999999"),
               ("crude_steel", "１２", "20"), ("ethylene", "1", "12\n"), ("flat_glass", "NaN", "1")]  # fmt: skip
        records = [{"province_code": PROVINCE, "period": period, "product_code": code, "product_name": code,
                    "unit": products()[code].unit_code, "current_month": current, "cumulative": cumulative}
                   for code, current, cumulative in valid + bad]  # fmt: skip
        records[-1]["product_name"] = "x\x00"
        return records, len(valid)
    if dataset == "electricity_consumption":
        values = [("13", "1", "2"), ("14", "-0", "0.000000000001"), ("15", "1e99999999", None),
                  ("16", None, "1E+200000"), ("17", "1_000", None), ("18", "١٢٣", None),
                  ("19", "1\n", None)]  # fmt: skip
        records = [{"province_code": PROVINCE, "period": period, "division_code": code, "division_name": code,
                    "consumption": a, "cumulative": b} for code, a, b in values]  # fmt: skip
        return records, 2
    if dataset == "enterprises":
        base = {"name": "拉萨示例\t机械\n有限公司", "province_code": PROVINCE, "city": "拉萨市", "division_code": "34",
                "size_class": "small", "legal_representative": "扎西\\N", "phone": "13912345678",
                "iot_adopted": "true", "fiveg_adopted": "false", "registered_on": "2006-03-01",
                "updated_on": "2012-06-30", "status": "active", "period": period}  # fmt: skip
        changes = [{}, {"phone": "0891-6831234"}, {"uscc": _uscc(3) + "\n"}, {"phone": "13912345678\n"},
                   {"phone": "１３９１２３４５６７８"}, {"name": "x\x00"},
                   {"registered_on": "2006-03-01\n"}]  # fmt: skip
        return [{**base, "uscc": _uscc(i), **c} for i, c in enumerate(changes)], 2
    base = {"enterprise_code": _uscc(1), "runtime_min": "60", "output_units": "12", "energy_kwh": "4.5",
            "fault_code": None}  # fmt: skip
    changes = [
        {"ts": "2012-06-04T00:00:00Z"}, {"ts": "2012-06-04T13:00:00+08:00"}, {"ts": "2012-06-03T22:00:00-02:00"},
        {"ts": "2012-06-04T23:00:00Z", "output_units": "999999999", "energy_kwh": "1e19"},
        {"ts": "2012-06-04T24:00:00Z"}, {"ts": "2012-06-04T99:00:00Z"}, {"ts": "2012-06-04T05:00:00+25:00"},
        {"ts": "2012-06-04T05:00:00+14:61"}, {"ts": "2012-06-04T01:00:00+08:00"},
        {"ts": "2012-06-04T05:00:00Z", "energy_kwh": "1E+200000"},
        {"ts": "2012-06-04T05:00:00Z", "energy_kwh": "1e99999999"},
        {"ts": "2012-06-04T05:00:00Z", "enterprise_code": _uscc(1) + "\n"},
        {"ts": "2012-06-04T05:00:00Z", "runtime_min": "60\n"},
        {"ts": "2012-06-04T05:00:00Z", "output_units": "2147483648"},
    ]  # fmt: skip
    return [{**base, "device_id": f"DEV-{i:02d}", **c} for i, c in enumerate(changes)], 4


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_the_issues_hostile_values_are_quarantined_and_the_partition_loads(services, dataset):
    """Before: each hostile record failed the partition's COPY on every retry (a credit code or phone
    ending in a newline, 1E+200000 written out in 200,001 digits, hour 24), or failed the page
    (1e99999999: decimal.Overflow), or loaded a reading into another UTC day than its partition."""
    records, valid = _hostile(dataset)
    page = _load_and_compare(services, dataset, records, _hostile_period(dataset))
    assert page.rows.num_rows == valid
    assert [r.record_position for r in page.rejects] == list(range(valid, len(records)))
