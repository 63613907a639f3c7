"""Validation that agrees with the database (issue 13, point 1): every value a validator accepts is
one PostgreSQL accepts in its column (``plugins/ibdc/loading/ddl.sql``).

Each fault here once passed validation and then failed the COPY of the whole partition on every retry
(or escaped the validator and failed the page): a credit code or phone number ending in a newline
(Python's ``$`` matches before a final newline, the table's CHECK does not), numbers such as
``1E+200000`` (written out as 200,001 digits) or ``1e99999999`` (``decimal.Overflow`` once scaled by
the unit's factor), telemetry timestamps at hour 24 or 99, or whose offset moves the reading into
another UTC day than its partition. Now each is its record's reject, with a reason."""

import decimal
import json

import pyarrow as pa
import pytest
from pydantic import BaseModel

from ibdc.parsing.base import Records, validate_records
from ibdc.uscc import is_valid
from tests.manifests import manifest_of
from tests.unit.test_parsing_text_controls import VALID, _second, _validate

USCC = VALID["enterprises"]["uscc"]
MAX_INTEGER_DIGITS, MAX_FRACTION_DIGITS = 20, 12  # ibdc.parsing.base's bounds (asserted below)


def _one_bad(dataset: str, **changes) -> str:
    """Validate a valid record and a changed one: the changed one must be the only reject; its reason."""
    page = _validate(dataset, [_second(dataset), dict(VALID[dataset], **changes)])
    assert page.rows.num_rows == 1, page.rows.to_pylist()
    assert [r.record_position for r in page.rejects] == [1]
    assert page.rejects[0].reason
    return page.rejects[0].reason


# --- codes and phone numbers: ASCII, the whole value -------------------------------------------------


@pytest.mark.parametrize("tail", ["\n", "\r\n", " "])
def test_a_credit_code_with_a_trailing_newline_is_not_valid(tail):
    assert is_valid(USCC) and not is_valid(USCC + tail)


def test_an_enterprise_whose_credit_code_ends_in_a_newline_is_rejected():
    assert "invalid unified social credit code" in _one_bad("enterprises", uscc=USCC + "\n")


def test_a_reading_whose_enterprise_code_ends_in_a_newline_is_rejected():
    reason = _one_bad("equipment_telemetry", enterprise_code=USCC + "\n")
    assert reason == "enterprise_code is not a valid unified social credit code"


@pytest.mark.parametrize("phone", ["13912345678\n", "0531-88886666\n", "１３９１２３４５６７８", "13912345678 "])
def test_a_phone_number_with_a_trailing_newline_or_full_width_digits_is_rejected(phone):
    assert "malformed phone number" in _one_bad("enterprises", phone=phone)


@pytest.mark.parametrize("field", ["device_id", "fault_code", "runtime_min", "output_units"])
def test_a_telemetry_value_ending_in_a_newline_is_rejected_with_a_reason(field):
    """RE2 (the Arrow mask) and Python's re (the reason) agree: before, the mask refused the value
    and the reason, from Python's ``$``, was empty."""
    reason = _one_bad("equipment_telemetry", **{field: VALID["equipment_telemetry"][field] + "\n"})
    assert field in reason


def test_a_period_in_full_width_digits_or_with_a_newline_is_the_records_reject():
    assert "partition is" in _one_bad("industrial_output", period="２０２５-06")
    assert "partition is" in _one_bad("electricity_consumption", period="2025-06\n")


def test_a_registration_date_with_a_newline_is_rejected():
    assert "registered_on" in _one_bad("enterprises", registered_on="2016-03-01\n")


# --- numbers: bounded syntax checked on the text, before any arithmetic ----------------------------------


HUGE = ["1e99999999", "1E+200000", "1e-99999999", "9" * 5000, "0." + "0" * 5000 + "1"]


@pytest.mark.parametrize("served", HUGE)
@pytest.mark.parametrize("field", ["current_month", "cumulative"])
def test_output_refuses_a_number_too_large_to_write_out(served, field):
    """``1e99999999`` once raised ``decimal.Overflow`` (scaled by the unit's factor) out of the
    validator, failing the page; ``1E+200000`` passed and was written out as 200,001 digits."""
    changes = {field: served, "cumulative": "99999"} if field == "current_month" else {field: served}
    reason = _one_bad("industrial_output", **changes)
    assert field in reason and ("out of bounds" in reason or "valid decimal" in reason)


@pytest.mark.parametrize("served", HUGE)
def test_electricity_refuses_a_number_too_large_to_write_out(served):
    reason = _one_bad("electricity_consumption", cumulative=served, consumption="1")
    assert "cumulative" in reason


@pytest.mark.parametrize("served", [*HUGE, "1e5000", "1.5e-99", "NaN", "Infinity", "1_000", "٤.٥", "４.５", "4.5\n"])
def test_telemetry_refuses_an_energy_figure_postgresql_would_not_take_or_write_out(served):
    reason = _one_bad("equipment_telemetry", energy_kwh=served)
    assert "energy_kwh" in reason


def test_output_values_within_bounds_are_written_out_exactly():
    page = _validate(
        "industrial_output",
        [dict(VALID["industrial_output"], current_month="1.5E+3", cumulative="12345678901234567890.123456789012")],
    )
    assert page.rejects == []
    (row,) = page.rows.to_pylist()
    assert row["value_current_month"] == "1500" and row["value_current_month_base"] == "15000000"
    assert row["value_cumulative_base"] == "123456789012345678901234.567890120000"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0", True),
        ("-0", True),
        ("12.50", True),
        ("1E+2", True),
        ("1e-12", True),
        ("1" * MAX_INTEGER_DIGITS, True),
        ("1" * (MAX_INTEGER_DIGITS + 1), False),
        ("0." + "1" * MAX_FRACTION_DIGITS, True),
        ("0." + "1" * (MAX_FRACTION_DIGITS + 1), False),
        ("1e-13", False),  # written out: 13 places
        ("1" * MAX_INTEGER_DIGITS + "e1", False),  # written out: 21 digits before the point
        ("1e20", False),
        ("1e19", True),
        ("1e999", False),
        ("+1", False),
        (".5", False),
        ("5.", False),
        ("1 ", False),
        ("1\n", False),
        ("NaN", False),
        ("-Infinity", False),
        ("0x10", False),
        ("1_000", False),
        ("١٢٣", False),
        ("", False),
    ],
)
def test_number_text_bounds_and_the_column_wise_mask_agree(text, ok):
    from ibdc.parsing import base
    from ibdc.parsing.base import number_fault, number_mask

    assert (base.MAX_INTEGER_DIGITS, base.MAX_FRACTION_DIGITS) == (MAX_INTEGER_DIGITS, MAX_FRACTION_DIGITS)
    assert (number_fault(text, signed=True) is None) is ok
    assert number_mask(pa.array([text]), signed=True).to_pylist() == [ok]


def test_an_unsigned_number_refuses_a_sign():
    from ibdc.parsing.base import number_fault, number_mask

    assert number_fault("-1", signed=False) is not None and number_fault("1", signed=False) is None
    assert number_mask(pa.array(["-1", "1", None]), signed=False).to_pylist() == [False, True, False]


# --- telemetry timestamps: strict, in the partition's UTC day ----------------------------------------

DAY = "2025-06-03"


@pytest.mark.parametrize(
    ("ts", "why"),
    [
        ("2025-06-03T24:00:00Z", "not a valid"),
        ("2025-06-03T99:00:00Z", "not a valid"),
        ("2025-06-03T23:60:00Z", "hour timestamp"),
        ("2025-06-31T05:00:00Z", "not a valid"),  # June has 30 days; Arrow alone reads July 1st
        ("2025-06-03T05:00:00+25:00", "hour timestamp"),
        ("2025-06-03T05:00:00+14:61", "hour timestamp"),
        ("2025-06-03T05:00:00+08:00\n", "hour timestamp"),
        ("2025-06-03T01:00:00+08:00", "outside the partition day 2025-06-03"),  # 2025-06-02 17:00 UTC
        ("2025-06-03T20:00:00-05:00", "outside the partition day 2025-06-03"),  # 2025-06-04 01:00 UTC
        ("2025-06-04T00:00:00Z", "outside the partition day 2025-06-03"),
    ],
)
def test_a_timestamp_postgresql_reads_otherwise_or_outside_the_utc_day_is_rejected(ts, why):
    reason = _one_bad("equipment_telemetry", ts=ts)
    assert reason.startswith("ts") and why in reason


@pytest.mark.parametrize(
    "ts",
    ["2025-06-03T00:00:00Z", "2025-06-03T23:00:00Z", "2025-06-03T13:00:00+08:00", "2025-06-04T07:00:00+0800",
     "2025-06-02T22:00:00-02:00", "2025-06-03T05:00:00+00:00"],
)  # fmt: skip
def test_a_timestamp_in_the_utc_day_is_taken_whatever_its_offset(ts):
    page = _validate("equipment_telemetry", [dict(VALID["equipment_telemetry"], ts=ts)])
    assert page.rejects == [] and page.rows.column("ts").to_pylist() == [ts]


# --- any arithmetic or encoding error is its record's reject ---------------------------------------------


class _Plain(BaseModel):
    province_code: str
    period: str
    value: str


@pytest.mark.parametrize(
    "error", [decimal.Overflow, decimal.InvalidOperation, ZeroDivisionError, OverflowError, UnicodeEncodeError]
)
def test_an_arithmetic_or_encoding_error_in_a_record_is_its_reject_with_a_reason(error):
    def to_row(rec, position):
        if rec.value == "bad":
            if error is UnicodeEncodeError:
                rec.value.replace("bad", "\ud800").encode("utf-8")
            raise error("boom")
        return {"value": rec.value, "record_position": position}

    items = [{"province_code": "130000", "period": "2025-06", "value": v} for v in ("good", "bad")]
    table = pa.Table.from_pylist(items)
    schema = pa.schema([("value", pa.string()), ("record_position", pa.int32())])
    manifest = manifest_of("industrial_output", "130000", "2025-06", key="k")
    page = validate_records(
        _Plain,
        to_row,
        schema,
        manifest,
        manifest.objects[0],
        Records(table, [0, 1], lambda i: json.dumps(items[i])),
    )
    assert page.rows.column("value").to_pylist() == ["good"]
    (reject,) = page.rejects
    assert reject.record_position == 1 and error.__name__ in reject.reason


@pytest.mark.parametrize(
    ("dataset", "field"),
    [("industrial_output", "product_code"), ("industrial_output", "cumulative"), ("industrial_output", "province_code"),
     ("electricity_consumption", "division_code"), ("enterprises", "uscc"), ("enterprises", "phone"),
     ("enterprises", "size_class"), ("equipment_telemetry", "energy_kwh"), ("equipment_telemetry", "ts")],
)  # fmt: skip
def test_a_reason_quotes_at_most_the_start_of_a_megabyte_value(dataset, field):
    """The raw text keeps what was served; the reason names the value by its first characters."""
    reason = _one_bad(dataset, **{field: "9" * 1_000_000})
    assert len(reason) < 300 and (field in reason or "record is for" in reason)


def test_a_number_given_as_a_python_number_is_checked_as_its_text_never_written_out():
    from decimal import Decimal

    from ibdc.parsing.base import ascii_number

    for value in (Decimal("1E+200000"), Decimal("1e99999999"), 1e300, float("nan"), True, 10**5000):
        with pytest.raises(ValueError):
            ascii_number(value)
    assert ascii_number(12) == "12" and ascii_number(Decimal("12.50")) == "12.50" and ascii_number(0.5) == "0.5"
