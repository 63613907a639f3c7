"""Property-based tests of every dataset's validator (issue 13, point 2; the wire formats' own are in
the formats' tests): from valid records, from the same records mutated (huge and odd numbers, control
characters, Unicode digits, final newlines, impossible hours and offsets) and from random records,
validation always returns rows plus rejects -- each record exactly once, each reject with a reason --
and never raises; valid records all pass; and every row that passes holds only what its raw table's
column takes (the integration test ``tests/integration/test_validated_rows_copy.py`` COPYs them into
PostgreSQL itself).

Deterministic (``derandomize``) and modest: the whole file runs in seconds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.parsing.base import number_fault, number_mask
from ibdc.parsing.equipment_telemetry import UNEXPLAINED
from tests.unit.validator_strategies import (
    ODD_NUMBERS,
    bounded_numbers,
    mutated_records,
    random_records,
    valid_records,
    validate,
)

PROPERTIES = settings(max_examples=120)  # the shared profile: tests/conftest.py
DATASETS = ["industrial_output", "electricity_consumption", "enterprises", "equipment_telemetry"]
PROVINCE = "130000"
PERIOD = {"equipment_telemetry": "2025-06-03"}


def _period(dataset: str) -> str:
    return PERIOD.get(dataset, "2025-06")


# What the raw tables' columns take (ddl.sql), as PostgreSQL reads text: a row breaking one would fail
# the partition's COPY.
WRITTEN_OUT = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,20})?", re.ASCII)  # numeric, as format(Decimal, "f") writes it
NUMERIC = {
    "industrial_output": ("value_current_month", "value_cumulative",
                          "value_current_month_base", "value_cumulative_base"),
    "electricity_consumption": ("consumption_10k_kwh", "cumulative_10k_kwh", "consumption_kwh", "cumulative_kwh"),
}  # fmt: skip
USCC_CHECK = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}", re.ASCII)
PHONE_CHECK = re.compile(r"1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}", re.ASCII)
DIVISION_CHECK = re.compile(r"1[3-9]|[23][0-9]|4[0-3]", re.ASCII)
TS_ZONE = re.compile(r"(Z)|([+-])([0-9]{2}):?([0-9]{2})", re.ASCII)


def _utc(ts: str) -> datetime:
    local = datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    m = TS_ZONE.fullmatch(ts[19:])
    assert m, ts
    if m[1]:
        return local
    offset = timedelta(hours=int(m[3]), minutes=int(m[4]))
    assert offset < timedelta(hours=16), ts  # PostgreSQL's limit
    return local - offset if m[2] == "+" else local + offset


def _assert_columns_take(dataset: str, row: dict) -> None:
    for column in NUMERIC.get(dataset, ()):
        assert row[column] is None or WRITTEN_OUT.fullmatch(row[column]), (column, row[column])
    if dataset == "electricity_consumption":
        assert DIVISION_CHECK.fullmatch(row["division_code"])
    if dataset == "enterprises":
        assert USCC_CHECK.fullmatch(row["uscc"]) and PHONE_CHECK.fullmatch(row["phone"]), row
        assert row["name"] != "" and DIVISION_CHECK.fullmatch(row["division_code"])
        assert row["registered_on"] <= row["updated_on"] <= date(2025, 6, 30)
    if dataset == "equipment_telemetry":
        assert _utc(row["ts"]).date() == date.fromisoformat(_period(dataset)), row["ts"]
        assert 0 <= int(row["runtime_min"]) <= 60 and 0 <= int(row["output_units"]) < 2**31
        assert number_fault(row["energy_kwh"], signed=False) is None
    for value in row.values():
        assert not isinstance(value, str) or "\x00" not in value


def _assert_rows_plus_rejects(dataset: str, records: list[dict]):
    """Validates ``records``: each becomes a row or a reject with a reason, and every row holds only what
    its raw table's columns take. Returns the validated page."""
    page = validate(dataset, PROVINCE, _period(dataset), records)
    positions = page.rows.column("record_position").to_pylist() if "record_position" in page.rows.column_names else []
    rejected = [r.record_position for r in page.rejects]
    assert page.rows_in == len(records)
    if dataset != "equipment_telemetry":  # telemetry rows carry no position: their count says it
        assert sorted(positions + rejected) == list(range(len(records)))
    assert len(set(rejected)) == len(rejected)
    for reject in page.rejects:
        assert reject.reason and reject.reason != UNEXPLAINED, reject
    for row in page.rows.to_pylist():
        _assert_columns_take(dataset, row)
    return page


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize(("records_of", "most"), [(valid_records, 6), (mutated_records, 5)], ids=["valid", "mutated"])
@PROPERTIES
@given(data=st.data())
def test_valid_records_all_pass_mutated_ones_are_rows_or_rejects_with_reasons_never_an_exception(
    dataset, records_of, most, data
):
    records = data.draw(records_of(dataset, PROVINCE, _period(dataset), data.draw(st.integers(1, most))))
    page = _assert_rows_plus_rejects(dataset, records)
    if records_of is valid_records:
        assert page.rejects == [] and page.rows.num_rows == len(records)


@pytest.mark.parametrize("dataset", DATASETS)
@settings(PROPERTIES, max_examples=60)
@given(data=st.data())
def test_random_records_are_rows_or_rejects_with_reasons_never_an_exception(dataset, data):
    _assert_rows_plus_rejects(dataset, data.draw(random_records(dataset)))


@PROPERTIES
@given(st.lists(st.one_of(st.text(max_size=30), st.sampled_from(ODD_NUMBERS), bounded_numbers()), max_size=8))
def test_the_column_wise_number_mask_agrees_with_the_text_check(texts):
    for signed in (True, False):
        expected = [number_fault(t, signed) is None for t in texts]
        assert number_mask(pa.array(texts, pa.string()), signed).to_pylist() == expected


@PROPERTIES
@given(
    local_day=st.sampled_from(["2025-06-02", "2025-06-03", "2025-06-04"]),
    hour=st.integers(0, 99),
    zone=st.one_of(
        st.just("Z"),
        st.tuples(st.sampled_from("+-"), st.integers(0, 30), st.sampled_from(":"), st.integers(0, 99)),
    ),
)
def test_a_reading_passes_exactly_when_its_hour_is_real_and_its_utc_instant_in_the_day(local_day, hour, zone):
    if zone == "Z":
        text, offset = "Z", timedelta(0)
        zone_ok = True
    else:
        sign, hours, colon, minutes = zone
        text = f"{sign}{hours:02d}{colon}{minutes:02d}"
        zone_ok = hours <= 14 and minutes <= 59
        offset = timedelta(hours=hours, minutes=minutes) * (1 if sign == "+" else -1)
    ts = f"{local_day}T{hour:02d}:00:00{text}"
    day = _period("equipment_telemetry")
    expected = (
        zone_ok
        and hour < 24
        and (datetime.fromisoformat(f"{local_day}T{hour:02d}:00:00") - offset).date() == date.fromisoformat(day)
    )
    record = {"device_id": "DEV-1", "enterprise_code": "91370100MA3C4XY79C", "ts": ts, "runtime_min": "60",
              "output_units": "12", "energy_kwh": "4.5", "fault_code": None}  # fmt: skip
    page = validate("equipment_telemetry", PROVINCE, day, [record])
    assert page.rows.num_rows == int(expected), (ts, [r.reason for r in page.rejects])
    assert all(r.reason.startswith("ts") for r in page.rejects)
