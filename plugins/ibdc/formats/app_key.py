"""Style ``app_key``: an open-data portal's app-key API, page-number paging, UPPERCASE fields.

Request (see the simulator's route and the adapter)::

    GET /p/<adcode>/openapi/v2/resource?appKey=<secret>&resId=<base64(dataset)>&period=2025-06&page=1&rows=10

Response: ``{"code": "00000", "msg": "success", "data": {"total": 42, "page": 1, "rows": [...]}}``.
Every answer is HTTP 200 with a ``code`` and its ``msg``: ``00000`` data; this portal family's
``10004`` the call rate limit (try later) and ``9201`` an empty result (nothing for the period yet);
any other code a refusal (wrong appKey, unknown resource, bad parameter), with ``"data": null``.
:data:`ENVELOPE` declares these codes (a portal's own in the registry replaces it); the adapter reads
them before :func:`decode`, which decodes the data of a success and does not look at the code.

Each record is an object whose keys are the contract's field names in UPPERCASE
(``PRODUCT_CODE``) and whose values are all JSON strings (``null`` = missing):

- ``DATE`` ``yyyymmdd`` (``20250601``); ``PERIOD`` ``yyyymm`` (``202506``);
  ``TIMESTAMP`` ``yyyymmddHHMMSS`` in UTC (``20250603140000``);
- ``BOOL`` ``"1"`` / ``"0"``;
- ``DECIMAL`` and ``INT`` the number's decimal text, as a string (``"2010.55"``); ``TEXT`` as is.

A value that is not in its kind's canonical form (a malformed number, a garbled date) is served as
the text it is, and decodes back to that text unchanged; except that a number in a presentation form
(``"12,345.67"``, full-width digits, padding) is made plain (:mod:`ibdc.formats.presentation`).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

import pyarrow as pa

from ibdc.formats.base import DecodedPage, Number, served_records, text
from ibdc.formats.envelope import Envelope
from ibdc.formats.jsonread import Columnar, empty_page, read_page
from ibdc.formats.presentation import plain_json_value
from ibdc.schemas import Kind, RecordSchema

OK = "00000"
RATE_LIMITED = "10004"
NO_DATA = "9201"
ENVELOPE = (Envelope(code="code", message="msg", success=(OK,), no_data=(NO_DATA,), rate_limited=(RATE_LIMITED,)),)
MEDIA_TYPE = "application/json"

# kind -> (canonical pattern, wire pattern): a value matching one maps to the other digit for digit.
_CANONICAL = {
    Kind.DATE: re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    Kind.PERIOD: re.compile(r"^(\d{4})-(\d{2})$"),
    Kind.TIMESTAMP: re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$"),
}
_WIRE = {
    Kind.DATE: re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    Kind.PERIOD: re.compile(r"^(\d{4})(\d{2})$"),
    Kind.TIMESTAMP: re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$"),
}
_BOOL_WIRE = {"true": "1", "false": "0"}
_BOOL_CANONICAL = {"1": "true", "0": "false"}


def wire_name(name: str) -> str:
    return name.upper()


def canonical_name(name: str) -> str:
    return name.lower()


def wire_value(kind: Kind | None, value: str | None) -> str | None:
    """A canonical text value as served: every value a string, dates compact, booleans 1/0."""
    if value is None:
        return None
    if kind in _CANONICAL:
        m = _CANONICAL[kind].match(value)
        return "".join(m.groups()) if m else value
    if kind is Kind.BOOL:
        return _BOOL_WIRE.get(value, value)
    return value


def canonical_value(kind: Kind | None, value: object) -> str | None:
    """A served value as canonical text; anything not in the wire form of its kind stays as it is."""
    if value is None:
        return None
    if isinstance(value, Number):
        return str(value)  # a JSON number where a string belongs: its exact text, never converted
    if not isinstance(value, str):
        return text(value)  # a boolean; an object or array where a scalar belongs: its JSON text
    if kind is Kind.DATE and (m := _WIRE[kind].match(value)):
        return "-".join(m.groups())
    if kind is Kind.PERIOD and (m := _WIRE[kind].match(value)):
        return "-".join(m.groups())
    if kind is Kind.TIMESTAMP and (m := _WIRE[kind].match(value)):
        y, mo, d, h, mi, s = m.groups()
        return f"{y}-{mo}-{d}T{h}:{mi}:{s}Z"
    if kind is Kind.BOOL:
        return _BOOL_CANONICAL.get(value, value)
    return plain_json_value(kind, value)


COLUMNAR = Columnar(wire_name=wire_name, value=canonical_value, plain_numbers=True)


def rows(schema: RecordSchema, table: pa.Table) -> list[dict]:
    """Rows as served, keyed by the UPPERCASE served column names (which may have drifted)."""
    return served_records(schema, table, wire_name, wire_value)


def encode(schema: RecordSchema, table: pa.Table, total: int, page: int) -> bytes:
    """One page: ``table`` holds the page's records, ``total`` the whole query's count, ``page`` is 1-based."""
    doc = {"code": OK, "msg": "success", "data": {"total": total, "page": page, "rows": rows(schema, table)}}
    return json.dumps(doc, ensure_ascii=False).encode()


def encode_error(code: str, msg: str) -> bytes:
    return json.dumps({"code": code, "msg": msg, "data": None}, ensure_ascii=False).encode()


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """The records of a page, read in one pass (:mod:`ibdc.formats.jsonread`) with its envelope
    (``envelopes``, read into ``verdict``; a page whose envelope says other than success has no
    records): :class:`DecodeError` for a body that is not complete JSON (cut short: fetched again),
    :class:`~ibdc.errors.LayoutError` for JSON that is not a page (fetching it again gives the same).
    Numbers are never converted: ``"1e99999999"`` (or the JSON number) is passed on as those ten
    characters. A record with what JSON does not allow is a fault of that record (``faults``)."""
    kinds = {wire_name(f.name): f.kind for f in schema.fields}

    def convert(item: dict) -> dict:
        return {canonical_name(k): canonical_value(kinds.get(k), v) for k, v in item.items()}

    page = read_page(schema, body, ("data", "rows"), convert, "app_key", envelopes, columnar=COLUMNAR)
    if page.refused:
        return empty_page(schema, page.verdict)
    decoded = page.page(None, "rows")
    return dataclasses.replace(decoded, total=page.count("data", "total"))
