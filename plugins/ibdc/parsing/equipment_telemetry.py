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

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.parsing.base import PageRows, Records, Reject, text_faults
from ibdc.periods import parse_day
from ibdc.uscc import is_valid

# The columns a telemetry source serves (its contract with the platform).
COLUMNS = ("device_id", "enterprise_code", "ts", "runtime_min", "output_units", "energy_kwh", "fault_code")

# Column -> (pattern of a valid value, reason when it does not match). Text stays text: PostgreSQL's
# COPY converts it, and the patterns guarantee it will.
CHECKS: dict[str, tuple[str, str]] = {
    "device_id": (r"^[A-Za-z0-9][A-Za-z0-9_.:-]{2,63}$", "device_id missing or malformed"),
    "ts": (r"^\d{4}-\d{2}-\d{2}T\d{2}:00:00(Z|[+-]\d{2}:?\d{2})$", "ts is not an hour timestamp"),
    "runtime_min": (r"^([0-9]|[1-5][0-9]|60)$", "runtime_min must be an integer from 0 to 60"),
    "output_units": (r"^[0-9]{1,9}$", "output_units must be a non-negative integer"),
    "energy_kwh": (r"^[0-9]{1,12}(\.[0-9]+)?([eE][-+]?[0-9]+)?$", "energy_kwh must be a non-negative number"),
}
FAULT_CODE = r"^[A-Z][0-9]{3}$"
BAD_CREDIT_CODE = "enterprise_code is not a valid unified social credit code"


def _valid_credit_codes(codes: pa.ChunkedArray) -> pa.Array:
    """Per row: is the enterprise code a valid USCC (check digit included)? Computed once per distinct
    code: a province-day has millions of readings but only hundreds of enterprises."""
    distinct = pc.unique(codes).drop_null()
    good = pa.array([c for c in distinct.to_pylist() if is_valid(c)], pa.string())
    return pc.is_in(codes, value_set=good)


def _valid(table: pa.Table, day: str) -> pa.Array:
    mask = pc.and_kleene(pc.starts_with(table["ts"], day), _valid_credit_codes(table["enterprise_code"]))
    for column, (pattern, _) in CHECKS.items():
        mask = pc.and_kleene(mask, pc.match_substring_regex(table[column], pattern))
    faults = table["fault_code"]
    mask = pc.and_kleene(mask, pc.or_kleene(pc.is_null(faults), pc.match_substring_regex(faults, FAULT_CODE)))
    return pc.fill_null(mask, False)


def _reason(row: dict, day: str) -> str:
    refused = text_faults(row)
    if refused:
        return "; ".join(refused)
    # re.ASCII: \d as in RE2 (0-9), not Python's any Unicode digit.
    reasons = [why for col, (pattern, why) in CHECKS.items() if not re.match(pattern, row[col] or "", re.ASCII)]
    if not is_valid(row["enterprise_code"] or ""):
        reasons.append(BAD_CREDIT_CODE)
    if row["fault_code"] is not None and not re.match(FAULT_CODE, row["fault_code"]):
        reasons.append("fault_code is not a letter and three digits")
    if not reasons and not (row["ts"] or "").startswith(day):
        reasons.append(f"ts {row['ts']} is outside the partition day {day}")
    return "; ".join(reasons)


def validate(manifest: dict, obj: dict, records: Records) -> PageRows:
    day = manifest["period"]
    parse_day(day)
    page = records.table.select(list(COLUMNS))
    valid = _valid(page, day)
    bad = pc.indices_nonzero(pc.invert(valid)).to_pylist()
    rejects = [
        Reject(obj["key"], records.positions[i], records.raw_text(i), _reason(row, day))
        for i, row in zip(bad, page.take(pa.array(bad, pa.int64())).to_pylist(), strict=True)
    ]
    return PageRows(obj["key"], obj.get("version_id"), page.filter(valid), rejects)
