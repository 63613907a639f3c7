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

import dataclasses
import re
from collections.abc import Sequence

import pyarrow as pa

from ibdc.errors import LayoutError
from ibdc.formats import jsonread
from ibdc.formats.base import EXACT_JSON, DecodedPage, DecodeError, Number, camel, camel_records, from_camel, text
from ibdc.formats.envelope import JSONP_WRAPPED as WRAPPED
from ibdc.formats.envelope import Envelope, head
from ibdc.formats.presentation import plain_json_value
from ibdc.schemas import RecordSchema

CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]{0,127}")


def encode(schema: RecordSchema, table: pa.Table, total: int, page_no: int, page_size: int, callback: str) -> bytes:
    """One page: ``table`` holds its records with the served (maybe drifted) canonical column names."""
    if not CALLBACK.fullmatch(callback):
        raise ValueError(f"not a callback name: {callback!r}")
    items = EXACT_JSON.encode(camel_records(schema, table)).decode()
    doc = f'{{"totalCount":{int(total)},"pageNo":{int(page_no)},"pageSize":{int(page_size)},"list":{items}}}'
    # U+2028/U+2029 are valid in JSON strings but end a line in older JavaScript: escape them.
    doc = doc.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"{callback}({doc});".encode()


def _wrapped(body: bytes) -> memoryview:
    """The JSON inside ``callback( ... );`` (or ``/**/callback( ... );``), without a copy."""
    m = WRAPPED.fullmatch(body)
    if not m:
        head = body[:40].decode("utf-8", "replace")
        try:
            jsonread.loads(body)
        except DecodeError:
            raise DecodeError(f"not a complete jsonp page (no callback(...) wrapper): {head!r}...") from None
        except LayoutError:
            pass  # JSON, if not the page's
        raise LayoutError(f"plain JSON where a jsonp page belongs (no callback(...) wrapper): {head!r}...")
    return memoryview(body)[m.start(2) : m.end(2)]


def unwrap(body: bytes) -> bytes:
    """The JSON inside ``callback( ... );`` (or ``/**/callback( ... );``)."""
    return bytes(_wrapped(body))


def _canonical_value(kind, value: object) -> str | None:
    return plain_json_value(kind, text(value))


COLUMNAR = jsonread.Columnar(wire_name=camel, value=_canonical_value, plain_numbers=True)


def decode(schema: RecordSchema, body: bytes, envelopes: Sequence[Envelope] = ()) -> DecodedPage:
    """The records of a page, read in one pass (:mod:`ibdc.formats.jsonread`; ``envelopes``: a
    portal's own, read inside the callback from the same parse into ``verdict``):
    :class:`DecodeError` for a body without its whole wrapper or whose JSON is not complete (cut
    short: fetched again), :class:`~ibdc.errors.LayoutError` for JSON that is not a page (fetching it
    again gives the same). A record with what JSON does not allow is a fault of that record."""
    convert = from_camel(schema, _canonical_value)
    page = jsonread.read_page(
        schema, _wrapped(body), ("list",), convert, "jsonp", envelopes, shown=head(body), columnar=COLUMNAR
    )
    if page.refused:
        return jsonread.empty_page(schema, page.verdict)
    total = page.member("totalCount")
    if not (isinstance(total, Number) and jsonread.COUNT.fullmatch(total)):
        raise LayoutError(f"not a jsonp page (totalCount is not an integer: {str(total)[:40]!r}): {head(body)}")
    decoded = page.page(None, "list")
    return dataclasses.replace(decoded, total=int(total))
