"""What decoding a page gives, and the errors a page can raise."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ibdc.errors import PermanentError, TransientError
from ibdc.schemas import Kind, RecordSchema
from ibdc.timestamps import canonical_timestamps

if TYPE_CHECKING:
    from ibdc.formats.envelope import Envelope, Verdict


class DecodeError(TransientError, ValueError):
    """The bytes are not a complete page of the style (truncated, garbled, an error page)."""


class SchemaDrift(PermanentError, ValueError):
    """The source's records no longer carry the fields of the contract (renamed or dropped)."""


@dataclass(frozen=True)
class DecodedPage:
    """One page as served, as canonical records.

    ``table`` has exactly the schema's fields, in order, as string columns (null = missing).
    ``raw_text(i)`` is record ``i`` as the source served it (for the quarantine).
    ``total`` is the number of records the source claims the whole query holds, when the page says.
    ``answered`` is, for a source that gives no count (NBS), the cells (indicator codes) the page
    answers, published or not: the adapter reconciles them with the cells it asked for.
    ``verdict`` is what the answer's envelope says, when envelopes were given to ``decode`` (None: no
    envelope to read); a page whose envelope says other than success has no records.
    ``faults`` are the records (by index) the decoder could not read as served, with the reason (a
    JSON record with a key twice, ``NaN``, nesting too deep): their row in ``table`` holds what could
    be read, and the parser quarantines them instead of validating them.
    """

    table: pa.Table
    raw_text: Callable[[int], str]
    total: int | None = None
    answered: frozenset[str] | None = None
    verdict: Verdict | None = None
    faults: Mapping[int, str] = field(default_factory=dict)

    @property
    def num_records(self) -> int:
        return self.table.num_rows


class WireFormat(Protocol):
    """A style module: ``decode`` is all the platform needs; encoding is the simulator's business."""

    def decode(self, schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage: ...


def check_fields(schema: RecordSchema, served: Iterable[str], where: str = "") -> None:
    """Fail with :class:`SchemaDrift` when a contract field is absent from what the source serves."""
    served = set(served)
    missing = [n for n in schema.names if n not in served]
    if missing:
        unexpected = sorted(served - set(schema.names))
        raise SchemaDrift(
            f"{where or schema.dataset}: fields missing from the source: {missing}"
            + (f"; unexpected fields: {unexpected}" if unexpected else "")
        )


# A surrogate code point: JSON can write one alone ("\\ud800"), Python's json reads it, UTF-8 (and so
# an Arrow string) cannot hold it.
SURROGATE = re.compile("[\ud800-\udfff]")


def _utf8_column(values: list) -> pa.Array:
    """Text values as an Arrow string array; a lone surrogate, which a UTF-8 string cannot hold,
    becomes U+FFFD, which the validators refuse (``ibdc.parsing.base.text_fault``): its record is
    quarantined (the raw text keeps what was served) instead of the page failing."""
    try:
        return pa.array(values, pa.string())
    except UnicodeEncodeError:
        return pa.array([SURROGATE.sub("\ufffd", v) if isinstance(v, str) else v for v in values], pa.string())


def by_distinct_value(
    column: pa.Array | pa.ChunkedArray, convert: Callable[[pa.Array], pa.Array]
) -> pa.Array | pa.ChunkedArray:
    """``convert`` (column-wise, each result a function of its value alone) applied to the column's
    distinct values only, its results taken back to every row: a day of readings holds 24 timestamps
    and a few hundred devices in 240,000 rows. A missing value never reaches ``convert``; its row's
    result is null. Returns as many values as ``column`` holds."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(column)
    return pc.take(convert(encoded.dictionary), encoded.indices)


def canonical_values(schema: RecordSchema, columns: dict[str, Any]) -> dict[str, Any]:
    """The columns of a decoded page (canonical names -> Arrow text) with the values a kind writes
    several ways in its one canonical text: a timestamp that follows the strict rule
    (:mod:`ibdc.timestamps`) as ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, so that one instant served as
    ``...T05:00:00Z`` and as ``...T13:00:00+08:00`` is one key; anything else exactly as served."""
    for f in schema.fields:
        if f.kind is Kind.TIMESTAMP and f.name in columns:
            columns[f.name] = canonical_timestamps(columns[f.name])
    return columns


def table_from_records(schema: RecordSchema, records: list[dict], where: str = "") -> pa.Table:
    """Canonical string table from a list of dicts keyed by canonical names (values already text,
    kept exactly: a table to encode may hold values as a source serves them; a decoder makes its
    values canonical with :func:`canonical_values`)."""
    if records:
        check_fields(schema, records[0].keys(), where)
    columns = {n: _utf8_column([r.get(n) for r in records]) for n in schema.names}
    return pa.table(columns)


# Records a builder turns into Arrow arrays at a time: a large page never holds its values as Python
# strings all at once.
BATCH = 8192


class TableBuilder:
    """A canonical string table built record by record (dicts keyed by canonical names, values
    already text), in batches of :data:`BATCH` records; timestamps made canonical
    (:func:`canonical_values`)."""

    def __init__(self, schema: RecordSchema) -> None:
        self.schema = schema
        self.num_records = 0
        self._first: list[str] | None = None  # the first record's names: checked for drift at the end
        self._batch: dict[str, list[Any]] = {n: [] for n in schema.names}
        self._chunks: dict[str, list[pa.Array]] = {n: [] for n in schema.names}

    def add(self, record: Mapping[str, str | None]) -> None:
        if self._first is None:
            self._first = list(record)
        for name, values in self._batch.items():
            values.append(record.get(name))
        self.num_records += 1
        if self.num_records % BATCH == 0:
            self._flush()

    def _flush(self) -> None:
        for name, values in self._batch.items():
            if values:
                self._chunks[name].append(_utf8_column(values))
                values.clear()

    def table(self, where: str = "") -> pa.Table:
        """The table; :class:`SchemaDrift` when the first record lacks a contract field."""
        self._flush()
        if self._first is not None:
            check_fields(self.schema, self._first, where)
        columns = {n: pa.chunked_array(c, pa.string()) for n, c in self._chunks.items()}
        return pa.table(canonical_values(self.schema, columns))


def text(value: object) -> str | None:
    """A decoded JSON value as canonical text: numbers keep their exact digits, an object or array
    where a scalar belongs is kept as its JSON text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value  # Number tokens included
    if isinstance(value, dict | list):
        return exact_dumps(value)
    return format(value, "f") if not isinstance(value, int) else str(value)


# --- helpers the JSON styles share ---------------------------------------------------------------

JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


class Number(str):
    """A JSON number token kept as its exact text (never through a float): ``12.50`` stays ``12.50``."""


def exact_dumps(value: object, compact: bool = False) -> str:
    """JSON text of a value, :class:`Number` tokens written exactly as they are (``compact``: no
    space after ``,`` and ``:``). ``RecursionError`` for a value nested deeper than Python recurses."""
    comma, colon = (",", ":") if compact else (", ", ": ")
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}{colon}{exact_dumps(v, compact)}" for k, v in value.items())
        return "{" + comma.join(items) + "}"
    if isinstance(value, list):
        return "[" + comma.join(exact_dumps(v, compact) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# exact_dumps(value, compact=True) in C: a Number token written as its text (msgspec hands the str
# subclass to the hook, whose Raw is written as it is). What the encoders of the JSON styles write with.
EXACT_JSON = msgspec.json.Encoder(enc_hook=lambda value: msgspec.Raw(str(value).encode()))


def json_number(kind: Kind | None, value: str | None):
    """A canonical text value as a JSON value: a number of a numeric field as an exact
    :class:`Number`, a boolean as a boolean, anything else (text, malformed values) as text."""
    if value is None:
        return None
    if kind in (Kind.DECIMAL, Kind.INT) and JSON_NUMBER.fullmatch(value):
        return Number(value)
    if kind is Kind.BOOL and value in ("true", "false"):
        return value == "true"
    return value


def camel(name: str) -> str:
    """``current_month`` -> ``currentMonth``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """``currentMonth`` -> ``current_month`` (the inverse of :func:`camel` for snake_case names)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def served_records(
    schema: RecordSchema,
    table: pa.Table,
    name: Callable[[str], str],
    value: Callable[[Kind | None, str | None], object] = json_number,
) -> list[dict]:
    """``table``'s rows as a JSON style serves them: each column under ``name`` of its name (the
    served names, which may have drifted), each value ``value(kind, text)`` by its field's kind
    (default :func:`json_number`). ``value`` is called once per distinct value of a column (Arrow's
    dictionary): a province-day's 24 hours are 24 calls, not a call a reading."""
    kinds = {f.name: f.kind for f in schema.fields}
    columns = []
    for column_name in table.column_names:
        encoded = pc.dictionary_encode(table.column(column_name).combine_chunks())
        kind = kinds.get(column_name)
        served = [value(kind, v) for v in encoded.dictionary.to_pylist()]
        if encoded.null_count:
            served.append(value(kind, None))
            indices = pc.fill_null(encoded.indices, len(served) - 1)
        else:
            indices = encoded.indices
        columns.append(list(map(served.__getitem__, indices.to_pylist())))
    names = [name(n) for n in table.column_names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def camel_records(
    schema: RecordSchema, table: pa.Table, value: Callable[[Kind | None, str | None], object] = json_number
) -> list[dict]:
    """``table``'s rows as a camelCase JSON style serves them (:func:`served_records` under
    :func:`camel` of each name)."""
    return served_records(schema, table, camel, value)


def from_camel(schema: RecordSchema, value: Callable[[Kind | None, Any], str | None]) -> Callable[[dict], dict]:
    """The inverse, a decoder's record conversion: a served record's members under their canonical
    names (the field whose :func:`camel` the member is, else :func:`snake` of it), each value
    ``value(kind, member)`` by its field's kind (``None`` for a member no field has)."""
    canonical = {camel(n): n for n in schema.names}
    kinds = {camel(f.name): f.kind for f in schema.fields}

    def convert(item: dict) -> dict:
        return {canonical.get(k) or snake(k): value(kinds.get(k), v) for k, v in item.items()}

    return convert
