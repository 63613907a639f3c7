"""Presentation forms: values as portals print them in their statistical tables, made plain.

Portals format figures for people: ``12,345.67`` with thousands separators, full-width digits and
punctuation (``１２，３４５．６７``), cells padded with spaces or the ideographic space U+3000, headers with
full-width brackets (``本月（万千瓦时）``), names indented with full-width spaces (``　　黑色金属...``).
The decoders turn these into the plain canonical text before anything is validated:

- :func:`plain_number`: a number cell without its padding, full-width digits and punctuation made
  ASCII, thousands separators dropped -- only when the result is a plain decimal number and the
  grouping is well formed (``1,234,567.5``; never ``1,2345`` or ``12,34.5``). Anything else is passed
  on as served (stripped of its padding), for the validator to quarantine. Other scripts' digits
  (Arabic-Indic ``١٢٣``, Devanagari ``१२``) are not a presentation form: they stay as they are.
- :func:`plain_label`: a header or a 合计 cell with full-width ASCII forms made ASCII and the padding
  around it dropped.
- :func:`plain_names`: names without the padding or indent around them.
"""

from __future__ import annotations

import re
import struct

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.schemas import Kind

# Full-width digits U+FF10-FF19 and the punctuation numbers are printed with.
_FULLWIDTH_NUMBER = str.maketrans(
    {**{0xFF10 + d: str(d) for d in range(10)}, "．": ".", "，": ",", "－": "-", "＋": "+", "\u2212": "-"}
)
# Every full-width ASCII form (U+FF01-FF5E: brackets, digits, letters) and the ideographic space.
_FULLWIDTH_ASCII = str.maketrans({**{0xFF01 + i: chr(0x21 + i) for i in range(0x5E)}, "\u3000": " "})
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_PLAIN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# A cell needs a look only if it holds something other than ASCII digits, point and sign (RE2).
_NOT_PLAIN_CHARS = r"[^0-9.+\-]"
_PLAIN_CELL = r"^[0-9.+\-]*$"


def plain_number(value: str) -> str:
    """A printed number as plain decimal text; a value that does not become one is passed on as
    served, without its padding (``str.strip``: ASCII and Unicode spaces, U+3000 included)."""
    stripped = value.strip()
    number = stripped.translate(_FULLWIDTH_NUMBER)
    if "," in number and _GROUPED.fullmatch(number):
        number = number.replace(",", "")
    return number if _PLAIN.fullmatch(number) else stripped


def _characters(column: pa.Array) -> pa.Array:
    """The character data of a string column as one string (zero-copy: the same buffer)."""
    large = pa.types.is_large_string(column.type)
    width, fmt = (8, "q") if large else (4, "i")
    offsets = memoryview(column.buffers()[1]).cast("B")
    first, last = (struct.unpack_from(f"<{fmt}", offsets, (column.offset + i) * width)[0] for i in (0, len(column)))
    bounds = pa.py_buffer(struct.pack(f"<{fmt}{fmt}", first, last))
    return pa.Array.from_buffers(column.type, 1, [None, bounds, column.buffers()[2]])


def plain_numbers(column: pa.Array) -> pa.Array:
    """:func:`plain_number` over a string column; only the cells with a character other than ASCII
    digits, point and sign are looked at (normally none), each distinct one once. One scan of the
    column's characters finds whether there is any (a million cells: a few milliseconds)."""
    if not len(column) or column.null_count == len(column):
        return column
    if not pc.match_substring_regex(_characters(column), _NOT_PLAIN_CHARS)[0].as_py():
        return column
    odd = pc.invert(pc.fill_null(pc.match_substring_regex(column, _PLAIN_CELL), True))
    cells = pc.dictionary_encode(column.filter(odd))
    plain = pa.array([plain_number(v) for v in cells.dictionary.to_pylist()], column.type)
    return pc.replace_with_mask(column, odd, pc.take(plain, cells.indices))


def plain_label(value: str) -> str:
    """A header or a 合计 cell: full-width ASCII forms made ASCII, padding dropped."""
    return value.translate(_FULLWIDTH_ASCII).strip()


def plain_names(column: pa.Array) -> pa.Array:
    """Names without the padding or indent around them (``　　农副食品加工业`` -> ``农副食品加工业``;
    Arrow's Unicode whitespace includes U+3000)."""
    return pc.utf8_trim_whitespace(column) if len(column) else column


def plain_json_value(kind: Kind | None, value: object) -> object:
    """A value of a JSON style's record: a number of a numeric field served as a JSON string
    (``"12,345.67"``) made plain; JSON numbers (exact :class:`~ibdc.formats.base.Number` tokens) and
    everything else as it is."""
    if kind in (Kind.DECIMAL, Kind.INT) and type(value) is str:
        return plain_number(value)
    return value
