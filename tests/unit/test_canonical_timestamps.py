"""One instant, one text (issue 13): every wire format decodes a timestamp that follows the strict rule
(:mod:`ibdc.timestamps`, the telemetry validator's own) to ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, so that a
reading served as ``...T05:00:00Z`` and again as ``...T13:00:00+08:00`` is one key to the extraction's
repeat finding; a value the rule refuses is left exactly as served, for the validator's reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.formats import app_key, csv_download, jsonp, rest_json, signed_gateway
from ibdc.formats.base import table_from_records
from ibdc.parsing import equipment_telemetry
from ibdc.parsing.base import Records
from ibdc.schemas import EQUIPMENT_TELEMETRY
from ibdc.sources.adapters.repeats import RepeatIndex
from ibdc.timestamps import HOUR_TIMESTAMP, TIMESTAMP, canonical_timestamps
from ibdc.uscc import check_digit
from tests.manifests import manifest_of

DAY = "2026-10-01"
CREDIT_CODE = "91110000MA01ABCD0" + check_digit("91110000MA01ABCD0")
SAME_INSTANT = [
    "2026-10-01T05:00:00Z",
    "2026-10-01T13:00:00+08:00",
    "2026-10-01T13:00:00+0800",
    "2026-10-01T05:00:00+00:00",
    "2026-10-01T05:00:00-00:00",
    "2026-09-30T19:30:00-09:30",
    "2026-10-01T19:59:00+14:59",
]
# Values the rule refuses: each stays exactly as served (the validator says why).
REFUSED = [
    "2026-10-01T24:00:00+08:00",  # hour 24
    "2026-06-31T13:00:00+08:00",  # June 31st (Arrow's strptime alone reads July 1st)
    "2026-10-01T13:00:60+08:00",  # second 60
    "2026-10-01T13:60:00+08:00",  # minute 60
    "2026-10-01T13:00:00+15:00",  # offset past 14:59
    "2026-10-01T13:00:00+08:60",
    "2026-10-01T13:00:00+08",  # offset without minutes
    "2026-10-01 13:00:00+08:00",  # space for T
    "2026-10-01T13:00:00.000+08:00",  # a fraction
    "2026-10-01t13:00:00+08:00",
    "２026-10-01T13:00:00+08:00",  # a full-width digit
    "2026-10-01T13:00:00+08:00\n",
    "0001-01-01T00:00:00+01:00",  # UTC year 0
    "9999-12-31T23:00:00-02:00",  # UTC year 10000
    "2026-10-01T05:00:00z",
    "",
]


def test_every_spelling_of_one_instant_becomes_its_one_canonical_text():
    column = pa.array([*SAME_INSTANT, None], pa.string())
    assert canonical_timestamps(column).to_pylist() == ["2026-10-01T05:00:00Z"] * 6 + ["2026-10-01T05:00:00Z", None]


def test_values_the_rule_refuses_stay_exactly_as_served():
    column = pa.array([*REFUSED, "2026-10-01T13:00:00+08:00"], pa.string())
    assert canonical_timestamps(column).to_pylist() == [*REFUSED, "2026-10-01T05:00:00Z"]


def test_a_column_without_an_offset_is_returned_as_it_is_and_chunks_are_kept_apart_from_values():
    plain = pa.chunked_array([pa.array(["2026-10-01T05:00:00Z", "junk", None])])
    assert canonical_timestamps(plain) is plain
    chunked = pa.chunked_array([pa.array(["2026-10-01T13:00:00+08:00"]), pa.array([None, "2026-10-01T06:00:00Z"])])
    out = canonical_timestamps(chunked)
    assert isinstance(out, pa.ChunkedArray)
    assert out.to_pylist() == ["2026-10-01T05:00:00Z", None, "2026-10-01T06:00:00Z"]
    assert canonical_timestamps(pa.array([], pa.string())).to_pylist() == []


def test_the_validator_checks_timestamps_with_the_shared_rule():
    assert equipment_telemetry.TS is HOUR_TIMESTAMP
    assert re.fullmatch(HOUR_TIMESTAMP, "2026-10-01T13:00:00+08:00", re.ASCII)
    assert not re.fullmatch(HOUR_TIMESTAMP, "2026-10-01T13:30:00+08:00", re.ASCII)
    assert re.fullmatch(TIMESTAMP, "2026-10-01T13:30:00+08:00", re.ASCII)


def _readings(ts_values: list[str | None]) -> pa.Table:
    rows = [
        {
            "device_id": f"DEV-110000-{i:07d}",
            "enterprise_code": CREDIT_CODE,
            "ts": ts,
            "runtime_min": "60",
            "output_units": "12",
            "energy_kwh": "1.5",
            "fault_code": None,
        }
        for i, ts in enumerate(ts_values)
    ]
    return table_from_records(EQUIPMENT_TELEMETRY, rows)


# Every style's page of readings: (style module, encode).
JSON_STYLES = {
    "rest_json": (rest_json, lambda t: rest_json.encode(EQUIPMENT_TELEMETRY, t, t.num_rows, 0, 100)),
    "app_key": (app_key, lambda t: app_key.encode(EQUIPMENT_TELEMETRY, t, t.num_rows, 1)),
    "signed_gateway": (signed_gateway, lambda t: signed_gateway.encode(EQUIPMENT_TELEMETRY, t, t.num_rows)),
    "jsonp": (jsonp, lambda t: jsonp.encode(EQUIPMENT_TELEMETRY, t, t.num_rows, 1, 100, "cb")),
}


@pytest.mark.parametrize("style", list(JSON_STYLES))
def test_every_json_style_decodes_an_offset_to_the_canonical_text_and_keeps_the_served_raw_text(style):
    module, encode = JSON_STYLES[style]
    served = [*SAME_INSTANT, *REFUSED, None]
    page = module.decode(EQUIPMENT_TELEMETRY, encode(_readings(served)))
    n = len(SAME_INSTANT)
    assert page.table["ts"].to_pylist() == ["2026-10-01T05:00:00Z"] * n + REFUSED + [None]
    assert SAME_INSTANT[1] in page.raw_text(1)  # the quarantine's raw text: as served


def test_csv_download_writes_beijing_time_in_the_same_canonical_text():
    """csv_download converts its Beijing local times itself: its text is the one the JSON styles give."""
    body = csv_download.encode(EQUIPMENT_TELEMETRY, _readings(["2026-10-01T05:00:00Z"]), "gbk")
    assert "2026-10-01 13:00:00" in body.decode("gbk")
    page = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    canonical = canonical_timestamps(pa.array(["2026-10-01T13:00:00+08:00"])).to_pylist()
    assert page.table["ts"].to_pylist() == canonical == ["2026-10-01T05:00:00Z"]


def test_csv_download_cell_served_with_an_offset_is_the_same_canonical_text():
    """A csv_download cell written with an offset (not the portal's Beijing local time) is the same
    instant in the same text: one key with its local-time spelling."""
    body = csv_download.encode(EQUIPMENT_TELEMETRY, _readings(["2026-10-01T05:00:00Z"]), "gbk")
    served = body.decode("gbk").replace("2026-10-01 13:00:00", "2026-10-01T13:00:00+08:00").encode("gbk")
    assert b"+08:00" in served
    page = csv_download.decode(EQUIPMENT_TELEMETRY, served)
    assert page.table["ts"].to_pylist() == ["2026-10-01T05:00:00Z"]


def test_two_spellings_of_one_reading_are_one_key_to_the_repeat_finding():
    first = _readings(["2026-10-01T05:00:00Z", "2026-10-01T06:00:00Z"])
    again = first.slice(0, 2).set_column(2, "ts", pa.array(["2026-10-01T13:00:00+08:00", "2026-10-01T14:00:00+0800"]))
    again = again.set_column(5, "energy_kwh", pa.array(["1.5", "7"]))  # the second one differs
    index = RepeatIndex(EQUIPMENT_TELEMETRY)
    try:
        for page, table in enumerate((first, again)):
            index.add(
                page, rest_json.decode(EQUIPMENT_TELEMETRY, rest_json.encode(EQUIPMENT_TELEMETRY, table, 4, 0, 9)).table
            )
        found = index.repeats()
    finally:
        index.close()
    assert [(d["page"], d["index"], d["key"][1], d["first"], d["identical"]) for d in found] == [
        (1, 0, "2026-10-01T05:00:00Z", [0, 0], True),
        (1, 1, "2026-10-01T06:00:00Z", [0, 1], False),
    ]


def _validated(ts: str) -> tuple[int, list[str]]:
    """(rows the telemetry validator passes, its reasons) for one reading at ``ts`` in DAY's partition."""
    manifest = manifest_of("equipment_telemetry", "110000", DAY, key="k")
    page = equipment_telemetry.validate(manifest, manifest.objects[0], Records(_readings([ts]), [0], lambda i: ts))
    return page.rows.num_rows, [r.reason for r in page.rejects]


moments = st.datetimes(min_value=datetime(2026, 9, 29), max_value=datetime(2026, 10, 3))
offsets = st.integers(min_value=-(14 * 60 + 59), max_value=14 * 60 + 59)


@settings(max_examples=150)
@given(moments, offsets, st.booleans(), st.booleans())
def test_the_canonical_text_is_the_same_instant_and_validates_as_the_served_one(moment, minutes, colon, hour):
    """The same instant, always; the validator's verdict unchanged for a zone of whole hours (in a zone
    such as +05:30 an hour written locally is not one in UTC: decoded, the reading's hour is UTC's)."""
    moment = moment.replace(microsecond=0, **({"minute": 0, "second": 0} if hour else {}))
    sign, off = ("-" if minutes < 0 else "+"), abs(minutes)
    served = f"{moment:%Y-%m-%dT%H:%M:%S}{sign}{off // 60:02d}{':' if colon else ''}{off % 60:02d}"
    (canonical,) = canonical_timestamps(pa.array([served])).to_pylist()
    instant = moment.replace(tzinfo=UTC) - timedelta(minutes=minutes)
    assert canonical == f"{instant:%Y-%m-%dT%H:%M:%S}Z"
    if minutes % 60 == 0:  # a whole-hour zone (China's +08:00): an hour written locally is an hour in UTC
        accepted, reasons = _validated(served)
        assert _validated(canonical)[0] == accepted, reasons
