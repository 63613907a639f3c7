"""Reading a JSON answer once, exactly and within bounds, its records one at a time.

Every JSON style (rest_json, app_key, signed_gateway, jsonp, nbs_easyquery) reads its bodies here, and
the portal's envelope is read from the same parse (:func:`read_page`): a body is parsed once.

- Numbers stay the exact text served (:class:`~ibdc.formats.base.Number`), never converted: ``12.50``
  stays ``12.50``, and ``1e99999999`` costs its ten characters (Python's ``Decimal`` would hold it, and
  writing it out would take 100 MB). Bounds and arithmetic are the validators' (``ibdc.parsing``).
- What JSON does not allow but Python's reader takes, and what it cannot hold, is a fault: ``NaN``,
  ``Infinity`` and ``-Infinity`` (not JSON numbers), an object with the same key twice (which would
  silently keep the last), nesting deeper than the reader goes (Python's recursion limit, about 1000
  levels). Inside a record, the fault is that record's (:attr:`JsonPage.faults`: the record is
  quarantined with the reason, its raw text as served, and the rest of the page is taken); anywhere
  else (the envelope, the page's count) it is the page's: :class:`~ibdc.errors.LayoutError`.
- A body that is not complete JSON (cut short, garbled, not UTF-8/16/32 text) is a
  :class:`~ibdc.formats.base.DecodeError`, as from ``json.loads``.
- The records array (at the style's ``path``) is read record by record with Python's C scanner: each
  record is converted to canonical text by the style as it is read and dropped, the canonical values
  go to Arrow in batches (:class:`~ibdc.formats.base.TableBuilder`), and only the record's span in the
  text is kept, for its raw text. A page of 200,000 records never holds 200,000 dicts.

The columnar path (:class:`Columnar`, what every JSON style uses for its records): the body is first
decoded in C by msgspec, level by level along the records' path (each level's members kept undecoded,
then each decoded: the records array into msgspec Structs of the contract's fields, not dicts, every
other member as a whole; floats as their exact literal text, integers as Python ints, whose decimal
text is the literal's), each field's values gathered into an Arrow column and converted column by
column (a field whose conversion depends on the value's JSON type, such as a date or a timestamp, one
conversion per distinct value, with the style's own per-value function). Anything that path does
not read exactly as the record-by-record path would (a value JSON does not allow, a key twice, nesting
too deep, a nested object where a scalar belongs, ``-0``, fields other than the contract's, a body not
UTF-8) makes it give the page to the record-by-record path, which reads it as described above: the two
give the same table, and the record-by-record path alone keeps each record's text, which it gives the
quarantine when a record is refused (it then reads the page again). A key twice is found without
reading keys one by one: with no colon written as an escape, the colons outside strings are the keys
written, so the body's colons, less those inside the decoded strings, equal the keys decoded exactly
when no key was written twice.

Why not ijson: its parsers (yajl2_c included) convert numbers (``Decimal`` / ``int``, so ``1e3``
comes back as ``1E+3`` and an integer of more than 4300 digits raises ``ValueError``), which loses the
exact served text the platform keeps; per record the C scanner is as fast and exact.
"""

from __future__ import annotations

import functools
import json
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from ibdc.errors import LayoutError
from ibdc.formats.base import (
    DecodedPage,
    DecodeError,
    Number,
    TableBuilder,
    _utf8_column,
    canonical_values,
    exact_dumps,
)
from ibdc.formats.presentation import plain_numbers
from ibdc.schemas import Kind, RecordSchema

if TYPE_CHECKING:
    from ibdc.formats.envelope import Envelope, Verdict

_WS = re.compile(r"[ \t\n\r]*")
# Tokens of a value too deep for the scanner, skipped to find its end: a string, a bracket, anything else.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]|[^"\[\]{}]+', re.DOTALL)
HEAD_CHARS = 300


class RecordsMarker:
    """Where the records array was in a document (its records are not kept in the document)."""

    def __repr__(self) -> str:
        return "<records>"


RECORDS = RecordsMarker()


def json_text(body: bytes | memoryview | str) -> str:
    """A JSON body as text (UTF-8, or UTF-16/32 as ``json.loads`` detects them); surrogates escaped
    in the bytes pass (a record's text fault, not the page's). :class:`DecodeError` for bytes that are
    not such text (garbled, cut inside a character)."""
    if isinstance(body, str):
        return body
    try:
        return str(body, json.detect_encoding(bytes(body[:4])), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not JSON text (cut inside a character?): {exc}") from exc


def _head(text: str) -> str:
    return text[:HEAD_CHARS]


class _Scanner:
    """Python's C JSON scanner, numbers as exact :class:`Number` text, faults collected in ``faults``."""

    def __init__(self) -> None:
        self.faults: list[str] = []
        # strict=False: a control character written raw inside a string (not JSON, but served) is read
        # as the character, so the record's validators quarantine it or keep it (tab, line feed in an
        # address) instead of the whole page failing as undecodable.
        decoder = json.JSONDecoder(
            parse_float=Number,
            parse_int=Number,
            parse_constant=self._constant,
            object_pairs_hook=self._object,
            strict=False,
        )
        self._scan = decoder.scan_once

    def _constant(self, name: str) -> Number:
        self.faults.append(f"{name} is not a JSON number")
        return Number(name)

    def _object(self, pairs: list[tuple[str, object]]) -> dict:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            twice = sorted({k for k, _ in pairs if k in seen or seen.add(k)})
            self.faults.append(f"key {', '.join(map(repr, twice))} twice in one object (JSON keys must be unique)")
        return obj

    def value(self, text: str, idx: int) -> tuple[object, int]:
        """The value at ``idx`` and the index after it: ``ValueError`` for no complete value there,
        ``RecursionError`` for one nested too deep."""
        try:
            return self._scan(text, idx)
        except StopIteration as exc:
            raise json.JSONDecodeError("Expecting value", text, exc.value) from None


def skip_value(text: str, idx: int) -> int:
    """The end of the value at ``idx``, however deep, without building it (iteratively)."""
    depth = 0
    for m in _TOKEN.finditer(text, idx):
        token = m.group()
        if token in ("[", "{"):
            depth += 1
        elif token in ("]", "}"):
            depth -= 1
        if depth <= 0:
            if depth < 0:
                break
            return m.end()
    raise DecodeError(f"not complete JSON: a value at character {idx} does not end")


@dataclass
class Records:
    """The records array as read: each record's span in the text and, for some, a fault."""

    spans: array = field(default_factory=lambda: array("q"))  # start, end of record i at 2i, 2i+1
    faults: dict[int, str] = field(default_factory=dict)
    layout: str | None = None  # why the array is not one of records (an item not an object, no array)

    def __len__(self) -> int:
        return len(self.spans) // 2


ItemHandler = Callable[[object, str | None], None]  # (item, its fault) for each item of the records array


def _expect(text: str, idx: int, char: str) -> int:
    if idx >= len(text):
        raise DecodeError(f"not complete JSON: cut short at character {idx}, {char!r} expected")
    if text[idx] != char:
        raise DecodeError(f"not JSON: {char!r} expected at character {idx}, found {text[idx]!r}")
    return idx + 1


def _ws(text: str, idx: int) -> int:
    return _WS.match(text, idx).end()


class _Walk:
    """One pass over a document: values off the path parsed whole, the object members on it one by
    one, the array at its end record by record."""

    def __init__(self, text: str, on_item: ItemHandler) -> None:
        self.text, self.on_item = text, on_item
        self.scanner = _Scanner()
        self.records: Records | None = None

    def value(self, idx: int, path: Sequence[str] | None) -> tuple[object, int]:
        text = self.text
        if idx >= len(text):
            raise DecodeError(f"not complete JSON: cut short at character {idx}")
        if path is not None and not path:
            return self.array(idx)
        if path is not None and text[idx] == "{":
            return self.members(idx, path)
        self.scanner.faults.clear()
        try:
            value, end = self.scanner.value(text, idx)
        except RecursionError:
            raise LayoutError(f"JSON nested too deep outside the records: {_head(text)}") from None
        except ValueError as exc:
            raise DecodeError(f"not complete JSON: {exc}") from exc
        if self.scanner.faults:
            raise LayoutError(f"not the page's JSON ({'; '.join(self.scanner.faults)}): {_head(text)}")
        return value, end

    def members(self, idx: int, path: Sequence[str]) -> tuple[dict, int]:
        text, out = self.text, {}
        idx = _ws(text, idx + 1)
        if idx < len(text) and text[idx] == "}":
            return out, idx + 1
        while True:
            idx = _expect(text, idx, '"')
            try:
                key, idx = json.decoder.scanstring(text, idx)
            except ValueError as exc:
                raise DecodeError(f"not complete JSON: {exc}") from exc
            if key in out:
                raise LayoutError(f"not the page's JSON: key {key!r} twice in one object: {_head(text)}")
            idx = _ws(text, _expect(text, _ws(text, idx), ":"))
            out[key], idx = self.value(idx, path[1:] if key == path[0] else None)
            idx = _ws(text, idx)
            if idx < len(text) and text[idx] == ",":
                idx = _ws(text, idx + 1)
                continue
            return out, _expect(text, idx, "}")

    def array(self, idx: int) -> tuple[object, int]:
        text = self.text
        records = self.records = Records()
        if text[idx] != "[":
            value, end = self.value(idx, None)
            records.layout = "not a list of objects"
            return value, end
        idx = _ws(text, idx + 1)
        if idx < len(text) and text[idx] == "]":
            return RECORDS, idx + 1
        scanner = self.scanner
        while True:
            scanner.faults.clear()
            try:
                item, end = scanner.value(text, idx)
                fault = "; ".join(scanner.faults) or None
            except RecursionError:
                item, end = None, skip_value(text, idx)
                fault = "nested deeper than JSON is read (Python's recursion limit)"
            except ValueError as exc:
                raise DecodeError(f"not complete JSON: {exc}") from exc
            records.spans.extend((idx, end))
            if not isinstance(item, dict) and fault is None and records.layout is None:
                records.layout = "not a list of objects"
            if fault is not None:
                records.faults[len(records) - 1] = fault
            self.on_item(item, fault)
            idx = _ws(text, end)
            if idx < len(text) and text[idx] == ",":
                idx = _ws(text, idx + 1)
                continue
            return RECORDS, _expect(text, idx, "]")


def scan(text: str, path: Sequence[str] | None, on_item: ItemHandler) -> tuple[object, Records | None]:
    """The document in ``text``, the array at ``path`` (keys from the root; ``()``: the root is the
    array) read item by item through ``on_item`` and replaced by :data:`RECORDS`; and the records
    read (None: nothing at ``path``). ``path`` None: the whole document, as ``json.loads`` would give
    it (exact numbers). Raises :class:`DecodeError` and :class:`LayoutError` as the module says."""
    walk = _Walk(text, on_item)
    doc, idx = walk.value(_ws(text, 0), path)
    idx = _ws(text, idx)
    if idx != len(text):
        raise DecodeError(f"not JSON: extra data at character {idx}: {text[idx : idx + 40]!r}")
    return doc, walk.records


def loads(text: str | bytes) -> object:
    """A whole document (numbers exact, faults are :class:`LayoutError`): an envelope, a small answer."""
    return scan(json_text(text), None, lambda item, fault: None)[0]


def record_loads(text: str) -> object:
    """A record's text as served, read again (its raw text); faults ignored."""
    return _Scanner().value(text, 0)[0]


Convert = Callable[[dict], dict]  # a served record -> its canonical text values, by canonical name


@dataclass
class JsonPage:
    """A JSON answer read once: its document (records array replaced by :data:`RECORDS`), what its
    envelope says, and its records as a table being built."""

    text: str
    doc: object
    verdict: Verdict | None
    records: Records | None
    builder: TableBuilder | None
    where: str  # the style, for errors
    shown: str  # the start of the body as served, for errors
    table: pa.Table | None = None  # the records, when read by the columnar path
    slow: Callable[[], JsonPage] | None = None  # the same page read record by record (its records' text)

    def member(self, *keys: str) -> object:
        """``doc[k1][k2]...``; :class:`LayoutError` when the answer has no such member."""
        value = self.doc
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                raise LayoutError(f"not a {self.where} page (no {'.'.join(keys)}): {self.shown}")
            value = value[key]
        return value

    def page(self, total: int | None, name: str, raw: Callable[[object], str] = exact_dumps) -> DecodedPage:
        """The decoded page (``name``: the records' member, for errors):
        :class:`LayoutError` when there is no records array or it holds something other than
        objects, :class:`~ibdc.formats.base.SchemaDrift` for missing fields. ``raw`` writes a record
        read again as its raw text (a faulted record's raw text is its text as served)."""
        if self.table is not None:
            return DecodedPage(self.table, _raw_text_of(self, name, raw), total, None, self.verdict)
        records = self.records
        if records is None or records.layout is not None:
            why = f"no {name}" if records is None else f"{name} is {records.layout}"
            raise LayoutError(f"not a {self.where} page ({why}): {self.shown}")
        text, spans, faults = self.text, records.spans, records.faults

        def raw_text(i: int) -> str:
            served = text[spans[2 * i] : spans[2 * i + 1]]
            if i in faults:
                return served
            try:
                return raw(record_loads(served))
            except (ValueError, RecursionError):
                return served

        table = self.builder.table()
        return DecodedPage(table, raw_text, total, None, self.verdict, dict(faults))

    def count(self, *keys: str) -> int:
        """The record count at ``doc[k1][k2]...``: a JSON integer, or its digits as a string;
        :class:`LayoutError` for anything else (a fraction, a sign, ``true``, too many digits)."""
        value = self.member(*keys)
        if isinstance(value, str) and COUNT.fullmatch(value):
            return int(value)
        name = ".".join(keys)
        raise LayoutError(f"not a {self.where} page ({name} is not a count: {str(value)[:40]!r}): {self.shown}")

    @property
    def refused(self) -> bool:
        """Whether the envelope says other than success (the page then has no records)."""
        from ibdc.formats.envelope import Answer

        return self.verdict is not None and self.verdict.answer is not Answer.SUCCESS


def _raw_text_of(page: JsonPage, name: str, raw: Callable[[object], str]) -> Callable[[int], str]:
    """A columnar page's ``raw_text``: the record-by-record read of the page, made on the first call
    (only a page with a refused record needs its records' text)."""

    @functools.cache
    def recorded() -> Callable[[int], str]:
        return page.slow().page(None, name, raw).raw_text

    return lambda i: recorded()(i)


def read_page(
    schema: RecordSchema,
    body: bytes | memoryview | str,
    path: Sequence[str],
    convert: Convert,
    where: str,
    envelopes: Sequence[Envelope] = (),
    loads_inside: Callable[[object], object] | None = None,
    shown: str | None = None,
    columnar: Columnar | None = None,
) -> JsonPage:
    """Read a JSON answer once: its records (at ``path``) converted by ``convert`` into a table as
    they are read, then its envelope (``envelopes``, :func:`ibdc.formats.envelope.read_document`).
    A record ``convert`` cannot convert (any ``ArithmeticError``, ``ValueError``, ``TypeError``,
    ``RecursionError``) is a fault of that record, with all its values missing. ``columnar``: the
    style's columnar reading of the same records (:class:`Columnar`), tried first; the same table,
    read column by column."""
    from ibdc.formats.envelope import read_document

    def slow() -> JsonPage:
        return read_page(schema, body, path, convert, where, envelopes, loads_inside, shown)

    if columnar is not None:
        read = columnar.read(schema, body, path)
        if read is not None:
            doc, table = read
            if shown is None:  # the columnar path reads UTF-8 alone; 4 bytes a character at most
                shown = _head(body if isinstance(body, str) else str(bytes(body[: 4 * HEAD_CHARS]), "utf-8", "replace"))
            verdict = read_document(envelopes, doc, loads_inside or loads, shown) if envelopes else None
            return JsonPage("", doc, verdict, None, None, where, shown, table, slow)

    text = json_text(body)
    builder = TableBuilder(schema)
    faults: dict[int, str] = {}

    def on_item(item: object, fault: str | None) -> None:
        record: dict = {}
        if isinstance(item, dict):
            try:
                record = convert(item)
            except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
                faults[builder.num_records] = f"record not readable: {type(exc).__name__}: {exc}"
        builder.add(record)

    doc, records = scan(text, path, on_item)
    if records is not None:
        for i, why in faults.items():
            records.faults.setdefault(i, why)
    shown = _head(text) if shown is None else shown
    verdict = read_document(envelopes, doc, loads_inside or loads, shown) if envelopes else None
    return JsonPage(text, doc, verdict, records, builder, where, shown)


COUNT = re.compile(r"[0-9]{1,18}")


def empty_page(schema: RecordSchema, verdict: Verdict | None) -> DecodedPage:
    """No records: what a page whose envelope says other than success decodes to."""
    table = pa.table({n: pa.array([], pa.string()) for n in schema.names})
    return DecodedPage(table, lambda i: "", None, None, verdict)


# --- the columnar path ----------------------------------------------------------------------------


class _NotColumnar(Exception):
    """The page holds something the columnar path does not read exactly: the record-by-record path reads it."""


# Floats as their literal text (never through a float), as the record-by-record path gives them: a Number,
# so that one in the document outside the records (an envelope's message) is written back unquoted.
_DECODER = msgspec.json.Decoder(float_hook=Number)
_NEGATIVE_ZERO = re.compile(rb"-0(?![0-9.eE])")  # -0 decodes to the int 0, whose text is not the literal's
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")
# Kinds whose value depends on its JSON type as well as its text (a date served as a number stays as
# served, as a string it is rewritten): converted one distinct value at a time, by the style's function.
_BY_VALUE = frozenset({Kind.DATE, Kind.PERIOD, Kind.TIMESTAMP, Kind.BOOL})
_NUMERIC = frozenset({Kind.DECIMAL, Kind.INT})


def _scalar_text(value: object) -> str:
    """A decoded scalar other than a string as canonical text (what :func:`~ibdc.formats.base.text`
    gives its record-by-record twin); anything else is not read by the columnar path."""
    if value.__class__ is int:
        return str(value)  # ValueError past Python's 4300 digits: the page goes record by record
    if value.__class__ is Number:
        return str(value)
    if value.__class__ is bool:
        return "true" if value else "false"
    raise _NotColumnar


def _exact_doc(value: object) -> object:
    """The part of a document outside its records as the record-by-record path gives it: integers as
    :class:`~ibdc.formats.base.Number` text."""
    if value.__class__ is int:
        return Number(str(value))
    if isinstance(value, dict):
        return {k: _exact_doc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact_doc(v) for v in value]
    return value


# The columnar path's records: msgspec Structs of one field per contract field (f0, f1, ... renamed to
# the members served), every member a JSON value of any type (numbers exact: float_hook) or UNSET when
# not served, and no other member (a ValidationError: read record by record). A Struct is made in C
# without hashing its keys into a dict, and is not tracked by Python's cycle collector (gc=False): the
# records of a page decode about twice as fast as dicts.
_MEMBERS = msgspec.json.Decoder(dict[str, msgspec.Raw])  # an object's members, their values undecoded
_MAX_FIELDS = 256
_FIELD_NAMES = tuple(f"f{i}" for i in range(_MAX_FIELDS))
_FIELD = tuple(map(attrgetter, _FIELD_NAMES))


@functools.cache
def _records_decoder(wire: tuple[str, ...]) -> msgspec.json.Decoder:
    """A decoder of a list of records whose members are the ``wire`` names, in any order, each at most
    once taken (a member written twice keeps its last value: the count of colons finds it)."""
    if len(wire) > _MAX_FIELDS or len(set(wire)) != len(wire):
        raise _NotColumnar
    fields = [(name, Any, msgspec.UNSET) for name in _FIELD_NAMES[: len(wire)]]
    record = msgspec.defstruct(
        "Record", fields, rename=dict(zip(_FIELD_NAMES, wire, strict=False)), forbid_unknown_fields=True, gc=False
    )
    return msgspec.json.Decoder(list[record], float_hook=Number)


def _records_at(raw: bytes | msgspec.Raw, path: Sequence[str], decoder: msgspec.json.Decoder) -> tuple[object, list]:
    """The document in ``raw`` with the array at ``path`` replaced by :data:`RECORDS` (the rest decoded
    as the scanner gives it but for integers, which :func:`_exact_doc` makes ``Number``), and that
    array's records decoded by ``decoder``. :class:`_NotColumnar` when there is no member at ``path``."""
    if not path:
        return RECORDS, decoder.decode(raw)
    # A ValidationError when this level is not an object. Raw members are checked for JSON's syntax but
    # not for UTF-8: every one is decoded below (a member left undecoded could hide invalid bytes).
    members = _MEMBERS.decode(raw)
    if path[0] not in members:
        raise _NotColumnar
    doc: dict[str, object] = {}
    records: list = []
    for key, value in members.items():
        if key == path[0]:
            doc[key], records = _records_at(value, path[1:], decoder)
        else:
            doc[key] = _DECODER.decode(value)
    return doc, records


def _keys_and_colons(value: object) -> tuple[int, int]:
    """Keys in a decoded document (outside its records) and colons inside its strings."""
    if isinstance(value, dict):
        keys, colons = len(value), sum(k.count(":") for k in value)
        for v in value.values():
            k, c = _keys_and_colons(v)
            keys, colons = keys + k, colons + c
        return keys, colons
    if isinstance(value, list):
        pairs = [_keys_and_colons(v) for v in value]
        return sum(k for k, _ in pairs), sum(c for _, c in pairs)
    return 0, value.count(":") if isinstance(value, str) else 0


@dataclass(frozen=True)
class Columnar:
    """How a JSON style's records read column by column: the same table its record-by-record
    ``convert`` gives, for pages without anything the columnar path leaves to that one.

    ``wire_name``: a canonical field name -> the member that carries it in a served record.
    ``value``: the style's per-value conversion ``(kind, value) -> canonical text``, given values as
    the record-by-record path reads them (numbers as :class:`~ibdc.formats.base.Number`); applied
    once per distinct value to the fields whose kind is a date, a period, a timestamp or a boolean.
    ``plain_numbers``: whether numbers served as strings in a presentation form are made plain
    (:func:`~ibdc.formats.presentation.plain_numbers`) in numeric fields.
    For the other fields a string is kept as it is, an integer becomes its digits, a boolean
    ``true``/``false``: each style's ``value`` agrees (the style's tests hold both paths to one table).
    """

    wire_name: Callable[[str], str]
    value: Callable[[Kind | None, object], str | None]
    plain_numbers: bool = False

    def read(
        self, schema: RecordSchema, body: bytes | memoryview | str, path: Sequence[str]
    ) -> tuple[object, pa.Table] | None:
        """The document (its records replaced by :data:`RECORDS`, integers as ``Number``) and the
        records' canonical table; None when the page is to be read record by record."""
        if not isinstance(body, str | bytes):
            body = bytes(body)
        try:
            return self._table(schema, body, path)
        except (_NotColumnar, msgspec.DecodeError, ValueError, TypeError, OverflowError, RecursionError):
            return None  # msgspec.ValidationError (a record not an object, a member beyond the contract's) too

    def _table(self, schema: RecordSchema, body: bytes | str, path: Sequence[str]):
        raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
        if b"-0" in raw and _NEGATIVE_ZERO.search(raw):
            raise _NotColumnar
        if b"\\u003" in raw and _ESCAPED_COLON.search(raw):
            raise _NotColumnar
        decoder = _records_decoder(tuple(self.wire_name(name) for name in schema.names))
        doc, records = _records_at(raw, path, decoder)
        columns: dict[str, pa.Array] = {}
        colons = missing = 0
        for i, f in enumerate(schema.fields):
            values = list(map(_FIELD[i], records))
            types = set(map(type, values))
            if msgspec.UnsetType in types:  # a member not served: missing, as null is
                if _FIELD[i](records[0]) is msgspec.UNSET:
                    raise _NotColumnar  # the record-by-record path says which field is missing (SchemaDrift)
                missing += values.count(msgspec.UNSET)
                values = [None if v is msgspec.UNSET else v for v in values]
                types = set(map(type, values))
            column = self._texts(values, types)
            if str in types:
                colons += pc.sum(pc.count_substring(column, ":")).as_py() or 0
            if f.kind in _BY_VALUE:
                column = self._by_value(f.kind, values, column, types)
            elif self.plain_numbers and f.kind in _NUMERIC:
                column = plain_numbers(column)
            columns[f.name] = column
        # A key twice leaves fewer keys than were written: every colon outside strings is a key written.
        keys, outside = _keys_and_colons(doc)  # the records' own member among the keys
        written = raw.count(b":")
        if written != colons + outside + keys + len(records) * len(schema.fields) - missing:
            raise _NotColumnar
        table = pa.table(canonical_values(schema, columns))
        return _exact_doc(doc), table

    @staticmethod
    def _texts(values: list, types: set[type]) -> pa.Array:
        """The values (of the JSON ``types`` decoded) as canonical text: a string as it is, a number its
        literal text, a boolean ``true``/``false``. A column of strings and decimals, or of integers
        alone, is converted by Arrow; a mixed one value by value."""
        if types <= _TEXTS:
            return _utf8_column(values)
        if types <= _INTEGERS:
            try:
                return pc.cast(pa.array(values, pa.int64()), pa.string())
            except (OverflowError, pa.ArrowInvalid):
                pass  # past 64 bits: Python's digits
        if types <= _DIGITS_OR_STRINGS:
            # Numbers served as integers and as decimals (their literal text): an integer's text is its
            # digits (str, in C); ValueError past Python's 4300 digits: the page goes record by record.
            return _utf8_column(list(map(str, values)))
        return _utf8_column([v if v is None or v.__class__ is str else _scalar_text(v) for v in values])

    def _by_value(self, kind: Kind, values: list, texts: pa.Array, types: set[type]) -> pa.Array:
        """``value`` applied once per distinct value, its JSON type told apart (``1`` and ``"1"``)."""
        if types <= _STRINGS or types <= _NUMBERS:
            number = not types <= _STRINGS
            encoded = pc.dictionary_encode(texts)
            distinct = [
                self.value(kind, Number(v) if number and v is not None else v) for v in encoded.dictionary.to_pylist()
            ]
            return pc.take(_utf8_column(distinct), encoded.indices)
        converted: dict[tuple[type, object], str | None] = {}
        out = []
        for v in values:
            key = (v.__class__, v)
            text = converted.get(key, _MISSING)
            if text is _MISSING:
                if v.__class__ is int:
                    text = self.value(kind, Number(str(v)))
                elif v is None or v.__class__ in (str, bool, Number):
                    text = self.value(kind, v)
                else:
                    raise _NotColumnar
                converted[key] = text
            out.append(text)
        return _utf8_column(out)


_STRINGS = frozenset({str, type(None)})
_TEXTS = frozenset({str, Number, type(None)})  # strings and decimals: their text as it is
_INTEGERS = frozenset({int, type(None)})
_NUMBERS = frozenset({int, Number, type(None)})
# Numbers served as integers and as decimals, and strings; no None (str(None) is no missing value), no
# bool (str(True) is not "true").
_DIGITS_OR_STRINGS = frozenset({int, Number, str})
_MISSING = object()
