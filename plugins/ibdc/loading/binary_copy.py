"""A load's rows in PostgreSQL's binary COPY format, encoded from Arrow by ``pgpq`` (issue 20).

In text (CSV) COPY, PostgreSQL parses every field of every row: a timestamp, a number, and the
lineage every raw row carries (the partition's province and date, the batch's uuid, the object's key
and version). For a telemetry province-day (240,000 rows) that took the server 1.45-1.92 s here, and
1.01-1.16 s in binary, where each value arrives in its type's own representation and the server only
checks it (constraints, encoding): about as long as the same rows without their lineage in CSV
(1.02-1.35 s). The parsing moves to the load's worker, which scales out; the warehouse does not.

The validators' canonical text is cast to each column's type by Arrow, then encoded by pgpq (Rust).
Only exact conversions are made; rows with any value that has none here are sent as CSV instead
(:meth:`BinaryRows.encode` returns None), so what is stored never depends on the format:

- ``numeric``: a plain decimal (an optional sign, digits, an optional point and digits; no exponent)
  keeps the scale it was written with, as PostgreSQL's own input does (``2.50`` stays ``2.50``,
  ``2`` stays ``2``): the rows are sent in groups of one scale per numeric column, each as an Arrow
  decimal of that scale; an exponent, or more than 38 digits in all, leaves the rows to CSV.
- ``timestamp with time zone``: a value stating its zone (the validators' canonical ``...Z``); one
  without would be read in the session's zone by PostgreSQL: the rows go as CSV.
- ``uuid``: each distinct value parsed once (a load has one batch id); ``date``, ``smallint``,
  ``integer``, ``bigint``, ``boolean`` by Arrow's cast, which refuses what it cannot read exactly
  (the rows then go as CSV, and PostgreSQL reports what it refuses, as before).
- ``text``: as it is (UTF-8; PostgreSQL verifies it as it does in text COPY).

A table with a column of another type is loaded in CSV (:func:`binary_rows` returns None).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from pgpq import ArrowToPostgresBinaryEncoder

# The binary COPY stream's header (signature, flags 0, no header extension) and trailer (a field count
# of -1): PostgreSQL's documentation, COPY, "Binary Format".
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
MAX_DECIMAL_DIGITS = 38  # an Arrow decimal128's precision
UUID_BYTES = pa.binary(16)  # a uuid's binary form is its 16 bytes, as a bytea's
PLAIN_DECIMAL = r"^[+-]?(\d+\.?\d*|\.\d+)$"  # what numeric_in reads with the scale as written
ZONED = r"(Z|[+-]\d\d(:?\d\d)?)$"
CAST = {
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
}
SUPPORTED = frozenset({*CAST, "numeric", "uuid"})


def column_types(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """``table``'s columns -> their types as ``format_type`` names them (``timestamp with time zone``)."""
    return dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (table,),
        ).fetchall()
    )


def binary_rows(types: Mapping[str, str]) -> BinaryRows | None:
    """An encoder for a table of these column types, or None when one has no binary form here."""
    return BinaryRows(types) if set(types.values()) <= SUPPORTED else None


class BinaryRows:
    """Encodes text tables whose columns are named as a table's with ``types`` (name -> type)."""

    def __init__(self, types: Mapping[str, str]) -> None:
        self.types = dict(types)
        self._constants: dict[tuple[str, str | None], pa.Scalar] = {}

    def encode(self, rows: pa.Table, constants: Mapping[str, str | None] = {}) -> list[bytes] | None:  # noqa: B006
        """The binary COPY tuples (no header nor trailer: :data:`HEADER` and :data:`TRAILER` are the
        COPY's, written once) of ``rows`` (canonical text) and, after its columns, ``constants``
        (column -> one text value for every row: a page's lineage), in that column order; None when a
        value has no exact binary form here (the caller sends the rows as CSV)."""
        try:
            typed = pa.table({name: self._typed(name, rows.column(name)) for name in rows.column_names})
            lineage = {name: self._constant(name, value) for name, value in constants.items()}
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, _NoBinaryForm):
            return None
        numeric = [name for name in rows.column_names if self.types[name] == "numeric"]
        out = []
        # Rows of one scale per numeric column together (sorted once, then sliced: no copy a group).
        for scales, group in _scale_groups(typed, numeric):
            for name, scale in zip(numeric, scales, strict=True):
                at = group.schema.get_field_index(name)
                try:
                    exact = pc.cast(group.column(at), pa.decimal128(MAX_DECIMAL_DIGITS, scale))
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    return None  # past 38 digits
                group = group.set_column(at, name, exact)
            for name, value in lineage.items():
                group = group.append_column(name, pa.repeat(value, group.num_rows))
            out.append(self._tuples(group))
        return out

    def _typed(self, name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
        kind = self.types[name]
        if kind == "numeric":
            if not _all(pc.match_substring_regex(column, PLAIN_DECIMAL)):
                raise _NoBinaryForm(name)
            # At most 38 digits in all (leading zeros counted): a decimal128 of the value's scale then
            # holds it exactly. Past that, Arrow's cast of a value with a fraction wraps around
            # instead of raising (pyarrow 26): "1" * 28 + ".0001" became a negative number.
            # A value is at least as long as its digits: only a page with a longer one counts them.
            longest = pc.max(pc.utf8_length(column)).as_py() or 0
            if longest > MAX_DECIMAL_DIGITS:
                digits = pc.utf8_length(pc.replace_substring_regex(column, "[^0-9]", ""))
                if not _all(pc.less_equal(digits, MAX_DECIMAL_DIGITS)):
                    raise _NoBinaryForm(name)
            return column  # cast per group of one scale (encode)
        if kind == "uuid":
            encoded = pc.dictionary_encode(column).combine_chunks()
            distinct = [None if v is None else uuid.UUID(v).bytes for v in encoded.dictionary.to_pylist()]
            return pa.chunked_array([pc.take(pa.array(distinct, UUID_BYTES), encoded.indices)])
        if kind == "timestamp with time zone" and not _all(pc.match_substring_regex(column, ZONED)):
            raise _NoBinaryForm(name)  # a naive time would be read in the session's zone
        return pc.cast(column, CAST[kind])

    def _constant(self, name: str, value: str | None) -> pa.Scalar:
        """``value`` of column ``name`` as a typed scalar (each distinct one converted once)."""
        key = (name, value)
        if key not in self._constants:
            kind = self.types[name]
            if kind == "numeric" or (kind == "timestamp with time zone" and value is not None):
                raise _NoBinaryForm(name)  # not a lineage column's type
            if kind == "uuid":
                typed = pa.scalar(None if value is None else uuid.UUID(value).bytes, UUID_BYTES)
            else:
                typed = pc.cast(pa.scalar(value, pa.string()), CAST[kind])
            self._constants[key] = typed
        return self._constants[key]

    @staticmethod
    def _tuples(table: pa.Table) -> bytes:
        """``table``'s rows as binary COPY tuples. pgpq keeps what it encodes in a buffer of its own
        until ``finish`` (which ends it with the trailer): an encoder a call, its trailer cut off."""
        encoder = ArrowToPostgresBinaryEncoder(table.schema)
        if encoder.write_header() != HEADER:
            raise RuntimeError("pgpq's binary COPY header is not PostgreSQL's documented one")
        parts = [encoder.write_batch(batch) for batch in table.to_batches()]
        end = encoder.finish()
        if not end.endswith(TRAILER):
            raise RuntimeError("pgpq's binary COPY trailer is not PostgreSQL's documented one")
        parts.append(end[: -len(TRAILER)])
        return b"".join(parts)


class _NoBinaryForm(Exception):
    pass


def _all(mask: pa.ChunkedArray) -> bool:
    """Whether every value matched (a null is a missing value: nothing to convert)."""
    return pc.all(pc.fill_null(mask, True)).as_py() is not False


def _scale_groups(table: pa.Table, numeric: list[str]) -> list[tuple[tuple[int, ...], pa.Table]]:
    """``table``'s rows in groups of one scale per ``numeric`` column (the digits after its value's
    point, as written; a null's taken as 0: it has no digits to keep): (the scales, the group's rows),
    the rows ordered by group (one take), each group a slice of them."""
    if not numeric:
        return [((), table)]
    scales = []
    for name in numeric:
        column = table.column(name)
        dot = pc.find_substring(column, ".")
        after = pc.subtract(pc.subtract(pc.utf8_length(column), dot), 1)
        scales.append(pc.fill_null(pc.if_else(pc.less(dot, 0), 0, after), 0))
    key = scales[0]
    for scale in scales[1:]:  # one number per combination: a scale is at most 38 (< 64: _typed's digits)
        key = pc.add(pc.multiply(key, 64), scale)
    counts = pc.value_counts(key)
    if len(counts) <= 1:
        return [(tuple(s[0].as_py() if len(s) else 0 for s in scales), table)]
    order = pc.sort_indices(key)
    ordered, ordered_scales = table.take(order), [pc.take(s, order) for s in scales]
    groups, start = [], 0
    for size in sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)):
        length = size[1]
        groups.append((tuple(s[start].as_py() for s in ordered_scales), ordered.slice(start, length)))
        start += length
    return groups
