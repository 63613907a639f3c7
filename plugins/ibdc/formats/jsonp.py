"""Style ``jsonp``: paged JSON wrapped in a JavaScript callback (a portal built for browsers).

``cb({"totalCount": 42, "pageNo": 1, "pageSize": 10, "list": [{"productCode": "crude_steel", ...}]});``
served as ``application/javascript``: field names are the contract's in lowerCamelCase
(``current_month`` -> ``currentMonth``), numbers are JSON numbers with the exact digits of the
canonical text (``12.50`` stays ``12.50``), booleans JSON booleans, missing values ``null``; a value
that is not what its field's kind says (a malformed number such as ``12O,5x``) is served as a string.

The callback is any JavaScript identifier (ASCII letters, digits, ``_``, ``$``); the decoder accepts
whitespace around the wrapper and an optional trailing semicolon, nothing else.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pyarrow as pa

from ibdc.formats.base import DecodedPage, DecodeError, table_from_records, text
from ibdc.schemas import Kind, RecordSchema

NUMERIC = (Kind.DECIMAL, Kind.INT)
CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,127}")
WRAPPED = re.compile(rb"\s*([A-Za-z_$][A-Za-z0-9_$]*)\s*\((.*)\)\s*;?\s*", re.DOTALL)
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def camel(name: str) -> str:
    """``current_month`` -> ``currentMonth``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """``currentMonth`` -> ``current_month`` (for served names the contract does not know)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def json_token(kind: Kind | None, value: str | None) -> str:
    """A canonical text value as a JSON token: numbers as numbers with their exact digits, booleans as
    booleans, anything else (text, malformed values) as a JSON string."""
    if value is None:
        return "null"
    if kind in NUMERIC and JSON_NUMBER.fullmatch(value):
        return value
    if kind is Kind.BOOL and value in ("true", "false"):
        return value
    return json.dumps(value, ensure_ascii=False)


def _dump(value: object) -> str:
    """JSON text of a decoded value, numbers with the digits they were served with."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _value(value: object) -> str | None:
    """A served JSON value as canonical text; a nested object or array is kept as its JSON text."""
    return _dump(value) if isinstance(value, dict | list) else text(value)


def encode(schema: RecordSchema, table: pa.Table, total: int, page_no: int, page_size: int, callback: str) -> bytes:
    """One page: ``table`` holds its records with the served (maybe drifted) canonical column names."""
    if not CALLBACK.fullmatch(callback):
        raise ValueError(f"not a callback name: {callback!r}")
    kinds = {f.name: f.kind for f in schema.fields}
    names = {n: json.dumps(camel(n)) for n in table.column_names}
    items = ",".join(
        "{" + ",".join(f"{names[k]}:{json_token(kinds.get(k), v)}" for k, v in row.items()) + "}"
        for row in table.to_pylist()
    )
    doc = f'{{"totalCount":{int(total)},"pageNo":{int(page_no)},"pageSize":{int(page_size)},"list":[{items}]}}'
    # U+2028/U+2029 are valid in JSON strings but end a line in older JavaScript: escape them.
    doc = doc.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"{callback}({doc});".encode()


def unwrap(body: bytes) -> bytes:
    """The JSON inside ``callback( ... );``."""
    m = WRAPPED.fullmatch(body)
    if not m:
        head = body[:40].decode("utf-8", "replace")
        raise DecodeError(f"not a complete jsonp page (no callback(...) wrapper): {head!r}...")
    return m.group(2)


def decode(schema: RecordSchema, body: bytes) -> DecodedPage:
    inner = unwrap(body)
    try:
        doc = json.loads(inner, parse_float=Decimal)
        items, total = doc["list"], doc["totalCount"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TypeError("list is not a list of objects")
        if isinstance(total, bool) or not isinstance(total, int):
            raise TypeError(f"totalCount is not an integer: {total!r}")
    except (ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"not a complete jsonp page: {exc}") from exc
    canonical = {camel(n): n for n in schema.names}
    records = [{canonical.get(k) or snake(k): _value(v) for k, v in item.items()} for item in items]
    table = table_from_records(schema, records)
    return DecodedPage(table, lambda i: _dump(items[i]), total)
