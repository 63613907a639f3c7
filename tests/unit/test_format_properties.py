"""Property-based tests of every wire format and of the envelope reader (issue 13, point 2; the
validators' own are in test_validator_properties.py): from valid pages, from the same pages with their
bytes mutated (flipped, inserted, deleted, cut), with their values mutated (odd and huge numbers,
``NaN`` and ``Infinity``, control characters, lone surrogates, nesting thousands deep, a key twice),
and from random bytes, decoding either gives a page of the contract's string columns (each record's
raw text a string, each fault a record of the page) or raises a classified error of the platform
(:class:`~ibdc.errors.IbdcError`: a page error); never any other exception. The JSON styles' pages
also go through the dataset's parser (decode, faults, validation): rows plus rejects, or a page error.

Deterministic (``derandomize``) and modest: the whole file runs in well under a minute."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.datasets import DATASETS
from ibdc.errors import IbdcError
from ibdc.formats import DecodedPage, app_key, csv_download, format_for, nbs_easyquery, signed_gateway
from ibdc.formats.base import table_from_records
from ibdc.formats.envelope import Envelope, Verdict, read
from ibdc.reference import nbs_indicators
from ibdc.schemas import INDUSTRIAL_OUTPUT, SCHEMAS
from ibdc.sources.registry import ApiStyle
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition
from tests.unit.format_helpers import csv_records
from tests.unit.format_pages import JSON_STYLES, page, record_texts

PROPERTIES = settings(max_examples=150)  # the shared profile: tests/conftest.py
DATASET_NAMES = sorted(SCHEMAS)
STYLES = tuple(ApiStyle)
# The envelopes the styles declare, and one a registry might: every body is read with each.
ENVELOPES = (
    (),
    app_key.ENVELOPE,
    signed_gateway.ENVELOPE,
    (Envelope(code="status", message="msg", success=("0",), no_data=("404",), rate_limited=("429",)),),
)

# --- what the properties hold --------------------------------------------------------------------


def decodes_or_page_error(style: str, dataset: str, body: bytes, envelopes=()) -> DecodedPage | None:
    """Decode ``body``: a page of the contract's string columns, or a page error (None)."""
    schema = SCHEMAS[dataset]
    try:
        decoded = format_for(style).decode(schema, body, envelopes)
    except IbdcError:
        return None
    assert isinstance(decoded, DecodedPage)
    assert decoded.table.column_names == list(schema.names)
    assert all(pa.types.is_string(t) for t in decoded.table.schema.types)
    assert all(0 <= i < decoded.num_records for i in decoded.faults)
    assert all(isinstance(why, str) and why for why in decoded.faults.values())
    for i in range(min(decoded.num_records, 20)):
        assert isinstance(decoded.raw_text(i), str)
    assert decoded.verdict is None or isinstance(decoded.verdict, Verdict)
    return decoded


def envelope_read_or_page_error(body: bytes) -> None:
    for envelopes in ENVELOPES:
        try:
            verdict = read(envelopes, body)
        except IbdcError:
            continue
        assert verdict is None or isinstance(verdict, Verdict)


def parses_or_page_error(style: str, dataset: str, body: bytes) -> None:
    """The loader's path: decode, set the faulted records aside, validate: every record taken in is a
    row or a reject with a reason, or the page fails with a page error."""
    period = "2025-06-03" if dataset == "equipment_telemetry" else "2025-06"
    manifest = manifest_of(dataset, "130000", period, style, key=f"{dataset}/page-0001")
    try:
        result = parse_partition(DATASETS[dataset], manifest, [body])
    except IbdcError:
        return
    assert all(r.reason for r in result.rejects)
    assert result.rows_in == result.pages[0].records_served


def check(style: str, dataset: str, body: bytes, parse: bool = False) -> None:
    for envelopes in ENVELOPES[:2] if style != "signed_gateway" else (ENVELOPES[0], ENVELOPES[2]):
        decodes_or_page_error(style, dataset, body, envelopes)
    envelope_read_or_page_error(body)
    if parse:
        parses_or_page_error(style, dataset, body)


# --- pages ----------------------------------------------------------------------------------------


def json_page(style: str, dataset: str) -> bytes:
    return page(style, record_texts(style, dataset))


def csv_page(dataset: str, encoding: str) -> bytes:
    schema = SCHEMAS[dataset]
    return csv_download.encode(schema, table_from_records(schema, csv_records(schema)), encoding)


def nbs_page() -> bytes:
    period = "2025-06"
    groups = [i.group for i in nbs_indicators() if i.valid_for(period)][:3]
    by_group = {i.group: i for i in nbs_indicators() if i.valid_for(period)}
    records = [
        {
            "province_code": "610000",
            "period": period,
            "product_code": by_group[g].product_code,
            "product_name": "x",
            "unit": "10k_tonnes",
            "current_month": "12.50",
            "cumulative": "100",
        }
        for g in groups
    ]
    table = table_from_records(INDUSTRIAL_OUTPUT, records)
    return nbs_easyquery.encode_answer(table, "610000", "陕西省", period, groups)


def valid_page(style: str, dataset: str) -> bytes:
    if style == "csv_download":
        return csv_page(dataset, "gbk")
    if style == "nbs_easyquery":
        return nbs_page()
    return json_page(style, dataset)


def _dataset_for(style: str) -> st.SearchStrategy[str]:
    return st.just("industrial_output") if style == "nbs_easyquery" else st.sampled_from(DATASET_NAMES)


# --- mutations ------------------------------------------------------------------------------------

ODD_BYTES = st.sampled_from(
    [b"\x00", b"\xff", b"\xfe\xff", b"\xef\xbb\xbf", b"\x81", b'"', b",", b"\n", b"\r\n", b"\\", b"{", b"[", b"]",
     b"}", b":", b"NaN", b"\xed\xa0\x80", b"\xc3", b"\xe4\xb8"]
)  # fmt: skip


@st.composite
def mutated_bytes(draw, body: bytes) -> bytes:
    """``body`` with one to three edits: a byte flipped, bytes put in, a range deleted, the end cut."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and at < len(body):
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
        elif op == "insert":
            body = body[:at] + draw(st.one_of(ODD_BYTES, st.binary(min_size=1, max_size=8))) + body[at:]
        elif op == "delete":
            body = body[:at] + body[at + draw(st.integers(1, 16)) :]
        else:
            body = body[:at]
    return body


DEEP = "[" * 3000 + "]" * 3000
# JSON values (and not-quite JSON values) a hostile or broken portal serves in a record.
HOSTILE_JSON = st.one_of(
    st.sampled_from(
        [
            "NaN",
            "Infinity",
            "-Infinity",
            "1e99999999",
            "-1E+200000",
            "1e-99999999",
            "9" * 5000,
            "0." + "0" * 3000 + "1",
            "-0",
            "1.5e308",
            "1e400",
            '"1e99999999"',
            '"\\ud800"',
            '"a\\udfffb"',
            '"\\ud83d\\ude00"',
            '"\\u0000"',
            '"a\\u0001\\u007f\\u0085"',
            '"\\u2028\\u2029"',
            '"１２，３４５．６"',
            '"12,345.67"',
            '" 12 "',
            '"١٢٣"',
            DEEP,
            '{"a": 1, "a": 2}',
            "[1, 2, {}]",
            "true",
            "false",
            "null",
            "{}",
            "[]",
            '"' + "x" * 20000 + '"',
            '"2025-06-03T24:00:00Z"',
            '"2025-06-03T99:00:00+08:00"',
            '"2022-06\\n"',
            '"C31\\n"',
        ]
    ),  # fmt: skip
    st.integers(-(10**30), 10**30).map(str),
    st.text(max_size=12).map(lambda t: json.dumps(t, ensure_ascii=False)),
    st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4).map(
        lambda cps: '"' + "".join(f"\\u{c:04x}" for c in cps) + '"'
    ),
)


@st.composite
def mutated_record_texts(draw, texts: list[str]) -> list[str]:
    """Records (JSON texts) with values replaced by hostile ones, keys served twice, dropped or renamed."""
    records = [json.loads(t) for t in texts]
    fragments: dict[str, str] = {}  # a placeholder's JSON text -> the hostile JSON put in its place
    first: list[list[str]] = [[] for _ in records]  # members put first (a key served twice)
    for n in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(records) - 1))
        record = records[k]
        if not record:
            continue
        key = draw(st.sampled_from(list(record)))
        op = draw(st.sampled_from(["value", "value", "twice", "drop", "rename"]))
        if op == "value":
            placeholder = f"HOSTILE-{n}"
            record[key] = placeholder
            fragments[json.dumps(placeholder)] = draw(HOSTILE_JSON)
        elif op == "twice":
            first[k].append(f"{json.dumps(key)}: {draw(HOSTILE_JSON)}")
        elif op == "drop":
            del record[key]
        else:
            record[key + "_v2"] = record.pop(key)
    out = []
    for record, members in zip(records, first, strict=True):
        text = json.dumps(record, ensure_ascii=False)
        for placeholder, hostile in fragments.items():
            text = text.replace(placeholder, hostile)
        out.append("{" + ", ".join(members) + (", " if members and record else "") + text[1:] if members else text)
    return out


VALUE_AFTER_COLON = re.compile(rb':\s*("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null)')


@st.composite
def mutated_values(draw, body: bytes) -> bytes:
    """A JSON body with some of its values (at any level: envelope, count, records) replaced."""
    spans = [m.span(1) for m in VALUE_AFTER_COLON.finditer(body)]
    for _ in range(draw(st.integers(1, 3))):
        if not spans:
            break
        start, end = draw(st.sampled_from(spans))
        body = body[:start] + draw(HOSTILE_JSON).encode("utf-8", "surrogatepass") + body[end:]
        spans = [m.span(1) for m in VALUE_AFTER_COLON.finditer(body)]
    return body


CSV_CELLS = st.sampled_from(
    ["1e99999999", "9" * 3000, "0." + "0" * 2000 + "1", "-0", "１２．５", "12,345.67", "a\x00b", "\x01", '"', '""',
     "x,y", "2025-06-03 24:00:00", "2025年13月", "合计(共1条)", "总计(共1条)", "—", "", "\u3000", "\ud800"]
)  # fmt: skip


@st.composite
def mutated_csv(draw, dataset: str) -> bytes:
    """A csv_download file whose records hold hostile cells (encoded by the portal's encoder), in GBK,
    GB18030 or UTF-8 with a BOM; cells a GBK portal cannot write are left as they were."""
    schema = SCHEMAS[dataset]
    records = csv_records(schema)
    for _ in range(draw(st.integers(1, 4))):
        record = draw(st.sampled_from(records))
        record[draw(st.sampled_from(list(schema.names)))] = draw(CSV_CELLS)
    table = table_from_records(schema, records)
    encoding = draw(st.sampled_from(["gbk", "gb18030", "utf-8"]))
    try:
        body = csv_download.encode(schema, table, encoding)
    except (UnicodeEncodeError, pa.ArrowInvalid):
        body = csv_page(dataset, "gbk")
    return (b"\xef\xbb\xbf" + body) if encoding == "utf-8" else body


# --- the properties -------------------------------------------------------------------------------

every_style = pytest.mark.parametrize("style", STYLES)


@every_style
def test_every_valid_page_decodes_to_its_records(style):
    for dataset in ["industrial_output"] if style == "nbs_easyquery" else DATASET_NAMES:
        decoded = decodes_or_page_error(style, dataset, valid_page(style, dataset))
        assert decoded is not None and decoded.num_records > 0 and not decoded.faults


@every_style
@PROPERTIES
@given(data=st.data())
def test_a_page_with_mutated_bytes_decodes_or_fails_as_a_page_error(style, data):
    dataset = data.draw(_dataset_for(style))
    check(style, dataset, data.draw(mutated_bytes(valid_page(style, dataset))))


@pytest.mark.parametrize("style", JSON_STYLES)
@PROPERTIES
@given(data=st.data())
def test_a_json_page_with_hostile_records_decodes_or_fails_as_a_page_error(style, data):
    dataset = data.draw(st.sampled_from(DATASET_NAMES))
    texts = data.draw(mutated_record_texts(record_texts(style, dataset)))
    total = data.draw(st.sampled_from(["41", "3", "Infinity", "1e99999999", '"41"', "-1", "null"]))
    check(style, dataset, page(style, texts, total=total), parse=True)


@pytest.mark.parametrize("style", [*JSON_STYLES, "nbs_easyquery"])
@PROPERTIES
@given(data=st.data())
def test_a_json_page_with_hostile_values_anywhere_decodes_or_fails_as_a_page_error(style, data):
    dataset = data.draw(_dataset_for(style))
    check(style, dataset, data.draw(mutated_values(valid_page(style, dataset))), parse=style != "nbs_easyquery")


@PROPERTIES
@given(data=st.data())
def test_a_csv_file_with_hostile_cells_decodes_or_fails_as_a_page_error(data):
    dataset = data.draw(st.sampled_from(DATASET_NAMES))
    check("csv_download", dataset, data.draw(mutated_csv(dataset)), parse=True)


@every_style
@PROPERTIES
@given(body=st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace"))))
def test_random_bytes_decode_or_fail_as_a_page_error(style, body):
    check(style, "industrial_output", body)
