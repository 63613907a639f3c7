"""Parsing one raw object (page) into canonical rows, and what every parser returns.

A page is decoded by its style's wire format (the manifest says which), or taken as the extraction
decoded it (:func:`parse_decoded_page`, :mod:`ibdc.landing.decoded`), records the source served
twice are set aside (the manifest lists them: identical repeats are dropped, conflicting ones
quarantined), and the dataset's validator turns the rest into typed rows and rejects with reasons.
Partition-wide lineage (province, period, batch, source object and version, load time) is not in the
rows: the loader supplies it once per page (see loading.postgres).
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

from ibdc.formats import DecodedPage, format_for
from ibdc.landing.manifest import Manifest, ManifestObject
from ibdc.reference import divisions
from ibdc.schemas import SCHEMAS


@dataclass(frozen=True)
class Reject:
    """A record that failed validation, kept with its raw text and the reason."""

    source_object: str
    record_position: int
    raw_text: str
    reason: str


@dataclass(frozen=True)
class PageRows:
    source_object: str
    source_version_id: str | None  # the S3 version id of source_object
    rows: pa.Table
    rejects: list[Reject] = field(default_factory=list)
    records_served: int = 0  # records on the page as served, identical repeats included

    @property
    def rows_in(self) -> int:
        """Records taken in: valid rows and rejects (a record served twice identically counts once)."""
        return self.rows.num_rows + len(self.rejects)


@dataclass(frozen=True)
class Records:
    """A page's records handed to a dataset's validator: canonical string columns, the records'
    positions in the partition, and each record's raw text as served."""

    table: pa.Table
    positions: list[int]
    raw_text: Callable[[int], str]  # by row of ``table``


# validate(manifest, the page's object in it, records) -> rows and rejects
Validator = Callable[[Manifest, ManifestObject, Records], PageRows]


def _known_division(code: str) -> str:
    if code not in divisions():
        raise ValueError(f"unknown division code {shown(code)} (GB/T 4754-2017 manufacturing divisions are 13-43)")
    return code


# A GB/T 4754-2017 manufacturing division code, as the validators' models declare it.
DivisionCode = Annotated[str, AfterValidator(_known_division)]

# --- numbers ------------------------------------------------------------------------------------------
#
# Every number a validator takes is checked on its TEXT first, before any Decimal is made, scaled or
# written out: a number is plain decimal text -- an optional "-" (where the column may be negative),
# 1 to MAX_INTEGER_DIGITS ASCII digits, optionally "." and 1 to MAX_FRACTION_DIGITS digits, optionally
# an exponent "e" / "E" with an optional sign and 1 or 2 digits -- and, written out with its exponent
# applied, at most MAX_INTEGER_DIGITS digits before the point and MAX_FRACTION_DIGITS after it.
#
# The bounds: 10**20 of anything is far beyond any industrial figure (the world's yearly electricity is
# about 3*10**16 kWh), and 12 places more than any source publishes; scaled to a base unit (at most
# 10**8: 亿) a value still has fewer than 32 significant digits, well inside PostgreSQL numeric (131072
# digits before the point, 16383 after), and is computed exactly (EXACT, below). Refused: "1e99999999"
# (decimal.Overflow once scaled), "1E+200000" (200,001 digits written out), NaN, Infinity, "+1", ".5",
# "5.", "1_000", whitespace, and any digit that is not ASCII -- Python's Decimal and int read Arabic-Indic
# "١٢٣" as 123 and full-width "１２" as 12; the decoders make the presentation forms portals print
# plain (ibdc.formats.presentation), whatever is left is not a number the platform takes.
MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 12
# The syntax, for Python's re (with re.ASCII, fullmatch) and RE2 (Arrow; anchored by number_mask).
NUMBER_SYNTAX = (
    rf"(?P<sign>-)?(?P<int>[0-9]{{1,{MAX_INTEGER_DIGITS}}})(?:\.(?P<frac>[0-9]{{1,{MAX_FRACTION_DIGITS}}}))?"
    r"(?:[eE](?P<esign>[-+]?)(?P<exp>[0-9]{1,2}))?"
)
NUMBER_TEXT = re.compile(NUMBER_SYNTAX, re.ASCII)
# The same without an exponent: within the bounds as written (number_mask's fast path; RE2).
PLAIN_UNSIGNED = rf"^[0-9]{{1,{MAX_INTEGER_DIGITS}}}(?:\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?$"
PLAIN_SIGNED = "^-?" + PLAIN_UNSIGNED[1:]
# Any length of digits: a number that fails NUMBER_TEXT but matches this is out of bounds, not malformed.
ANY_NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?", re.ASCII)
NOT_PLAIN_NUMBER_TEXT = re.compile(r"[^\x21-\x7e]|_")
BOUNDS = f"at most {MAX_INTEGER_DIGITS} digits before the point and {MAX_FRACTION_DIGITS} after it, written out"
# Exact decimal arithmetic on bounded numbers: any rounding or overflow raises (an ArithmeticError,
# the record's reject) instead of changing a figure silently (the default context rounds to 28 digits).
EXACT = decimal.Context(
    prec=4 * (MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS),
    traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation, decimal.DivisionByZero],
)


def clipped(text: str, limit: int = 40) -> str:
    """``text`` for a reason, cut to ``limit`` characters (a served value may be megabytes)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def shown(text: str, limit: int = 40) -> str:
    """``repr(text)`` for a reason, cut to ``limit`` characters (a served value may be megabytes)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def number_fault(text: str, signed: bool = True) -> str | None:
    """Why ``text`` is not a bounded plain decimal (see NUMBER_SYNTAX and the bounds above), or None.
    ``signed``: whether a leading ``-`` may be there (the sign of the value is the model's business
    otherwise: ``-0`` and ``-3`` pass here). Only the text is looked at: no Decimal is made."""
    m = NUMBER_TEXT.fullmatch(text)
    if m and (signed or not m["sign"]):
        exp = int(m["exp"] or 0) * (-1 if m["esign"] == "-" else 1)
        if len(m["int"]) + exp <= MAX_INTEGER_DIGITS and len(m["frac"] or "") - exp <= MAX_FRACTION_DIGITS:
            return None
        return f"number out of bounds: {shown(text)} ({BOUNDS})"
    if NOT_PLAIN_NUMBER_TEXT.search(text):
        return f"not a valid decimal in plain ASCII digits: {shown(text)}"
    if ANY_NUMBER_TEXT.fullmatch(text):
        if not signed and text.startswith("-"):
            return f"must not be negative: {shown(text)}"
        return f"number out of bounds: {shown(text)} ({BOUNDS})"
    return f"not a valid decimal: {shown(text)}"


def number_mask(values: pa.Array | pa.ChunkedArray, signed: bool = True) -> pa.Array | pa.ChunkedArray:
    """:func:`number_fault` column-wise, with Arrow: per value, whether it is a bounded plain decimal
    (null: False). The same syntax and bounds, so a page's mask and its rejects' reasons agree.
    Plain figures without an exponent (nearly all) are settled by one match; only a column holding
    another form is taken apart."""
    plain = pc.fill_null(pc.match_substring_regex(values, PLAIN_SIGNED if signed else PLAIN_UNSIGNED), False)
    if pc.all(plain).as_py() is not False:
        return plain
    parts = pc.extract_regex(values, f"^(?:{NUMBER_SYNTAX})$")  # null where the syntax fails
    exp_digits = pc.struct_field(parts, "exp")
    magnitude = pc.cast(pc.if_else(pc.equal(exp_digits, ""), "0", exp_digits), pa.int32())
    exp = pc.if_else(pc.equal(pc.struct_field(parts, "esign"), "-"), pc.negate(magnitude), magnitude)
    ok = pc.and_kleene(
        pc.less_equal(pc.add(pc.utf8_length(pc.struct_field(parts, "int")), exp), MAX_INTEGER_DIGITS),
        pc.less_equal(pc.subtract(pc.utf8_length(pc.struct_field(parts, "frac")), exp), MAX_FRACTION_DIGITS),
    )
    if not signed:
        ok = pc.and_kleene(ok, pc.equal(pc.struct_field(parts, "sign"), ""))
    return pc.fill_null(ok, False)


def ascii_number(value: Any) -> Any:
    """The shared check of every numeric field of the pydantic validators: a number (not a boolean)
    whose text passes :func:`number_fault`; what passes is then read as the field's type. A value
    that is not text (a number a caller built) is checked as its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not a number: {value!r}")
    text = value if isinstance(value, str) else str(value)  # a Decimal as "1E+200000": never written out
    if (why := number_fault(text)) is not None:
        raise ValueError(why)
    return text


def exact_product(value: Decimal, factor: Decimal) -> Decimal:
    """``value * factor`` exactly (EXACT): a result that would be rounded raises ``decimal.Inexact``."""
    return EXACT.multiply(value, factor)


# A decimal field of a validator's model: bounded plain ASCII decimal text (see number_fault).
AsciiDecimal = Annotated[Decimal, BeforeValidator(ascii_number)]


# --- text as served -------------------------------------------------------------------------------

# The characters text may not hold (see text_fault): every control character but tab, line feed and
# carriage return, U+FFFD, and surrogate code points.
REFUSED_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")
# fmt: off
C0_NAMES = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI",
            "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US")
# fmt: on


def text_fault(value: str) -> str | None:
    """The shared check of every text field of every dataset: why ``value`` cannot be taken as
    served, or None when it can.

    Text is kept exactly as the source served it -- quotes, commas, backslashes (``\\``, ``\\.``,
    ``\\N``), characters outside the Basic Multilingual Plane, and the three control characters real
    portals serve inside names and addresses: tab (U+0009), line feed (U+000A) and carriage return
    (U+000D). Refused, and the record quarantined with a reason naming the character and where it is:

    - every other C0 control character, U+0000-U+001F: NUL, which PostgreSQL text cannot hold at
      all (a COPY holding one fails the whole partition), and the rest, which no registry name,
      address or code legitimately holds (a sign of a corrupt export or of injected terminal
      escapes);
    - DEL (U+007F) and the C1 controls (U+0080-U+009F): what text decoded with the wrong encoding
      leaves behind;
    - U+FFFD, the replacement character: the decoders put it where a page served a lone surrogate
      (JSON ``"\\ud800"``, which no UTF-8 text can hold; ``ibdc.formats.base.table_from_records``), and a
      source serving it itself had already lost the character it stands for;
    - a surrogate code point (U+D800-U+DFFF), should one reach a validator directly.
    """
    found = REFUSED_IN_TEXT.search(value)
    if not found:
        return None
    char, at = found.group(), f"at character {found.start() + 1}"
    code = ord(char)
    if code < 0x20:
        return f"control character U+{code:04X} ({C0_NAMES[code]}) {at}"
    if code == 0x7F:
        return f"control character U+007F (DEL) {at}"
    if code <= 0x9F:
        return f"C1 control character U+{code:04X} {at} (text decoded with the wrong encoding?)"
    if code == 0xFFFD:
        return (
            f"U+FFFD REPLACEMENT CHARACTER {at}: the source served a lone surrogate there (such as \\ud800,"
            " which no text can hold) or had already lost the character"
        )
    return f"lone surrogate U+{code:04X} {at}"


def text_faults(record: dict) -> list[str]:
    """:func:`text_fault` of every text value of a record, as ``field: why``."""
    return [
        f"{name}: {why}"
        for name, value in record.items()
        if isinstance(value, str) and (why := text_fault(value)) is not None
    ]


def reason_of(exc: ValidationError) -> str:
    """A pydantic validation error as one line: ``field: why; field: why``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def error_reason(exc: Exception) -> str:
    """A record's error as its reject's reason (never empty): a ValueError's message as it is; an
    arithmetic or encoding error named by its type (``Overflow: [<class 'decimal.Overflow'>]``)."""
    if isinstance(exc, ArithmeticError | UnicodeError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc) or type(exc).__name__


def validate_records(
    model: type[BaseModel],
    to_row: Callable[[Any, int], dict],
    arrow_schema: pa.Schema,
    manifest: Manifest,
    obj: ManifestObject,
    records: Records,
    context: dict | None = None,
) -> PageRows:
    """Validate a page record by record with a pydantic ``model`` (which has ``province_code`` and
    ``period``): a record with text the platform does not take (:func:`text_fault`, in any field,
    the model's or not), that fails the model, belongs to another partition, or whose model or row
    raises an arithmetic or encoding error (``decimal.Overflow``, ``InvalidOperation``,
    ``UnicodeError``, ...) becomes a reject with its reason; ``to_row(record, position)`` gives the
    raw table's row of a valid one. Never raises for what a record holds."""
    province, period = manifest.province_code, manifest.period
    rows: list[dict] = []
    rejects: list[Reject] = []
    for i, (position, item) in enumerate(zip(records.positions, records.table.to_pylist(), strict=True)):
        refused = text_faults(item)  # every field: the canonical records are all text
        if refused:
            rejects.append(Reject(obj.key, position, records.raw_text(i), "; ".join(refused)))
            continue
        try:
            rec = model.model_validate(item, context=context)
            if (rec.province_code, rec.period) != (province, period):
                served = f"{clipped(rec.province_code)} {clipped(rec.period)}"
                raise ValueError(f"record is for {served}, partition is {province} {period}")
            row = to_row(rec, position)
        except ValidationError as exc:
            rejects.append(Reject(obj.key, position, records.raw_text(i), reason_of(exc)))
        except (ValueError, ArithmeticError, UnicodeError) as exc:
            rejects.append(Reject(obj.key, position, records.raw_text(i), error_reason(exc)))
        else:
            rows.append(row)
    return PageRows(obj.key, obj.version_id, pa.Table.from_pylist(rows, schema=arrow_schema), rejects)


def parse_page(
    dataset: str, validate: Validator, manifest: Manifest, obj: ManifestObject, body: bytes, first_position: int
) -> PageRows:
    """Decode and validate one page; ``first_position`` is the partition position of its first record."""
    decoded = format_for(manifest.source.style).decode(SCHEMAS[dataset], body)
    return _parse_decoded(validate, manifest, obj, decoded, first_position, 0)


def parse_decoded_page(
    validate: Validator,
    manifest: Manifest,
    obj: ManifestObject,
    decoded: DecodedPage,
    first_position: int,
    first_index: int = 0,
) -> PageRows:
    """Validate one page already decoded (what :func:`parse_page` does after decoding its bytes), or
    the part of it from its record ``first_index`` on: the page stored decoded beside it
    (:mod:`ibdc.landing.decoded`)."""
    return _parse_decoded(validate, manifest, obj, decoded, first_position, first_index)


def parse_page_file(
    dataset: str, validate: Validator, manifest: Manifest, obj: ManifestObject, fh: BinaryIO, first_position: int
) -> Iterator[PageRows]:
    """One page read from ``fh`` (binary, seekable, at its start), decoded and validated part by part
    when its style reads a file a block at a time (``decode_chunks``: csv_download, whose page is a
    whole partition), so memory is bounded by a block; otherwise read whole, one part. Each part's
    records run on from the previous one's (positions, and the indices the manifest's ``duplicates``
    give)."""
    fmt = format_for(manifest.source.style)
    chunks = getattr(fmt, "decode_chunks", None)
    if chunks is None:
        yield parse_page(dataset, validate, manifest, obj, fh.read(), first_position)
        return
    index = 0
    for decoded in chunks(SCHEMAS[dataset], fh):
        yield _parse_decoded(validate, manifest, obj, decoded, first_position + index, index)
        index += decoded.num_records


def _parse_decoded(
    validate: Validator,
    manifest: Manifest,
    obj: ManifestObject,
    decoded: DecodedPage,
    first_position: int,
    first_index: int,
) -> PageRows:
    """Validate ``decoded``: the records of page ``obj`` from its record ``first_index`` on, at
    partition position ``first_position``."""
    end = first_index + decoded.num_records
    repeats = {
        d.index - first_index: d for d in manifest.duplicates if d.page == obj.page and first_index <= d.index < end
    }
    # A record the decoder could not read as served (decoded.faults: a JSON key twice, NaN, nesting too
    # deep) is quarantined with the decoder's reason, not validated.
    faults = {i: why for i, why in decoded.faults.items() if i not in repeats}
    skip = repeats.keys() | faults.keys()
    keep = [i for i in range(decoded.num_records) if i not in skip]
    records = Records(
        decoded.table if not skip else decoded.table.take(pa.array(keep, pa.int64())),  # keep may be empty
        [first_position + i for i in keep],
        decoded.raw_text if not skip else (lambda r: decoded.raw_text(keep[r])),
    )
    page = validate(manifest, obj, records)
    unreadable = [
        Reject(obj.key, first_position + i, decoded.raw_text(i), f"record not readable as served: {why}")
        for i, why in sorted(faults.items())
    ]
    conflicting = [
        Reject(
            obj.key,
            first_position + i,
            decoded.raw_text(i),
            f"record {json.dumps(d.key, ensure_ascii=False)} served again with different values "
            f"(first on page {d.first[0] + 1}, record {d.first[1] + 1}; the first is kept)",
        )
        for i, d in sorted(repeats.items())
        if not d.identical
    ]
    rejects = sorted([*page.rejects, *unreadable], key=lambda r: r.record_position) if unreadable else page.rejects
    return dataclasses.replace(page, rejects=[*rejects, *conflicting], records_served=decoded.num_records)
