"""Hourly equipment telemetry: CSV pages -> canonical rows, validated column-wise with Arrow.

Every check is a vectorised mask over the page, so validation costs the same per row at thousands
or millions of rows; only the (few) rejected rows are looked at one by one, to say why.

Text: every column's check admits printable ASCII only (its pattern; a valid credit code for
``enterprise_code``), so no character the shared text check refuses (``ibdc.parsing.base.text_fault``:
NUL and the other control characters but tab, line feed and carriage return, U+FFFD) passes the
mask, and a page needs no further scan for them; a row holding one is rejected with the shared
check's reason, which names the character.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.formats.base import by_distinct_value
from ibdc.landing.manifest import Manifest, ManifestObject
from ibdc.parsing.base import PageRows, Records, Reject, number_fault, number_mask, text_faults
from ibdc.periods import parse_day
from ibdc.timestamps import HOUR_TIMESTAMP
from ibdc.uscc import is_valid

# The columns a telemetry source serves (its contract with the platform).
COLUMNS = ("device_id", "enterprise_code", "ts", "runtime_min", "output_units", "energy_kwh", "fault_code")

# Column -> (pattern of a valid value, reason when it does not match). Text stays text: PostgreSQL's
# COPY converts it, and the patterns guarantee it will. Each pattern is ASCII-only ([0-9], never \d)
# and matched against the whole value: anchored ^(?:...)$ for RE2 (Arrow), where $ is the end of the
# text, and re.fullmatch for Python's re (the reasons), where $ would also match before a final
# newline. runtime_min: smallint CHECK 0-60; output_units: integer (at most 9 digits, inside 2**31).
CHECKS: dict[str, tuple[str, str]] = {
    "device_id": (r"[A-Za-z0-9][A-Za-z0-9_.:-]{2,63}", "device_id missing or malformed"),
    "runtime_min": (r"[0-9]|[1-5][0-9]|60", "runtime_min must be an integer from 0 to 60"),
    "output_units": (r"[0-9]{1,9}", "output_units must be a non-negative integer"),
}
FAULT_CODE = r"[A-Z][0-9]{3}"
BAD_CREDIT_CODE = "enterprise_code is not a valid unified social credit code"
BAD_ENERGY = "energy_kwh must be a non-negative number"

# ts: an hour, "Z" or an offset from -14:59 to +14:59 (PostgreSQL reads up to 15:59; real zones span
# -12:00 to +14:00); then a real date and time (no hour 24, which PostgreSQL reads as the next day's
# 00:00, no June 31st, which Arrow's strptime alone reads as July 1st), whose UTC instant is in the
# partition's UTC day (raw.equipment_telemetry.ts is timestamptz, period_day the UTC day; the decoders
# give "...Z", csv_download converting Beijing time to UTC). The rule is ibdc.timestamps', shared with
# the decoders, which write each timestamp following it in its one canonical UTC text.
TS = HOUR_TIMESTAMP
BAD_TS = "ts is not an hour timestamp"
LOCAL = "%Y-%m-%dT%H:%M:%S"
LOCAL_CHARS = 19  # YYYY-MM-DDTHH:MM:SS
OFFSET = re.compile(r"(?P<sign>[+-])(?P<hours>[0-9]{2}):?(?P<minutes>[0-9]{2})", re.ASCII)
# Should a rejected row find no reason (the mask and the reasons disagreeing: a bug), it still gets one.
UNEXPLAINED = "reading refused by the column checks (no single check names why: please report)"


def _whole(pattern: str) -> str:
    """``pattern`` for RE2 matching the whole value."""
    return f"^(?:{pattern})$"


def _matches(value: str | None, pattern: str) -> bool:
    return value is not None and re.fullmatch(pattern, value, re.ASCII) is not None


def _valid_credit_codes(codes: pa.Array) -> pa.Array:
    """Per code: is it a valid USCC (check digit included)? Run on a column's distinct codes
    (:func:`_valid`): a province-day has millions of readings but only hundreds of enterprises."""
    return pa.array([is_valid(code) for code in codes.to_pylist()], pa.bool_())


def _day_bounds(day: str) -> tuple[pa.Scalar, pa.Scalar]:
    start = datetime.combine(parse_day(day), datetime.min.time(), UTC)
    kind = pa.timestamp("s", "UTC")
    return pa.scalar(start, kind), pa.scalar(start + timedelta(days=1), kind)


def _ts_in_day(ts: pa.ChunkedArray, day: str) -> pa.ChunkedArray:
    """Per row, column-wise: ``ts`` is an hour timestamp (TS), a real date and time, and its UTC
    instant falls in the partition's UTC ``day``."""
    local = pc.strptime(pc.utf8_slice_codeunits(ts, 0, LOCAL_CHARS), LOCAL, "s", error_is_null=True)
    # strptime alone reads June 31st as July 1st: the day it read is the day written (strftime, which
    # would say so too, costs ten times all the rest).
    day_read = pc.utf8_lpad(pc.cast(pc.day(local), pa.string()), 2, "0")
    real = pc.equal(day_read, pc.utf8_slice_codeunits(ts, 8, 10))
    instant = pc.strptime(ts, LOCAL + "%z", "s", error_is_null=True)  # UTC; "Z", "+08:00", "+0800"
    start, end = _day_bounds(day)
    in_day = pc.and_kleene(pc.greater_equal(instant, start), pc.less(instant, end))
    return pc.and_kleene(pc.and_kleene(pc.match_substring_regex(ts, _whole(TS)), real), in_day)


def _valid(table: pa.Table, day: str) -> pa.Array:
    """Per row: does every column pass its check? Each check is a function of its column's value
    alone, so it runs on the column's distinct values (:func:`by_distinct_value`: a province-day's
    240,000 readings hold 24 timestamps, a page's 5,000 some 210 devices)."""

    def check(column: str, rule: Callable[[pa.Array], pa.Array]) -> pa.Array:
        return by_distinct_value(table[column], rule)

    mask = pc.and_kleene(check("ts", lambda ts: _ts_in_day(ts, day)), check("enterprise_code", _valid_credit_codes))
    for column, (pattern, _) in CHECKS.items():
        mask = pc.and_kleene(mask, check(column, lambda values, p=pattern: pc.match_substring_regex(values, _whole(p))))
    mask = pc.and_kleene(mask, check("energy_kwh", lambda values: number_mask(values, signed=False)))
    fault_ok = pc.or_kleene(
        pc.is_null(table["fault_code"]),
        check("fault_code", lambda values: pc.match_substring_regex(values, _whole(FAULT_CODE))),
    )
    return pc.fill_null(pc.and_kleene(mask, fault_ok), False)


def _ts_reason(ts: str | None, day: str) -> str | None:
    """Why a reading's ``ts`` is refused (one row: the mask's rules in Python), or None."""
    if not _matches(ts, TS):
        return BAD_TS
    try:
        local = datetime.strptime(ts[:LOCAL_CHARS], LOCAL)  # strict: no hour 24, no June 31st
    except ValueError:
        return f"ts {ts} is not a valid date and time"
    zone = ts[LOCAL_CHARS:]
    offset = timedelta(0)
    if zone != "Z" and (m := OFFSET.fullmatch(zone)):
        offset = timedelta(hours=int(m["hours"]), minutes=int(m["minutes"])) * (-1 if m["sign"] == "-" else 1)
    try:
        instant = local - offset
    except OverflowError:
        return f"ts {ts} is not a valid date and time"
    if instant.date() != date.fromisoformat(day):
        in_utc = "" if zone == "Z" else f" (UTC {instant:%Y-%m-%dT%H:%M:%S}Z)"
        return f"ts {ts}{in_utc} is outside the partition day {day}"
    return None


def _reason(row: dict, day: str) -> str:
    refused = text_faults(row)
    if refused:
        return "; ".join(refused)
    reasons = []
    for column in COLUMNS:  # in the columns' order
        value = row[column]
        if column in CHECKS and not _matches(value, CHECKS[column][0]):
            reasons.append(CHECKS[column][1])
        elif column == "ts" and (why := _ts_reason(value, day)) is not None:
            reasons.append(why)
        elif column == "energy_kwh" and (why := None if value is None else number_fault(value, signed=False)):
            reasons.append(f"energy_kwh {why}" if "out of bounds" in why else BAD_ENERGY)
        elif column == "energy_kwh" and value is None:
            reasons.append(BAD_ENERGY)
        elif column == "enterprise_code" and not is_valid(value):
            reasons.append(BAD_CREDIT_CODE)
        elif column == "fault_code" and value is not None and not _matches(value, FAULT_CODE):
            reasons.append("fault_code is not a letter and three digits")
    return "; ".join(reasons) or UNEXPLAINED


def validate(manifest: Manifest, obj: ManifestObject, records: Records) -> PageRows:
    day = manifest.period
    parse_day(day)
    page = records.table.select(list(COLUMNS))
    valid = _valid(page, day)
    bad = pc.indices_nonzero(pc.invert(valid)).to_pylist()
    rejects = [
        Reject(obj.key, records.positions[i], records.raw_text(i), _reason(row, day))
        for i, row in zip(bad, page.take(pa.array(bad, pa.int64())).to_pylist(), strict=True)
    ]
    return PageRows(obj.key, obj.version_id, page.filter(valid) if bad else page, rejects)
