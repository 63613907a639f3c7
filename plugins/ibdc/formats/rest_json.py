"""Style ``rest_json``: paged REST JSON behind a bearer token.

``{"total": 42, "offset": 0, "limit": 10, "items": [{"product_code": "crude_steel", ...}]}``: field
names as in the contract, numbers as JSON numbers with their exact digits, missing values as ``null``.
Errors are HTTP statuses (401 a refused token, 4xx a refused request): no envelope in the body; a
portal of this style that wraps its answers in one declares it in the registry
(:mod:`ibdc.formats.envelope`).
"""

from __future__ import annotations

import pyarrow as pa

from ibdc.errors import LayoutError
from ibdc.formats.base import (
    DecodedPage,
    DecodeError,
    exact_dumps,
    exact_loads,
    json_number,
    list_of_objects,
    table_from_records,
    text,
)
from ibdc.formats.envelope import head
from ibdc.schemas import RecordSchema


def json_items(schema: RecordSchema, table: pa.Table) -> list[dict]:
    """Rows as JSON objects, keyed by the served column names (which may have drifted)."""
    kinds = {f.name: f.kind for f in schema.fields}
    return [{k: json_number(kinds.get(k), v) for k, v in row.items()} for row in table.to_pylist()]


def encode(schema: RecordSchema, table: pa.Table, total: int, offset: int, limit: int) -> bytes:
    doc = {"total": total, "offset": offset, "limit": limit, "items": json_items(schema, table)}
    return exact_dumps(doc).encode()


def decode(schema: RecordSchema, body: bytes) -> DecodedPage:
    """The records of a page: :class:`DecodeError` for a body that is not complete JSON (cut short:
    fetched again), :class:`~ibdc.errors.LayoutError` for JSON that is not a page (fetching it again
    gives the same)."""
    try:
        doc = exact_loads(body)
    except ValueError as exc:
        raise DecodeError(f"not a complete rest_json page: {exc}") from exc
    try:
        items, total = list_of_objects(doc["items"], "items"), int(doc["total"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LayoutError(f"not a rest_json page ({exc}): {head(body)}") from exc
    records = [{k: text(v) for k, v in item.items()} for item in items]
    table = table_from_records(schema, records)
    return DecodedPage(table, lambda i: exact_dumps(items[i]), total)
