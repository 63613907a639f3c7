"""Style ``rest_json``: paged REST JSON behind a bearer token.

``{"total": 42, "offset": 0, "limit": 10, "items": [{"product_code": "crude_steel", ...}]}``: field
names as in the contract, numbers as JSON numbers, missing values as ``null``.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

import pyarrow as pa

from ibdc.formats.base import DecodedPage, DecodeError, table_from_records, text
from ibdc.schemas import Kind, RecordSchema

NUMERIC = (Kind.DECIMAL, Kind.INT)


def json_value(kind: Kind | None, value: str | None):
    """A canonical text value as a JSON-serialisable value: numbers as numbers when they are numbers."""
    if value is None:
        return None
    if kind in NUMERIC:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value  # a malformed number is served as the text it is
        return int(number) if kind is Kind.INT and number == number.to_integral_value() else float(number)
    if kind is Kind.BOOL:
        return value == "true"
    return value


def json_items(schema: RecordSchema, table: pa.Table) -> list[dict]:
    """Rows as JSON objects, keyed by the served column names (which may have drifted)."""
    kinds = {f.name: f.kind for f in schema.fields}
    return [{k: json_value(kinds.get(k), v) for k, v in row.items()} for row in table.to_pylist()]


def encode(schema: RecordSchema, table: pa.Table, total: int, offset: int, limit: int) -> bytes:
    doc = {"total": total, "offset": offset, "limit": limit, "items": json_items(schema, table)}
    return json.dumps(doc, ensure_ascii=False).encode()


def decode(schema: RecordSchema, body: bytes) -> DecodedPage:
    try:
        doc = json.loads(body, parse_float=Decimal)
        items, total = doc["items"], int(doc["total"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DecodeError(f"not a complete rest_json page: {exc}") from exc
    records = [{k: text(v) for k, v in item.items()} for item in items]
    table = table_from_records(schema, records)
    return DecodedPage(table, lambda i: json.dumps(items[i], ensure_ascii=False, default=str), total)
