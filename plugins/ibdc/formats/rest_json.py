"""Style ``rest_json``: paged REST JSON behind a bearer token.

``{"total": 42, "offset": 0, "limit": 10, "items": [{"product_code": "crude_steel", ...}]}``: field
names as in the contract, numbers as JSON numbers with their exact digits, missing values as ``null``.
Errors are HTTP statuses (401 a refused token, 4xx a refused request): no envelope in the body; a
portal of this style that wraps its answers in one declares it in the registry
(:mod:`ibdc.formats.envelope`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyarrow as pa

from ibdc.formats.base import EXACT_JSON, DecodedPage, json_number, served_records, text
from ibdc.formats.envelope import Envelope
from ibdc.formats.jsonread import Columnar, empty_page, read_page
from ibdc.schemas import RecordSchema


def json_items(schema: RecordSchema, table: pa.Table) -> list[dict]:
    """Rows as JSON objects, keyed by the served column names (which may have drifted)."""
    return served_records(schema, table, str, json_number)


def encode(schema: RecordSchema, table: pa.Table, total: int, offset: int, limit: int) -> bytes:
    doc = {"total": total, "offset": offset, "limit": limit, "items": json_items(schema, table)}
    return EXACT_JSON.encode(doc)


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """The records of a page, read in one pass (:mod:`ibdc.formats.jsonread`; ``envelopes``: a
    portal's own, read from the same parse into ``verdict``): :class:`DecodeError` for a body that is
    not complete JSON (cut short: fetched again), :class:`~ibdc.errors.LayoutError` for JSON that is
    not a page (fetching it again gives the same). A record with what JSON does not allow is a fault
    of that record (``DecodedPage.faults``)."""
    page = read_page(schema, body, ("items",), _canonical, "rest_json", envelopes, columnar=COLUMNAR)
    if page.refused:
        return empty_page(schema, page.verdict)
    decoded = page.page(None, "items")
    return dataclasses.replace(decoded, total=page.count("total"))


def _canonical(item: dict) -> dict:
    return {k: text(v) for k, v in item.items()}


COLUMNAR = Columnar(wire_name=str, value=lambda kind, value: text(value))
