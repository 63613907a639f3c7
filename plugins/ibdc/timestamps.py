"""Timestamps as sources write them: one strict rule, and one canonical text per instant.

A timestamp is ``YYYY-MM-DDTHH:MM:SS`` followed by ``Z`` or an offset from -14:59 to +14:59
(``+08:00`` or ``+0800``; PostgreSQL reads offsets up to 15:59, real zones span -12:00 to +14:00),
and is a real date and time: no hour 24 (PostgreSQL reads it as the next day's 00:00), no minute or
second 60, no June 31st (Arrow's ``strptime`` alone reads that as July 1st), its UTC instant within
the years 1-9999. The patterns here are ASCII-only (``[0-9]``, never ``\\d``), to be matched against
the whole value (RE2: anchored; Python: ``re.fullmatch``).

The wire formats write every timestamp that follows the rule in its canonical text,
``YYYY-MM-DDTHH:MM:SSZ`` in UTC (:func:`canonical_timestamps`), so that one instant written two ways
(``2026-10-01T05:00:00Z``, ``2026-10-01T13:00:00+08:00``) is one key; a value that does not follow it
is left exactly as served, for the validators to refuse with their reason. The telemetry validator
(``ibdc.parsing.equipment_telemetry``) admits hours only (:data:`HOUR_TIMESTAMP`).

Column-wise with Arrow, on the distinct values only (a province-day of readings holds 24 instants).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
OFFSET = r"[+-](?:0[0-9]|1[0-4]):?[0-5][0-9]"
ZONE = rf"(?:Z|{OFFSET})"
TIMESTAMP = rf"{DATE}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{ZONE}"
HOUR_TIMESTAMP = rf"{DATE}T[0-9]{{2}}:00:00{ZONE}"  # what an hourly reading's ts must be
CANONICAL_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"
LOCAL_CHARS = 19  # YYYY-MM-DDTHH:MM:SS

_WITH_OFFSET = rf"^{DATE}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}{OFFSET}$"
_STAND_IN = "2000-01-01T00:00:00+00:00"


def _number(values: pa.Array, start: int, stop: int) -> pa.Array:
    return pc.cast(pc.utf8_slice_codeunits(values, start, stop), pa.int64())


def _utc_text(values: pa.Array) -> pa.Array:
    """Text values each matching :data:`TIMESTAMP` with an offset -> their canonical UTC text, or
    null where the rule refuses the value (not a real date and time, out of the years 1-9999)."""
    local = pc.strptime(pc.utf8_slice_codeunits(values, 0, LOCAL_CHARS), LOCAL_FORMAT, "s", error_is_null=True)
    # strptime rolls June 31st into July 1st and second 60 into the next minute: the day and the
    # second it read are the ones written (it refuses hour 24 and minute 60 itself).
    real = pc.and_(pc.equal(pc.day(local), _number(values, 8, 10)), pc.equal(pc.second(local), _number(values, 17, 19)))
    instant = pc.strptime(values, LOCAL_FORMAT + "%z", "s", error_is_null=True)
    year = pc.year(instant)
    in_range = pc.and_(pc.greater_equal(year, 1), pc.less_equal(year, 9999))
    return pc.if_else(pc.and_kleene(real, in_range), pc.strftime(instant, CANONICAL_FORMAT), None)


def canonical_timestamps(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A text column of timestamps with every value that follows the rule (module docstring) written
    ``YYYY-MM-DDTHH:MM:SSZ`` in UTC; any other value (and null) exactly as it is. Returns ``column``
    itself when no value has an offset (``Z`` values following the rule are canonical already)."""
    if not len(column):
        return column
    whole = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    encoded = pc.dictionary_encode(whole)
    distinct = encoded.dictionary
    offset = pc.fill_null(pc.match_substring_regex(distinct, _WITH_OFFSET), False)
    if not pc.any(offset).as_py():
        return column
    # Only the values with an offset are read (the others stand in as one that reads), and a value
    # the rule refuses keeps its text.
    utc = _utc_text(pc.if_else(offset, distinct, _STAND_IN))
    rewritten = pc.if_else(offset, pc.coalesce(utc, distinct), distinct)
    out = pc.take(rewritten, encoded.indices)
    return pa.chunked_array([out]) if isinstance(column, pa.ChunkedArray) else out
