"""Style ``jsonp``: paged JSON wrapped in a JavaScript callback (a portal built for browsers).

``cb({"totalCount": 42, "pageNo": 1, "pageSize": 10, "list": [{"productCode": "crude_steel", ...}]});``
served as ``application/javascript``: field names are the contract's in lowerCamelCase
(``current_month`` -> ``currentMonth``), numbers are JSON numbers with the exact digits of the
canonical text (``12.50`` stays ``12.50``), booleans JSON booleans, missing values ``null``; a value
that is not what its field's kind says (a malformed number such as ``12O,5x``) is served as a string.

The callback is any JavaScript identifier (ASCII letters, digits, ``_``, ``$``). The decoder takes
the body as portals serve it: whitespace and line breaks around the wrapper, an optional trailing
semicolon, and an optional ``/**/`` before the callback (the empty comment frameworks put there as a
guard against content sniffing: ``/**/cb({...});``); nothing else. A number of a numeric field served
as a string in a presentation form (``"12,345.67"``, full-width digits) is made plain
(:mod:`ibdc.formats.presentation`).

Errors are HTTP statuses (401 a refused token): no envelope in the body; a portal of this style that
wraps its answers in one declares it in the registry (:mod:`ibdc.formats.envelope`, which reads it
inside the callback).
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from ibdc.errors import LayoutError
from ibdc.formats.base import (
    DecodedPage,
    DecodeError,
    Number,
    camel,
    exact_dumps,
    exact_loads,
    json_number,
    list_of_objects,
    snake,
    table_from_records,
    text,
)
from ibdc.formats.envelope import JSONP_WRAPPED as WRAPPED
from ibdc.formats.envelope import head
from ibdc.formats.presentation import plain_json_value
from ibdc.schemas import RecordSchema

CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,127}")


def encode(schema: RecordSchema, table: pa.Table, total: int, page_no: int, page_size: int, callback: str) -> bytes:
    """One page: ``table`` holds its records with the served (maybe drifted) canonical column names."""
    if not CALLBACK.fullmatch(callback):
        raise ValueError(f"not a callback name: {callback!r}")
    kinds = {f.name: f.kind for f in schema.fields}
    items = ",".join(
        exact_dumps({camel(k): json_number(kinds.get(k), v) for k, v in row.items()}) for row in table.to_pylist()
    )
    doc = f'{{"totalCount":{int(total)},"pageNo":{int(page_no)},"pageSize":{int(page_size)},"list":[{items}]}}'
    # U+2028/U+2029 are valid in JSON strings but end a line in older JavaScript: escape them.
    doc = doc.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"{callback}({doc});".encode()


def unwrap(body: bytes) -> bytes:
    """The JSON inside ``callback( ... );`` (or ``/**/callback( ... );``)."""
    m = WRAPPED.fullmatch(body)
    if not m:
        head = body[:40].decode("utf-8", "replace")
        try:
            json.loads(body)
        except ValueError:
            raise DecodeError(f"not a complete jsonp page (no callback(...) wrapper): {head!r}...") from None
        raise LayoutError(f"plain JSON where a jsonp page belongs (no callback(...) wrapper): {head!r}...")
    return m.group(2)


def decode(schema: RecordSchema, body: bytes) -> DecodedPage:
    """The records of a page: :class:`DecodeError` for a body without its whole wrapper or whose JSON
    is not complete (cut short: fetched again), :class:`~ibdc.errors.LayoutError` for JSON that is
    not a page (fetching it again gives the same)."""
    inner = unwrap(body)
    try:
        doc = exact_loads(inner)
    except ValueError as exc:
        raise DecodeError(f"not a complete jsonp page: {exc}") from exc
    try:
        items, total = doc["list"], doc["totalCount"]
        list_of_objects(items, "list")
        if not isinstance(total, Number) or not total.isdigit():
            raise TypeError(f"totalCount is not an integer: {total!r}")
    except (KeyError, TypeError) as exc:
        raise LayoutError(f"not a jsonp page ({exc}): {head(body)}") from exc
    canonical = {camel(n): n for n in schema.names}
    kinds = {camel(f.name): f.kind for f in schema.fields}
    records = [
        {canonical.get(k) or snake(k): plain_json_value(kinds.get(k), text(v)) for k, v in item.items()}
        for item in items
    ]
    table = table_from_records(schema, records)
    return DecodedPage(table, lambda i: exact_dumps(items[i]), int(total))
