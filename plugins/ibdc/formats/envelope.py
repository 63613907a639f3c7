"""What a portal's answer says about itself: the envelope around its data, declared per portal.

Many portals answer every request with HTTP 200 and say in the body what happened, with a code in a
field of their own: ``{"code": "00000", "msg": "success", "data": {...}}``, or
``{"code": "10004", "msg": "调用频率超过限制", "data": null}``. An :class:`Envelope` declares one such
level: the field holding the code, the field holding the portal's message, and the codes meaning
success, no data (the period is not released yet) and rate limited (too many requests or busy: try
again later); any other code is a refusal. A level may sit inside a field of the level above, as
JSON text (``inside``: the signed gateway's inner envelope in its ``result`` string).

A style's usual envelope is its format module's ``ENVELOPE`` (:func:`default_for`; ``app_key`` and
``signed_gateway`` have one; ``rest_json``, ``jsonp`` and ``csv_download`` answer errors with HTTP
statuses and have none; NBS's ``returncode`` is read by its own format). ``registry.yaml`` declares
a portal's own with ``envelope:`` (a mapping for one level, a list for levels outermost first),
which replaces the style's.

Codes are compared as text: JSON ``0`` and ``"0"`` are one code, ``true`` is ``"true"``. In YAML,
quote codes with leading zeros (``"00000"``; unquoted, YAML reads ``00000`` as the number 0).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, model_validator

from ibdc.errors import LayoutError
from ibdc.formats.base import DecodeError

# A JSONP answer (``cb({...});``, maybe behind a ``/**/`` guard; the jsonp style reads its pages with
# the same pattern): the envelope is read inside. Groups: the callback, the JSON.
JSONP_WRAPPED = re.compile(rb"\s*(?:/\*\*/\s*)?([A-Za-z_$][A-Za-z0-9_$]*)\s*\((.*)\)\s*;?\s*", re.DOTALL)
MESSAGE_CHARS = 300  # of a portal's message, kept in errors and logs


class Answer(enum.StrEnum):
    SUCCESS = "success"  # data: decoded as the style says
    NO_DATA = "no_data"  # nothing for the period yet: not released
    RATE_LIMITED = "rate_limited"  # too many requests or busy: try again later
    REFUSED = "refused"  # any other code: the same request would be refused again


@dataclass(frozen=True)
class Verdict:
    """What an answer's envelope says: its answer, the portal's code and message."""

    answer: Answer
    code: str
    message: str


def code_text(value: object) -> str:
    """A code as text, whatever JSON or YAML type it came in: ``0`` -> ``"0"``, ``true`` -> ``"true"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _codes(value: object) -> tuple[str, ...]:
    if isinstance(value, str | int | bool):
        value = [value]
    if not isinstance(value, Sequence):
        raise ValueError(f"codes must be a list, not {value!r}")
    return tuple(code_text(v) for v in value)


Codes = Annotated[tuple[str, ...], BeforeValidator(_codes)]


class Envelope(BaseModel, frozen=True, extra="forbid"):
    """One level of a portal's envelope. Codes in none of the lists are refusals."""

    code: str  # the field holding the code
    message: str | None = None  # the field holding the portal's message
    success: Codes
    no_data: Codes = ()
    rate_limited: Codes = ()
    inside: str | None = None  # the field of the level above whose value (JSON text) is this level

    @model_validator(mode="after")
    def _disjoint(self) -> Envelope:
        lists = {"success": self.success, "no_data": self.no_data, "rate_limited": self.rate_limited}
        seen: dict[str, str] = {}
        for name, codes in lists.items():
            for code in codes:
                if code in seen:
                    raise ValueError(f"code {code!r} is in both {seen[code]} and {name}")
                seen[code] = name
        if not self.success:
            raise ValueError("an envelope needs at least one success code")
        return self

    def answer(self, code: str) -> Answer:
        if code in self.success:
            return Answer.SUCCESS
        if code in self.no_data:
            return Answer.NO_DATA
        if code in self.rate_limited:
            return Answer.RATE_LIMITED
        return Answer.REFUSED


def _levels(value: object) -> object:
    """A declaration as written in the registry: a mapping is one level, a list the levels outermost
    first (None: absent, the style's own)."""
    return [value] if isinstance(value, Envelope | Mapping) else value


Envelopes = Annotated[tuple[Envelope, ...] | None, BeforeValidator(_levels)]


def default_for(style: str) -> tuple[Envelope, ...]:
    """The style's usual envelope: its format module's ``ENVELOPE``, none if it has none."""
    from ibdc.formats import format_for

    return tuple(getattr(format_for(style), "ENVELOPE", ()))


def head(body: bytes, chars: int = MESSAGE_CHARS) -> str:
    """The start of a body as text, for an error message."""
    return body[: chars * 4].decode("utf-8", "replace")[:chars]


_UNREADABLE = object()


def _document(body: bytes) -> object:
    """The JSON of a body, or of the JSONP around it (one parse, numbers exact, see
    :mod:`ibdc.formats.jsonread`); :data:`_UNREADABLE` for a body that is not complete JSON."""
    from ibdc.formats.jsonread import loads

    try:
        return loads(body)
    except DecodeError:
        pass
    m = JSONP_WRAPPED.fullmatch(body)
    if m:
        try:
            return loads(m.group(2))
        except DecodeError:
            pass
    return _UNREADABLE


def _message(doc: dict, field: str | None) -> str:
    if field is None or doc.get(field) is None:
        return ""
    value = doc[field]
    if not isinstance(value, str):
        from ibdc.formats.base import exact_dumps

        try:
            value = exact_dumps(value)
        except RecursionError:
            value = "(nested too deep)"
    return value[:MESSAGE_CHARS]


def _inside(value: object) -> object:
    """A level's JSON text in a field of the level above, read (None: not JSON text)."""
    from ibdc.formats.jsonread import loads

    if not isinstance(value, str | bytes):
        return value
    try:
        return loads(value)
    except DecodeError:
        return None


def read_document(
    envelopes: Sequence[Envelope], doc: object, loads: Callable[[object], object] = _inside, shown: str = ""
) -> Verdict | None:
    """What an already parsed answer's envelope says, level by level (the first level not saying
    success answers); None when no envelope is declared. ``loads(value)`` reads a level that sits
    inside a field of the level above (``inside``; a decoder passes the level it has parsed already,
    so that the body is parsed once), None when it is not JSON. :class:`LayoutError` for an answer
    without the declared envelope (fetching it again would give the same); ``shown`` is the start of
    the body, for that error."""
    verdict = None
    for level in envelopes:
        if level.inside is not None:
            inner = doc.get(level.inside) if isinstance(doc, dict) else None
            try:
                doc = loads(inner)
            except (DecodeError, LayoutError):
                doc = None
        if not isinstance(doc, dict) or level.code not in doc:
            where = f"{level.inside!r} holding " if level.inside else ""
            raise LayoutError(f"not the portal's envelope (no {where}{level.code!r} code field): {shown}")
        code = code_text(doc[level.code])
        verdict = Verdict(level.answer(code), code, _message(doc, level.message))
        if verdict.answer is not Answer.SUCCESS:
            return verdict
    return verdict


def read(envelopes: Sequence[Envelope], body: bytes) -> Verdict | None:
    """What ``body``'s envelope says, level by level (the first level not saying success answers).

    None when there is nothing to read: no envelope declared, or a body that is not JSON (cut short,
    garbled: the style's decoder says so, and the page is fetched again). :class:`LayoutError` for a
    JSON body without the declared envelope (fetching it again would give the same), or whose
    envelope holds what JSON does not allow (a key twice, ``NaN``, nesting too deep).

    The decoders read the envelope from their own parse of the body (``decode(schema, body,
    envelopes)`` gives ``DecodedPage.verdict``): this is for a body read on its own."""
    if not envelopes:
        return None
    doc = _document(body)
    if doc is _UNREADABLE:
        return None
    return read_document(envelopes, doc, shown=head(body))
