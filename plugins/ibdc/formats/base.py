"""What decoding a page gives, and the errors a page can raise."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from ibdc.errors import PermanentError, TransientError
from ibdc.schemas import Kind, RecordSchema


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
    """

    table: pa.Table
    raw_text: Callable[[int], str]
    total: int | None = None
    answered: frozenset[str] | None = None

    @property
    def num_records(self) -> int:
        return self.table.num_rows


class WireFormat(Protocol):
    """A style module: ``decode`` is all the platform needs; encoding is the simulator's business."""

    def decode(self, schema: RecordSchema, body: bytes) -> DecodedPage: ...


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


def list_of_objects(items: object, name: str) -> list[dict]:
    """``items`` when it is a JSON list of objects (a page's records), else ``TypeError``."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise TypeError(f"{name} is not a list of objects")
    return items


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


def table_from_records(schema: RecordSchema, records: list[dict], where: str = "") -> pa.Table:
    """Canonical string table from a list of dicts keyed by canonical names (values already text)."""
    if records:
        check_fields(schema, records[0].keys(), where)
    columns = {n: _utf8_column([r.get(n) for r in records]) for n in schema.names}
    return pa.table(columns)


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


def exact_loads(body: str | bytes) -> object:
    """JSON with every number kept as a :class:`Number` token."""
    return json.loads(body, parse_float=Number, parse_int=Number)


def exact_dumps(value: object) -> str:
    """JSON text of a value, :class:`Number` tokens written exactly as they are."""
    if isinstance(value, Number):
        return str(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}: {exact_dumps(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(exact_dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


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
