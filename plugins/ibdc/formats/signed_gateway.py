"""Style ``signed_gateway``: one signed POST endpoint for every query, JSON nested in JSON strings.

Request (form fields, ``application/x-www-form-urlencoded``)::

    POST /p/<adcode>/gateway
    app_id=310000&method=ibdc.data.industrial_output.query&page_no=1&page_size=10&period=2025-06
    &timestamp=1750000000000&sign=<hex HMAC-SHA256>

``timestamp`` is Unix time in milliseconds (the gateway refuses one more than five minutes off its
clock); ``sign`` is the hex HMAC-SHA256, keyed with the client secret, of every other field sorted by
name and joined as ``k=v&k=v`` (values as sent, not URL-encoded) -- see :func:`sign`.

Response: an outer envelope with a numeric ``status`` whose ``result`` is a JSON *string*; inside
it, a string ``code`` (``"0000"`` = ok), ``message``, ``total`` and ``data``, itself a JSON string of
the records list::

    {"status": 200, "result": "{\\"code\\": \\"0000\\", \\"message\\": \\"ok\\", \\"total\\": 42,
                                \\"data\\": \\"[{\\\\\\"productCode\\\\\\": ...}]\\"}"}

A refused request (bad signature, stale timestamp, unknown app_id or method, bad parameter) is HTTP
200 with ``status`` 200 and an inner ``code`` other than ``"0000"``, its ``message``, and no data.
:data:`ENVELOPE` declares both levels: the outer ``status`` is HTTP's (200 on, the statuses HTTP
retries -- 408, 425, 429, 5xx -- worth another attempt, any other a refusal), the inner ``code``
``"0000"`` data and any other a refusal (this gateway family announces no rate limit or empty result
in the body: it rate-limits with HTTP 429, and a month not released is a page without records). A
portal's own in the registry replaces it; the adapter reads it before :func:`decode`, which decodes
the data of a success and does not look at the codes.

Each record is an object keyed by the contract's field names in camelCase (``productCode``,
``fivegAdopted``, ``ts``); ``null`` = missing:

- ``DECIMAL`` and ``INT``: JSON numbers carrying exactly the canonical digits (``2010.55``, ``0``,
  ``12.50``; never re-rounded through a float); ``BOOL``: JSON ``true`` / ``false``;
- ``TIMESTAMP``: Unix time in milliseconds, a JSON integer (``2025-06-03T14:00:00Z`` ->
  ``1748959200000``);
- ``PERIOD`` ``yyyy-MM``, ``DATE`` ``yyyy-MM-dd`` and ``TEXT``: strings, as in the contract.

A value that is not in its kind's canonical form (a malformed number, a garbled timestamp) is served
as a JSON string of the text it is, and decodes back to that text unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from ibdc.errors import TRANSIENT_STATUSES, LayoutError
from ibdc.formats import jsonread
from ibdc.formats.base import (
    EXACT_JSON,
    DecodedPage,
    DecodeError,
    Number,
    camel,
    camel_records,
    exact_dumps,
    from_camel,
    json_number,
    snake,
)
from ibdc.formats.envelope import Answer, Envelope, head, read_document
from ibdc.formats.jsonread import empty_page
from ibdc.schemas import Kind, RecordSchema

OK = "0000"
ENVELOPE = (
    Envelope(code="status", message="result", success=("200",), rate_limited=tuple(map(str, TRANSIENT_STATUSES))),
    Envelope(inside="result", code="code", message="message", success=(OK,)),
)
MEDIA_TYPE = "application/json"
METHOD_PREFIX, METHOD_SUFFIX = "ibdc.data.", ".query"

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
# Unix milliseconds a timestamp can be (up to year 9999: 15 digits); longer digits stay as served.
_MILLIS = re.compile(r"-?[0-9]{1,15}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


# --- signing -------------------------------------------------------------------------------------


def method_for(dataset: str) -> str:
    return f"{METHOD_PREFIX}{dataset}{METHOD_SUFFIX}"


def dataset_of(method: str) -> str | None:
    if method.startswith(METHOD_PREFIX) and method.endswith(METHOD_SUFFIX):
        return method[len(METHOD_PREFIX) : -len(METHOD_SUFFIX)] or None
    return None


def string_to_sign(params: Mapping[str, object]) -> str:
    """Every parameter but ``sign``, sorted by name, as ``k=v&k=v``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign")


def sign(params: Mapping[str, object], secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, string_to_sign(params).encode(), hashlib.sha256).hexdigest()


def verify(params: Mapping[str, object], secret: str | bytes) -> bool:
    """Whether ``params["sign"]`` is the signature of the other parameters under ``secret``."""
    given = params.get("sign")
    return isinstance(given, str) and hmac.compare_digest(given.lower(), sign(params, secret))


def signed(params: Mapping[str, object], secret: str | bytes, now_ms: int) -> dict[str, str]:
    """``params`` plus ``timestamp`` (ms) and their ``sign``: a request ready to send."""
    form = {k: str(v) for k, v in params.items()}
    form["timestamp"] = str(now_ms)
    form["sign"] = sign(form, secret)
    return form


# --- names and values ----------------------------------------------------------------------------


wire_name, canonical_name = camel, snake


def wire_value(kind: Kind | None, value: str | None):
    if value is None:
        return None
    if kind is Kind.TIMESTAMP and _TIMESTAMP.match(value):
        try:
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return value  # digits in place but not a real time (month 13): served as text
        return Number(str((moment - _EPOCH) // _MILLISECOND))
    return json_number(kind, value)


def canonical_value(kind: Kind | None, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Number):
        if kind is Kind.TIMESTAMP and _MILLIS.fullmatch(value):
            try:
                moment = _EPOCH + int(value) * _MILLISECOND
            except OverflowError:
                return str(value)
            if moment.microsecond == 0:
                return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return str(value)
    if isinstance(value, str):
        return value
    return dumps(value)  # an object or array where a scalar belongs: kept as its JSON text


dumps, loads = exact_dumps, jsonread.loads
COLUMNAR = jsonread.Columnar(wire_name=wire_name, value=canonical_value)


# --- pages ---------------------------------------------------------------------------------------


def records(schema: RecordSchema, table: pa.Table) -> list[dict]:
    """Rows as served, keyed by the camelCase served column names (which may have drifted)."""
    return camel_records(schema, table, wire_value)


def _envelope(inner: dict) -> bytes:
    return json.dumps({"status": 200, "result": json.dumps(inner, ensure_ascii=False)}, ensure_ascii=False).encode()


def encode(schema: RecordSchema, table: pa.Table, total: int) -> bytes:
    """One page: ``table`` holds the page's records, ``total`` the whole query's count."""
    data = EXACT_JSON.encode(records(schema, table)).decode()
    return _envelope({"code": OK, "message": "ok", "total": total, "data": data})


def encode_error(code: str, message: str) -> bytes:
    return _envelope({"code": code, "message": message})


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """The records of a page, each level read once (:mod:`ibdc.formats.jsonread`): the outer answer,
    the inner one in its ``result`` (the envelope's levels, ``envelopes``, read from these into
    ``verdict``; a page whose envelope says other than success has no records), the records in the
    inner ``data`` one by one. :class:`DecodeError` for a body that is not complete JSON (cut short:
    fetched again), :class:`~ibdc.errors.LayoutError` for JSON that is not a page (fetching it again
    gives the same). A record with what JSON does not allow is a fault of that record (``faults``)."""
    outer = jsonread.loads(body)
    result = outer.get("result") if isinstance(outer, dict) else None
    inner_doc: list[object] = []

    def inner(value: object) -> object:
        """The inner answer (read once: the envelope and the records share it)."""
        if value is result and inner_doc:
            return inner_doc[0]
        doc = jsonread.loads(value) if isinstance(value, str) else value
        if value is result:
            inner_doc.append(doc)
        return doc

    if envelopes:
        verdict = read_document(envelopes, outer, inner, head(body))
        if verdict is not None and verdict.answer is not Answer.SUCCESS:
            return empty_page(schema, verdict)
    else:
        verdict = None
    try:
        doc = inner(result)
        data = doc.pop("data", None) if isinstance(doc, dict) else None
        outer = result = None  # the records' text is all that is read from here: the levels above it go
        inner_doc.clear()
        if not isinstance(data, str):
            raise TypeError(f"data is not JSON text: {str(data)[:40]!r}")
        convert = from_camel(schema, canonical_value)
        page = jsonread.read_page(schema, data, (), convert, "signed_gateway", columnar=COLUMNAR)
        decoded = page.page(None, "data", dumps)
        total = doc.get("total")
        if not (isinstance(total, str) and jsonread.COUNT.fullmatch(total)):
            raise TypeError(f"total is not a count: {str(total)[:40]!r}")
    except (DecodeError, TypeError, LayoutError) as exc:
        raise LayoutError(f"not a signed_gateway page ({exc}): {head(body)}") from exc
    return dataclasses.replace(decoded, total=int(total), verdict=verdict)
