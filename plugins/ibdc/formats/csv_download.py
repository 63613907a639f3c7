"""Style ``csv_download``: one CSV file per partition, in GBK or GB18030 (or UTF-8 with a BOM), as a
provincial statistics portal's "download" button gives it.

``GET /p/<adcode>/download/<dataset>.csv?period=<period>`` (HTTP basic auth) answers
``Content-Type: text/csv; charset=gbk`` (or ``gb18030``) with::

    地区代码,统计月份,行业代码,行业名称,本月用电量(亿千瓦时),1-本月累计用电量(亿千瓦时)
    220000,2025年06月,13,农副食品加工业,0.201996,1.133302
    220000,2025年06月,14,食品制造业,—,—
    220000,2025年06月,15,酒、饮料和精制茶制造业,0.199351,1.170530
    合计(共3条),,,,0.401347,2.303832

(``0.201996`` 亿千瓦时 is the canonical ``2019.96`` 万千瓦时.)

The wire conventions, and what :func:`decode` turns them back into (canonical text, see
:mod:`ibdc.schemas`):

- Header: each field's Chinese label (``Field.label_zh``); a numeric field with a fixed unit carries
  its *display unit* in brackets, ``本月用电量(亿千瓦时)``. The display unit may differ from the
  canonical unit (``DISPLAY_UNITS``: electricity, canonical 万千瓦时, is published in 亿千瓦时); values
  are converted exactly, by moving the decimal point (the units' factors differ by a power of ten),
  with no floating point. The decoder reads the unit from the header, so a portal that switches
  units is still read correctly; a unit it cannot convert, or a missing one, is schema drift.
- A dataset whose records each have their own unit (a ``unit`` field: industrial output) is published
  as one table per unit, the unit in the headers as everywhere else: each run of consecutive records
  in one unit is a block with its own header (``本月(万吨),1-本月累计(万吨)``: the product
  catalogue's ``unit_zh``, so ``万辆`` for cars and ``万台`` for phones) and its own 合计 row, which can
  then sum the figures; blocks are separated by an empty line, and the file ends with an empty line
  and ``总计(共N条)``, N the records of all blocks (so a file cut between two blocks is not taken
  for a whole one). The decoder gives each record the unit code of its block's header. Units are in
  ``reference/units.csv`` (code, Chinese label, base unit, factor to the base); a label it does not
  know is passed on as served (the validator quarantines it)::

      地区代码,统计月份,产品代码,产品名称,本月(万吨),1-本月累计(万吨)
      220000,2025年06月,crude_steel,粗钢,120.5,700.25
      220000,2025年06月,cement,水泥,80,410
      合计(共2条),,,,200.5,1110.25

      地区代码,统计月份,产品代码,产品名称,本月(万辆),1-本月累计(万辆)
      220000,2025年06月,automobiles,汽车,3.09,16.71
      合计(共1条),,,,3.09,16.71

      总计(共3条)

- Missing values: ``-``, ``—`` or ``…``, rotating by row (row ``i`` uses ``MISSING[i % 3]``); all three
  decode to ``None``. A text value that *is* one of the markers cannot be told from a missing one.
- Booleans ``是`` / ``否``; periods ``2025年06月``; dates ``2025-06-03`` as is; timestamps in Beijing
  local time (UTC+8, no daylight saving) without a zone, ``2025-06-03 13:00:00`` for the canonical
  ``2025-06-03T05:00:00Z``. A daily partition's file therefore runs from 08:00 of its day to 07:00 of
  the next (the partition is the UTC day). Conversions go through the distinct values of a column
  (dictionary-encoded), so a million readings of 24 hours convert 24 strings.
- Malformed values (``12O,5x`` in a number, a timestamp in another format) are published and decoded
  as the text they are: only well-formed values are converted.
- The last line is the ``合计`` (total) row: ``合计(共N条)`` in the first column, N the number of
  records; then, for every numeric field with a fixed unit, the exact sum of the column's numbers in
  the display unit (missing and malformed values are not numbers and are left out; a column with no
  number at all has ``-``); every other cell is empty. Industrial output's figures have a unit per
  row, so nothing is summed there: its 合计 row only counts. The 合计 row is not a record: the
  decoder checks it (a missing or unreadable 合计 row, a count or a sum that disagrees with the
  records, means a truncated or corrupt file: :class:`DecodeError`) and drops it (a column holding a
  number wider than ``SUM_DIGITS`` digits, which its validator refuses, is not summed: the cost of an
  exact sum grows with the width of its numbers times their count);
  ``DecodedPage.total`` is its N. Some portals print ``合计`` alone, without ``(共N条)``: then only
  its sums are checked and ``total`` is None (the file claims no count; the extract takes the records
  received for the claim).
- Presentation forms (:mod:`ibdc.formats.presentation`), as portals print their tables; the encoder
  never prints them, the decoder makes them plain before anything is checked: figures with
  thousands separators (``"12,345.67"``, only a well-formed grouping), full-width digits and
  punctuation (``１２．５``), padded cells; full-width brackets, digits and spaces in the headers and
  the 合计 / 总计 cells (``本月用电量（万千瓦时）``, ``合　计（共３条）``); names (``行业名称``,
  ``产品名称``, ``企业名称``) indented or padded with spaces or U+3000. The raw text of a record
  (for the quarantine) stays as served.
- Quoting: none, unless a value holds a comma, quote or line break; then every value is quoted.
- A column the contract does not know (a renamed field) is published under its own name; the decoder
  reports the contract fields it misses as :class:`SchemaDrift`.
- Encoding is strict: a GBK portal cannot publish a character outside GBK (``UnicodeEncodeError``).
  The decoder reads the encoding from the bytes: a byte order mark wins (UTF-8; UTF-16 LE / BE),
  else GB18030 (a superset of GBK; the platform has no HTTP headers at hand).

Encoding and decoding are column-wise Arrow (``pyarrow.csv``, ``pyarrow.compute``): no Python per row,
so a province-day of a million telemetry readings costs the same per row as a few dozen. A file is
read a block of whole records at a time (:data:`BLOCK_BYTES`, :func:`decode_chunks`; the 合计 row
checked across the blocks at the end), so a province-day in one file is decoded in memory bounded by
the block, not by the file; :func:`decode` joins the same blocks.
"""

from __future__ import annotations

import bisect
import csv
import decimal
import functools
import io
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ibdc.formats.base import DecodedPage, DecodeError, SchemaDrift, by_distinct_value, check_fields
from ibdc.formats.envelope import Answer, Envelope, read
from ibdc.formats.presentation import plain_label, plain_names, plain_number, plain_numbers
from ibdc.reference import REFERENCE_DIR, products
from ibdc.schemas import Field, Kind, RecordSchema
from ibdc.timestamps import canonical_timestamps

MISSING = ("-", "—", "…")
DECODE_ENCODING = "gb18030"  # superset of GBK: the encoding of a body without a byte order mark
UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
NUMERIC = (Kind.DECIMAL, Kind.INT)
# Canonical unit -> the unit the CSV portals publish the field in (the others publish as is).
DISPLAY_UNITS = {"10k_kwh": "100m_kwh"}
UNIT_FIELD = "unit"  # a text field of this name holds each record's unit (codes <-> Chinese labels)
# Matched against a cell made plain (full-width forms ASCII, no whitespace): 合计(共3条), 合　计（共３条）.
TOTAL_RE = re.compile(r"^合计(?:\(共([0-9]+)条\))?$")
GRAND_TOTAL_RE = re.compile(r"^总计\(共([0-9]+)条\)$")
WHITESPACE = re.compile(r"\s+")
BLOCK_SEPARATOR = re.compile(rb"\r?\n[ \t]*\r?\n")
HEADER_UNIT_RE = re.compile(r"^(?P<label>.+?)[(（](?P<unit>[^()（）]+)[)）]$")
NUMBER_RE = r"^[+-]?[0-9]+(\.[0-9]+)?$"
NUMBER_PARTS_RE = r"^(?P<sign>[+-]?)(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?$"
TIMESTAMP_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
LOCAL_TIMESTAMP_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
BEIJING_OFFSET = pa.scalar(8 * 3600, pa.duration("s"))
# The file read (parsed, transcoded, checked) at a time: about 15,000 telemetry readings.
BLOCK_BYTES = 1 << 20
# A record longer than this (no line feed outside quotes in it, e.g. a quoted value never closed):
# DecodeError, not a file held whole in memory.
RECORD_BYTES_MAX = 16 << 20


# --- units ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    code: str
    label: str  # Chinese
    base: str
    factor: Decimal  # base units in one of this unit


@dataclass(frozen=True)
class UnitTable:
    by_code: dict[str, Unit]  # the code's first row: the label it is published with
    by_label: dict[str, Unit]


@functools.cache
def units() -> UnitTable:
    """``reference/units.csv``: a label names one unit; a code may have several labels (万台, 万辆)."""
    by_code: dict[str, Unit] = {}
    by_label: dict[str, Unit] = {}
    with (REFERENCE_DIR / "units.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            unit = Unit(row["unit_code"], row["unit_zh"], row["base_unit"], Decimal(row["factor"]))
            if unit.label in by_label:
                raise ValueError(f"units.csv: label {unit.label} is listed twice")
            first = by_code.setdefault(unit.code, unit)
            if (first.base, first.factor) != (unit.base, unit.factor):
                raise ValueError(f"units.csv: {unit.code} has two definitions")
            by_label[unit.label] = unit
    return UnitTable(by_code, by_label)


def power_of_ten(display: Unit, canonical: Unit) -> int:
    """k such that one display unit is 10**k canonical units."""
    if display.base != canonical.base:
        raise ValueError(f"{display.code} and {canonical.code} measure different things")
    ratio = display.factor / canonical.factor
    k = ratio.adjusted()
    if ratio != Decimal(1).scaleb(k):
        raise ValueError(f"{display.code} is not a power of ten of {canonical.code}")
    return k


def display_unit(f: Field) -> Unit:
    return units().by_code[DISPLAY_UNITS.get(f.unit, f.unit)]


def header(f: Field) -> str:
    return f"{f.label_zh}({display_unit(f).label})" if f.unit else f.label_zh


# --- column-wise helpers -------------------------------------------------------------------------


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.cast(pa.string()) if column.type != pa.string() else column


def _matches(column: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


def shift_point(column: pa.Array, k: int) -> pa.Array:
    """Numbers times 10**k, exactly, as text (``Decimal(x).scaleb(k)`` formatted with ``"f"``);
    text that is not a plain decimal number stays as it is."""
    if k == 0 or not len(column):
        return column
    parts = pc.extract_regex(column, NUMBER_PARTS_RE)
    sign, whole, frac = (pc.struct_field(parts, name) for name in ("sign", "int", "frac"))
    sign = pc.replace_substring(sign, "+", "")  # as Decimal prints it
    if k > 0:
        frac = pc.utf8_rpad(frac, width=k, padding="0")
        whole = pc.binary_join_element_wise(whole, pc.utf8_slice_codeunits(frac, 0, k), "")
        frac = pc.utf8_slice_codeunits(frac, k)
    else:
        padded = pc.utf8_lpad(whole, width=1 - k, padding="0")
        whole = pc.utf8_slice_codeunits(padded, 0, k)
        frac = pc.binary_join_element_wise(pc.utf8_slice_codeunits(padded, k), frac, "")
    whole = pc.utf8_ltrim(whole, characters="0")
    whole = pc.if_else(pc.equal(whole, ""), "0", whole)
    number = pc.if_else(
        pc.equal(frac, ""),
        pc.binary_join_element_wise(sign, whole, ""),
        pc.binary_join_element_wise(sign, whole, ".", frac, ""),
    )
    return pc.if_else(pc.is_valid(parts), number, column)


class Unsummable(ValueError):
    """A column holding a number too wide to be summed within :data:`SUM_DIGITS` digits."""


# The widest sum :func:`decimal_sum` computes, in digits: every figure of the platform's tables fits
# (numeric(38, s) at most); a wider number is refused by its field's validator anyway, and summing a
# column of them exactly would cost their width times their count.
SUM_DIGITS = 200


def decimal_sum(column: pa.Array, max_digits: int | None = None) -> Decimal | None:
    """Exact sum of the plain decimal numbers of a text column; None when it holds none.
    :class:`Unsummable` when ``max_digits`` is given and the numbers are wider than that (integer
    digits of the widest plus decimals of the longest: the precision the sum would need)."""
    numbers = column.filter(_matches(column, NUMBER_RE))
    if not len(numbers):
        return None
    lengths = pc.utf8_length(numbers)
    dot = pc.find_substring(numbers, ".")
    no_dot = pc.less(dot, 0)
    scale = pc.max(pc.if_else(no_dot, 0, pc.subtract(pc.subtract(lengths, dot), 1))).as_py()
    whole = pc.max(pc.if_else(no_dot, lengths, dot)).as_py()  # integer digits (and the sign)
    if max_digits is not None and whole + scale > max_digits:
        raise Unsummable(f"numbers of up to {whole} integer digits and {scale} decimals")
    if whole + scale + 9 <= 38:  # a sum of up to 10**9 of them fits Arrow's 38-digit decimal
        return pc.sum(pc.cast(numbers, pa.decimal128(38, scale))).as_py()
    with decimal.localcontext() as exact:
        exact.prec = whole + scale + len(str(len(numbers))) + 1  # every digit of the sum
        return sum((Decimal(x) for x in numbers.to_pylist()), Decimal(0))


def _markers(n: int) -> pa.Array:
    """The missing-value marker of each row: ``-``, ``—``, ``…``, ``-``, ..."""
    idx = pc.subtract(pc.cumulative_sum(pa.nulls(n, pa.int64()).fill_null(1)), 1)  # 0 .. n-1
    return pc.take(pa.array(MISSING), pc.subtract(idx, pc.multiply(pc.divide(idx, 3), 3)))


# --- value conventions, both ways ----------------------------------------------------------------


def _period_out(values: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(values, r"^([0-9]{4})-([0-9]{2})$", "\\1年\\2月")


def _period_in(values: pa.Array) -> pa.Array:
    values = pc.replace_substring_regex(values, r"^([0-9]{4})年([0-9])月$", "\\1-0\\2")
    return pc.replace_substring_regex(values, r"^([0-9]{4})年([0-9]{2})月$", "\\1-\\2")


def _timestamp(values: pa.Array, pattern: str, parse: str, offset: pa.Scalar, fmt: str) -> pa.Array:
    well_formed = _matches(values, pattern)
    parsed = pc.strptime(values, format=parse, unit="s", error_is_null=True)
    shifted = pc.strftime(pc.cast(pc.add(parsed, offset), pa.timestamp("s")), format=fmt)
    return pc.if_else(pc.and_(well_formed, pc.is_valid(parsed)), shifted, values)


def _timestamp_out(values: pa.Array) -> pa.Array:
    return _timestamp(values, TIMESTAMP_RE, "%Y-%m-%dT%H:%M:%SZ", BEIJING_OFFSET, "%Y-%m-%d %H:%M:%S")


def _timestamp_in(values: pa.Array) -> pa.Array:
    return _timestamp(values, LOCAL_TIMESTAMP_RE, "%Y-%m-%d %H:%M:%S", pc.negate(BEIJING_OFFSET), "%Y-%m-%dT%H:%M:%SZ")


def _replace(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    out = values
    for old, new in mapping.items():
        out = pc.if_else(pc.equal(values, old), new, out)
    return out


def _bool_out(values: pa.Array) -> pa.Array:
    return _replace(values, {"true": "是", "false": "否"})


def _bool_in(values: pa.Array) -> pa.Array:
    return _replace(values, {"是": "true", "否": "false"})


def _unit_labels(codes: pa.Array, product_codes: pa.Array | None) -> pa.Array:
    """Unit codes -> Chinese labels: the product's own label (万辆 for cars, 万台 for phones) when the
    record's unit is its product's unit, else the unit's first label, else the text as it is."""
    table = units().by_code
    generic = pc.take(pa.array([u.label for u in table.values()]), pc.index_in(codes, pa.array(list(table))))
    labels = pc.coalesce(generic, codes)
    if product_codes is None:
        return labels
    catalogue = products()
    at = pc.index_in(product_codes, pa.array(list(catalogue)))
    own_unit = pc.take(pa.array([p.unit_code for p in catalogue.values()]), at)
    own_label = pc.take(pa.array([p.unit_zh for p in catalogue.values()]), at)
    return pc.if_else(pc.fill_null(pc.equal(own_unit, codes), False), own_label, labels)


def _unit_codes(labels: pa.Array) -> pa.Array:
    table = units().by_label
    codes = pc.take(pa.array([u.code for u in table.values()]), pc.index_in(labels, pa.array(list(table))))
    return pc.coalesce(codes, labels)


# --- encode --------------------------------------------------------------------------------------


def _published(f: Field, values: pa.Array) -> pa.Array:
    if f.kind is Kind.PERIOD:
        return by_distinct_value(values, _period_out)
    if f.kind is Kind.TIMESTAMP:
        return by_distinct_value(values, _timestamp_out)
    if f.kind is Kind.BOOL:
        return by_distinct_value(values, _bool_out)
    if f.kind in NUMERIC and f.unit:
        return shift_point(values, -power_of_ten(display_unit(f), units().by_code[f.unit]))
    return values


def _write(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    try:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="none", quoting_header="none"))
    except pa.ArrowInvalid:  # a value with a comma, quote or line break: quote everything
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(quoting_style="needed", quoting_header="needed"))
    return buf.getvalue()


def _unit_runs(table: pa.Table) -> list[tuple[str | None, int, int]]:
    """(unit label, first row, rows) of each run of consecutive records in one unit."""
    codes = _array(table[UNIT_FIELD])
    products_column = _array(table["product_code"]) if "product_code" in table.column_names else None
    runs: list[tuple[str | None, int, int]] = []
    for i, label in enumerate(_unit_labels(codes, products_column).to_pylist()):
        if runs and runs[-1][0] == label:
            runs[-1] = (label, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((label, i, 1))
    return runs


def _block(schema: RecordSchema, table: pa.Table, unit_label: str | None, claimed: int | None = None) -> str:
    """Header, records and 合计 row; ``unit_label``: the unit of the fields without one of their own."""
    fields = {f.name: f for f in schema.fields}
    n = table.num_rows
    markers = _markers(n)
    headers, columns, totals = [], [], []
    for name in table.column_names:
        values, f = _array(table[name]), fields.get(name)
        total = ""
        if f is None:
            headers.append(name)
        else:
            in_block_unit = unit_label is not None and f.kind in NUMERIC and not f.unit
            headers.append(f"{f.label_zh}({unit_label})" if in_block_unit else header(f))
            values = _published(f, values)
            if f.kind in NUMERIC and (f.unit or in_block_unit):
                s = decimal_sum(values)
                total = MISSING[0] if s is None else format(s, "f")
        if values.null_count:
            values = pc.if_else(pc.is_null(values), markers, values)
        columns.append(values)
        totals.append(total)
    totals[0] = f"合计(共{n if claimed is None else claimed}条)"
    body = pa.Table.from_arrays(
        [pa.concat_arrays([c, pa.array([t])]) for c, t in zip(columns, totals, strict=True)], names=headers
    )
    return _write(body).decode("utf-8")


def encode(schema: RecordSchema, table: pa.Table, encoding: str, claimed: int | None = None) -> bytes:
    """One partition's file: header, records, 合计 row (a block per unit and a 总计 line for a dataset
    with a ``unit`` field); in ``encoding`` (``gbk`` or ``gb18030``). The 合计 (or 总计) row counts
    the records, or says ``claimed`` (a portal whose count is wrong).

    ``table`` holds canonical text columns, normally the schema's fields; a column the schema does not
    know (a drifted name) is published under its own name, as it is."""
    if UNIT_FIELD not in schema.names:
        return _block(schema, table, None, claimed).encode(encoding)
    if UNIT_FIELD in table.column_names:
        runs = _unit_runs(table) or [(None, 0, 0)]  # no record: one empty table, no unit to show
        # A record without a unit: its table's headers say so with the missing-value mark, 本月(-).
        blocks = [
            _block(schema, table.slice(i, n).drop_columns([UNIT_FIELD]), MISSING[0] if label is None and n else label)
            for label, i, n in runs
        ]
    else:  # the unit field renamed (schema drift): published as it is, in one block
        blocks = [_block(schema, table, None)]
    grand_total = f"总计(共{table.num_rows if claimed is None else claimed}条)\n"
    return "\n".join([*blocks, grand_total]).encode(encoding)


# --- decode --------------------------------------------------------------------------------------


def _text_encoding(body: bytes) -> tuple[bytes, str]:
    """The body without its byte order mark, and its encoding, read from the bytes: a BOM wins
    (UTF-8; UTF-16, transcoded to UTF-8 here), else GB18030 (a superset of GBK). No GBK / GB18030
    header begins with these bytes (``FF`` is not a GBK byte, ``FE FF`` not a GBK character, and
    ``EF BB BF`` would be 锘 and half a character)."""
    if body.startswith(UTF8_BOM):
        return body[len(UTF8_BOM) :], "utf-8"
    for bom, encoding in UTF16_BOMS:
        if body.startswith(bom):
            try:
                return body[len(bom) :].decode(encoding).encode("utf-8"), "utf-8"
            except UnicodeDecodeError as exc:
                raise DecodeError(f"not {encoding} text (cut inside a character?): {exc}") from exc
    return body, DECODE_ENCODING


def _header(fh: BinaryIO, encoding: str) -> list[str]:
    """The header line's cells, made plain (``本月（万千瓦时）`` is ``本月(万千瓦时)``); ``fh`` left at
    the line below."""
    head = fh.readline()
    if not head:
        raise DecodeError("empty body")
    try:
        line = head.removesuffix(b"\n").decode(encoding).removeprefix("\ufeff").rstrip("\r")
        headers = next(csv.reader([line]))
    except (UnicodeDecodeError, csv.Error, StopIteration) as exc:
        raise DecodeError(f"no readable header line: {exc}") from exc
    return [plain_label(h) for h in headers]


class _RecordEnds:
    """Where the records of a file's rows end, read once, a block at a time: the quote state (inside a
    quoted value or not) carries over from one block to the next, so each byte is scanned once.

    The rules are Arrow's reader's: a double quote opens a quoted value only at the start of a field
    (the start of a line, or after a comma or a line break); inside one, ``""`` is a quote and a lone
    quote closes it; a quote anywhere else (``a"b``, or after a closing quote) is plain text."""

    def __init__(self) -> None:
        self._quoted = False  # inside a quoted value
        self._quote_last = False  # inside one, and the last byte scanned was a quote: closing or ``""``

    def feed(self, data: bytes, start: int) -> int:
        """Scan ``data[start:]`` (``data`` begins at a record's start; ``data[:start]`` was fed before,
        with no record end in it). Returns the offset in ``data`` just after its last line feed outside
        a quoted value, 0 when there is none."""
        n, i, end = len(data), start, 0
        if self._quote_last and i < n:
            self._quote_last = False
            if data[i] == 0x22:  # ``""``: a quote, the value goes on
                i += 1
            else:
                self._quoted = False
        while i < n:
            q = data.find(b'"', i)
            if self._quoted:
                if q < 0:
                    break
                if q + 1 == n:  # closing or the first of ``""``: the next block says
                    self._quote_last = True
                    break
                if data[q + 1] == 0x22:
                    i = q + 2
                else:
                    self._quoted = False
                    i = q + 1
                continue
            at = data.rfind(b"\n", i, n if q < 0 else q)
            if at >= 0:
                end = at + 1
            if q < 0:
                break
            self._quoted = q == 0 or data[q - 1] in b",\n\r"
            i = q + 1
        return end


def _row_tables(fh: BinaryIO, width: int, encoding: str) -> Iterator[pa.Table]:
    """The rows below the header, about :data:`BLOCK_BYTES` of the file at a time (whole records:
    a block ends after a line feed outside quotes, :class:`_RecordEnds`; a record longer than a block
    makes its block longer, up to :data:`RECORD_BYTES_MAX`, then DecodeError), every cell as text,
    as served (nothing made null yet); columns ``c0``, ...

    Each block is parsed by Arrow, which transcodes it while it parses (GB18030 or UTF-8, strictly:
    a body cut inside a character fails). A line feed is never part of a GBK / GB18030 or UTF-8
    character, nor is a double quote, so a block ends between two characters; without quotes no
    value can hold a line break, and Arrow splits a block at any line feed (faster). Blocks are read
    one at a time, when the previous one is done with (Arrow's own streaming reader reads ahead as
    far as it can: memory would grow with the file)."""
    names = [f"c{i}" for i in range(width)]
    read_options = pacsv.ReadOptions(column_names=names, encoding="utf8" if encoding == "utf-8" else encoding)
    convert_options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    rest = b""
    ends = _RecordEnds()
    while True:
        more = fh.read(BLOCK_BYTES)
        data = rest + more if rest else more
        at = len(data) if not more else ends.feed(data, len(rest))
        if not at:  # no whole record yet: read on (or the file ended)
            if not data:
                return
            if len(data) > RECORD_BYTES_MAX:
                raise DecodeError(
                    f"no record end in {len(data)} bytes (more than {RECORD_BYTES_MAX}): a quoted value left open?"
                )
            rest = data
            continue
        block, rest = data[:at], data[at:]
        del data
        try:
            rows = pacsv.read_csv(
                pa.py_buffer(block),
                read_options=read_options,
                parse_options=pacsv.ParseOptions(newlines_in_values=b'"' in block),
                convert_options=convert_options,
            )
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not {encoding} text (cut inside a character?): {exc}") from exc
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DecodeError(f"not a complete CSV file: {exc}") from exc
        if rows.num_rows:
            yield rows
        if not more:
            return


def _split_total(rows: pa.Table, width: int) -> tuple[pa.Table, list[str], int | None]:
    """The records of ``rows`` (the file's last rows), the cells of the 合计 row below them, and the
    count it claims (None: a 合计 row without ``(共N条)``); DecodeError when they do not end with one."""
    last = rows.slice(rows.num_rows - 1).to_pylist()[0]
    cells = [last[f"c{i}"] for i in range(width)]
    m = TOTAL_RE.match(WHITESPACE.sub("", plain_label(cells[0])))
    if not m:
        raise DecodeError(f"the file does not end with its 合计 row (truncated?); last line: {cells}")
    return rows.slice(0, rows.num_rows - 1), cells, None if m.group(1) is None else int(m.group(1))


class _Sums:
    """The exact sums of a table's columns (numbers made plain), added up chunk by chunk: what
    :func:`decimal_sum` of each whole column would give, :class:`Unsummable` included."""

    def __init__(self) -> None:
        self._sums: dict[int, Decimal | None] = {}
        self._unsummable: dict[int, Unsummable] = {}

    def add(self, i: int, column: pa.Array) -> None:
        if i in self._unsummable:
            return
        try:
            part = decimal_sum(column, SUM_DIGITS)
        except Unsummable as exc:
            self._unsummable[i] = exc
            return
        if part is not None:
            before = self._sums.get(i)
            with decimal.localcontext() as exact:
                exact.prec = 2 * SUM_DIGITS  # sums of numbers of at most SUM_DIGITS digits: exact
                self._sums[i] = part if before is None else before + part

    def of(self, i: int) -> Decimal | None:
        if i in self._unsummable:
            raise self._unsummable[i]
        return self._sums.get(i)


def _check_sums(headers: list[str], cells: list[str], summed) -> None:
    """DecodeError unless every sum of the 合计 row (``cells``) adds up; ``summed(i)`` gives column
    ``i``'s sum (:func:`decimal_sum` of its values with their presentation forms made plain)."""
    for i, cell in enumerate(cells[1:], start=1):
        cell = plain_number(cell)
        if cell == "":
            continue
        try:
            total = summed(i)
        except Unsummable:
            continue  # a figure wider than any table holds: its record is refused, its sum not checked
        if cell in MISSING:
            if total is not None:
                raise DecodeError(f"合计 of {headers[i]} is missing but its records sum to {total}")
            continue
        try:
            stated = Decimal(cell)
        except ArithmeticError as exc:
            raise DecodeError(f"合计 of {headers[i]} is not a number: {cell!r}") from exc
        if total is None or total != stated:
            raise DecodeError(f"合计 of {headers[i]} is {cell}, its records sum to {total}")


def _columns(schema: RecordSchema, headers: list[str], empty: bool) -> tuple[dict[str, tuple[int, int]], str | None]:
    """Field name -> (column index, power of ten from the served unit to the canonical one); and, for a
    dataset with a ``unit`` field, the unit label of the block's figures (None: an empty block's)."""
    by_label = {f.label_zh: f for f in schema.fields}
    per_record_unit = UNIT_FIELD in schema.names
    found: dict[str, tuple[int, int]] = {}
    block_units: set[str] = set()
    served = []
    for i, h in enumerate(headers):
        h = h.strip()
        m = None if h in by_label else HEADER_UNIT_RE.match(h)
        label, unit_label = (m.group("label"), m.group("unit")) if m else (h, None)
        f = by_label.get(label)
        if f is None:
            served.append(h)
            continue
        if f.name in found:
            raise SchemaDrift(f"{schema.dataset}: two columns for {f.name} ({f.label_zh})")
        shift = 0
        if per_record_unit and f.kind in NUMERIC and not f.unit:
            if unit_label:  # the block's unit: the records', not a conversion
                block_units.add(unit_label)
        elif f.unit or unit_label:
            unit = units().by_label.get(unit_label or "")
            if not f.unit or unit is None:
                expected = f"a unit of {f.unit}" if f.unit else "no unit"
                raise SchemaDrift(f"{schema.dataset}: {f.name} is served as {h!r}, with {expected} expected")
            try:
                shift = power_of_ten(unit, units().by_code[f.unit])
            except ValueError as exc:
                raise SchemaDrift(f"{schema.dataset}: {f.name} is served as {h!r}: {exc}") from exc
        found[f.name] = (i, shift)
        served.append(f.name)
    if len(block_units) > 1:
        raise SchemaDrift(f"{schema.dataset}: one block's figures in {' and '.join(sorted(block_units))}")
    if per_record_unit and (block_units or empty):
        if UNIT_FIELD in found:
            raise SchemaDrift(f"{schema.dataset}: the unit both in a column and in the headers")
        served.append(UNIT_FIELD)
    check_fields(schema, served, f"{schema.dataset} (csv_download)")
    return found, next(iter(block_units), None)


def _is_name(f: Field) -> bool:
    return f.kind is Kind.TEXT and (f.name == "name" or f.name.endswith("_name"))


def _canonical(f: Field, values: pa.Array) -> pa.Array:
    """A column of one field as canonical text; a numeric one has its presentation forms made plain
    already (:func:`plain_numbers`)."""
    if _is_name(f):
        values = plain_names(values)  # names indented with (full-width) spaces
    values = pc.if_else(pc.is_in(values, pa.array(MISSING)), pa.scalar(None, pa.string()), values)
    if f.kind is Kind.PERIOD:
        return by_distinct_value(values, _period_in)
    if f.kind is Kind.TIMESTAMP:
        # Beijing local time (the portal's) to UTC, and a cell written with an offset to the same text
        return canonical_timestamps(by_distinct_value(values, _timestamp_in))
    if f.kind is Kind.BOOL:
        return by_distinct_value(values, _bool_in)
    return values


def _line(values: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def _table_chunks(schema: RecordSchema, fh: BinaryIO, encoding: str, exact_count: bool) -> Iterator[DecodedPage]:
    """One table (header, records, 合计 row) read from ``fh`` a block at a time: a page of canonical
    records per block (``raw_text`` the rows as served); the last one's ``total`` is the 合计 count
    (None when the 合计 row has none: then only its sums are checked). The 合计 row is checked
    (its sums across every block; its count too with ``exact_count``: a table inside a file whose
    总计 line holds the claim) before the last page is given: DecodeError instead."""
    headers = _header(fh, encoding)
    width = len(headers)
    sums = _Sums()
    found: dict[str, tuple[int, int]] | None = None
    unit_label: str | None = None
    count = 0

    def page(records: pa.Table, last: bool, total: int | None = None) -> DecodedPage:
        nonlocal found, unit_label, count
        if found is None:
            found, unit_label = _columns(schema, headers, empty=last and not count and not records.num_rows)
        count += records.num_rows
        plain: dict[int, pa.Array] = {}  # column index -> its numbers made plain (12,345.67 -> 12345.67)
        for i in range(width):
            plain[i] = plain_numbers(_array(records[f"c{i}"]))
            if i:
                sums.add(i, plain[i])
        columns = {}
        for name, (i, shift) in found.items():
            f = schema.field(name)
            values = _canonical(f, plain[i] if f.kind in NUMERIC else _array(records[f"c{i}"]))
            columns[name] = shift_point(values, shift) if shift else values
        if UNIT_FIELD in schema.names and UNIT_FIELD not in found:
            unit = None if unit_label in (None, *MISSING) else _unit_codes(pa.array([unit_label]))[0].as_py()
            columns[UNIT_FIELD] = pa.array([unit] * records.num_rows, pa.string())
        table = pa.table({n: columns[n] for n in schema.names})
        return DecodedPage(table, lambda i: _line(list(records.slice(i, 1).to_pylist()[0].values())), total)

    pending: pa.Table | None = None  # the last block read: it may end with the 合计 row
    for rows in _row_tables(fh, width, encoding):
        if pending is not None:
            yield page(pending, last=False)
        pending = rows
    if pending is None:
        raise DecodeError("no 合计 row: the file ends after its header")
    records, cells, claimed = _split_total(pending, width)
    last = page(records, last=True, total=claimed)
    if exact_count and claimed is not None and claimed != count:
        raise DecodeError(f"合计 row counts {claimed} records, the table holds {count}")
    _check_sums(headers, cells, sums.of)
    yield last


def _blocks(body: bytes, encoding: str) -> tuple[list[bytes], int]:
    """The tables of a file with a block per unit, and the count its 总计 line claims."""
    *blocks, last = BLOCK_SEPARATOR.split(body.rstrip(b"\r\n"))
    m = GRAND_TOTAL_RE.match(WHITESPACE.sub("", plain_label(last.decode(encoding, errors="replace"))))
    if not blocks or not m:
        raise DecodeError(f"the file does not end with its 总计 line after its tables (truncated?): {last[-80:]!r}")
    return blocks, int(m.group(1))


def _joined(pages: list[DecodedPage], total: int | None) -> DecodedPage:
    """Pages one after the other as one page (record ``i`` of the whole is found among its parts)."""
    starts = list(itertools.accumulate((p.num_records for p in pages), initial=0))[:-1]

    def raw_text(i: int) -> str:
        k = bisect.bisect_right(starts, i) - 1
        while not pages[k].num_records:  # parts without records share their start with the next
            k += 1
        return pages[k].raw_text(i - starts[k])

    return DecodedPage(pa.concat_tables(p.table for p in pages), raw_text, total)


def _envelope_page(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope]) -> DecodedPage | None:
    """The page of an answer that is the portal's JSON envelope saying other than success, or None."""
    if envelopes and body.lstrip()[:1] in (b"{", b"["):
        verdict = read(envelopes, body)
        if verdict is not None and verdict.answer is not Answer.SUCCESS:
            from ibdc.formats.jsonread import empty_page

            return empty_page(schema, verdict)
    return None


def decode_chunks(schema: RecordSchema, fh: BinaryIO, envelopes: Sequence[Envelope] = ()) -> Iterator[DecodedPage]:
    """The file ``fh`` (binary, seekable, at its start) as consecutive pages of at most
    :data:`BLOCK_BYTES` of it each: memory bounded by the block, not by the file. The pages' tables
    one after the other are :func:`decode`'s table, each page's ``raw_text`` by its own rows; the last
    page's ``total`` is the file's claim (:func:`decode`). A truncated or corrupt file raises
    :class:`DecodeError` before its last page is given (earlier pages may have been given already).
    A dataset with a ``unit`` field (a block per unit: small files), a UTF-16 file or a JSON envelope
    in place of the file is read whole, one page."""
    start = fh.read(len(UTF8_BOM))
    fh.seek(0)
    if not start:
        raise DecodeError("empty body")
    sniffed = start + fh.read(BLOCK_BYTES)
    fh.seek(0)
    if (
        UNIT_FIELD in schema.names
        or any(start.startswith(bom) for bom, _ in UTF16_BOMS)
        or (envelopes and sniffed.lstrip()[:1] in (b"{", b"["))
    ):
        yield decode(schema, fh.read(), envelopes)
        return
    encoding = DECODE_ENCODING
    if start == UTF8_BOM:
        fh.seek(len(UTF8_BOM))
        encoding = "utf-8"
    yield from _table_chunks(schema, fh, encoding, exact_count=False)


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """The file's records; ``total`` is the count its 合计 row (or 总计 line) claims, which the extract
    reconciles with the records received (a wrong count is the source's claim, not a corrupt file);
    None when the 合计 row claims no count. The encoding is read from the bytes (:func:`_text_encoding`).
    ``envelopes``: a portal's own, declared in the registry, read from an answer that is JSON (an error
    in place of the file) into ``verdict``; a CSV file is never read as JSON. A large file is better
    read a block at a time from a file: :func:`decode_chunks`."""
    if not body:
        raise DecodeError("empty body")
    refused = _envelope_page(schema, body, envelopes)
    if refused is not None:
        return refused
    body, encoding = _text_encoding(body)
    if UNIT_FIELD not in schema.names:
        pages = list(_table_chunks(schema, io.BytesIO(body), encoding, exact_count=False))
        return _joined(pages, pages[-1].total)
    if not body:
        raise DecodeError("empty body")
    tables, claimed = _blocks(body, encoding)
    pages = [p for table in tables for p in _table_chunks(schema, io.BytesIO(table), encoding, exact_count=True)]
    return _joined(pages, claimed)
