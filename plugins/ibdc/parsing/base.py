"""Parsing one raw object (page) into canonical rows, and what every parser returns.

A page is decoded by its style's wire format (the manifest says which), records the source served
twice are set aside (the manifest lists them: identical repeats are dropped, conflicting ones
quarantined), and the dataset's validator turns the rest into typed rows and rejects with reasons.
Partition-wide lineage (province, period, batch, source object and version, load time) is not in the
rows: the loader supplies it once per page (see loading.postgres).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

import pyarrow as pa
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError

from ibdc.formats import format_for
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
    source_version: str | None
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


# validate(manifest, manifest object entry, records) -> rows and rejects
Validator = Callable[[dict, dict, Records], PageRows]


def _known_division(code: str) -> str:
    if code not in divisions():
        raise ValueError(f"unknown division code {code!r} (GB/T 4754-2017 manufacturing divisions are 13-43)")
    return code


# A GB/T 4754-2017 manufacturing division code, as the validators' models declare it.
DivisionCode = Annotated[str, AfterValidator(_known_division)]

# What Python's Decimal / int accept in a string beyond ASCII digits: any Unicode digit (Arabic-Indic
# "١٢٣" is 123, full-width "１２" is 12), "_" between digits, whitespace around. The decoders make the
# presentation forms portals print plain (ibdc.formats.presentation); whatever is left is not a number
# the platform takes.
NOT_PLAIN_NUMBER_TEXT = re.compile(r"[^\x21-\x7e]|_")


def ascii_number(value: Any) -> Any:
    """The shared check of every numeric field: a number (not a boolean), and as text only ASCII
    characters without ``_`` or whitespace. What passes is then read as the field's type (a malformed
    ASCII number such as ``12O,5x`` fails there, "Input should be a valid decimal")."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, str) and NOT_PLAIN_NUMBER_TEXT.search(value):
        raise ValueError(f"not a number in plain ASCII digits: {value!r}")
    return value


# A decimal field of a validator's model: ASCII digits only (see ascii_number).
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


def validate_records(
    model: type[BaseModel],
    to_row: Callable[[Any, int], dict],
    arrow_schema: pa.Schema,
    manifest: dict,
    obj: dict,
    records: Records,
    context: dict | None = None,
) -> PageRows:
    """Validate a page record by record with a pydantic ``model`` (which has ``province_code`` and
    ``period``): a record with text the platform does not take (:func:`text_fault`, in any field,
    the model's or not), that fails the model, or belongs to another partition, becomes a reject with
    its reason; ``to_row(record, position)`` gives the raw table's row of a valid one."""
    province, period = manifest["province_code"], manifest["period"]
    rows: list[dict] = []
    rejects: list[Reject] = []
    for i, (position, item) in enumerate(zip(records.positions, records.table.to_pylist(), strict=True)):
        refused = text_faults(item)  # every field: the canonical records are all text
        if refused:
            rejects.append(Reject(obj["key"], position, records.raw_text(i), "; ".join(refused)))
            continue
        try:
            rec = model.model_validate(item, context=context)
            if (rec.province_code, rec.period) != (province, period):
                raise ValueError(f"record is for {rec.province_code} {rec.period}, partition is {province} {period}")
        except ValidationError as exc:
            rejects.append(Reject(obj["key"], position, records.raw_text(i), reason_of(exc)))
        except ValueError as exc:
            rejects.append(Reject(obj["key"], position, records.raw_text(i), str(exc)))
        else:
            rows.append(to_row(rec, position))
    return PageRows(obj["key"], obj.get("version_id"), pa.Table.from_pylist(rows, schema=arrow_schema), rejects)


def parse_page(
    dataset: str, validate: Validator, manifest: dict, obj: dict, body: bytes, first_position: int
) -> PageRows:
    """Decode and validate one page; ``first_position`` is the partition position of its first record."""
    decoded = format_for(manifest["source"]["style"]).decode(SCHEMAS[dataset], body)
    repeats = {d["index"]: d for d in manifest.get("duplicates", []) if d["page"] == obj.get("page")}
    keep = [i for i in range(decoded.num_records) if i not in repeats]
    records = Records(
        decoded.table if not repeats else decoded.table.take(keep),
        [first_position + i for i in keep],
        decoded.raw_text if not repeats else (lambda r: decoded.raw_text(keep[r])),
    )
    page = validate(manifest, obj, records)
    conflicting = [
        Reject(
            obj["key"],
            first_position + i,
            decoded.raw_text(i),
            f"record {json.dumps(d['key'], ensure_ascii=False)} served again with different values "
            f"(first on page {d['first'][0] + 1}, record {d['first'][1] + 1}; the first is kept)",
        )
        for i, d in sorted(repeats.items())
        if not d["identical"]
    ]
    return dataclasses.replace(page, rejects=[*page.rejects, *conflicting], records_served=decoded.num_records)


@dataclass
class ParseResult:
    pages: list[PageRows]

    @property
    def rows_in(self) -> int:
        return sum(p.rows_in for p in self.pages)

    @property
    def rows_loaded(self) -> int:
        return sum(p.rows.num_rows for p in self.pages)

    @property
    def rejects(self) -> list[Reject]:
        return [r for p in self.pages for r in p.rejects]

    @property
    def rows(self) -> pa.Table:
        return pa.concat_tables(p.rows for p in self.pages)


def parse_pages(spec, manifest: dict, bodies: Iterable[bytes]) -> ParseResult:
    """Parse a partition's pages in order (record positions run on across pages)."""
    pages, position = [], 0
    for obj, body in zip(manifest["objects"], bodies, strict=True):
        page = spec.parse_page(manifest, obj, body, position)
        pages.append(page)
        position += page.records_served
    return ParseResult(pages)
