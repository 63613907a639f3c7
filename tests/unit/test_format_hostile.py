"""The JSON styles under hostile input (issue 13): what JSON does not allow, or Python's reader cannot
hold, inside one record is that record's fault (quarantined with the reason, the rest of the page
taken); outside the records it is the page's, as a classified error; numbers are never converted,
so a page of a few hundred bytes costs a few hundred bytes; each body is parsed once, its envelope
read from the same parse."""

import json
import tracemalloc

import pytest
import requests

from ibdc.datasets import DATASETS
from ibdc.errors import IbdcError, LayoutError
from ibdc.formats import DecodeError, format_for, jsonread, signed_gateway
from ibdc.schemas import SCHEMAS
from ibdc.sources.adapters.base import Extraction, RateLimited, SourceRefused, fetch_page
from ibdc.sources.registry import load_registry
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition
from tests.unit.format_pages import DATASET, JSON_STYLES, page, record_texts, with_member

SCHEMA = SCHEMAS[DATASET]
every_json_style = pytest.mark.parametrize("style", JSON_STYLES)
DEEP = "[" * 100_000 + "]" * 100_000


def _decode(style: str, body: bytes):
    return format_for(style).decode(SCHEMA, body)


def _extra(style: str) -> str:
    return {"rest_json": "extra", "app_key": "EXTRA", "signed_gateway": "extra", "jsonp": "extra"}[style]


# --- one record's fault, not the page's -----------------------------------------------------------


@every_json_style
@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("{k}: NaN", "NaN is not a JSON number"),
        ("{k}: Infinity", "Infinity is not a JSON number"),
        ("{k}: -Infinity", "-Infinity is not a JSON number"),
        ('{k}: [1, {{"a": 1, "a": 2}}]', "key 'a' twice in one object"),
        ("{k}: " + DEEP, "nested deeper than JSON is read"),
    ],
    ids=["nan", "infinity", "-infinity", "duplicate-key", "deep"],
)
def test_what_json_does_not_allow_in_a_record_is_that_records_fault(style, member, reason):
    records = record_texts(style)
    valid = _decode(style, page(style, records))
    records[1] = with_member(records[1], member.format(k=json.dumps(_extra(style))))
    decoded = _decode(style, page(style, records))
    assert decoded.num_records == valid.num_records and list(decoded.faults) == [1]
    assert reason in decoded.faults[1]
    kept = [i for i in range(valid.num_records) if i != 1]
    assert decoded.table.take(kept).equals(valid.table.take(kept))
    assert decoded.raw_text(1).startswith("{" + json.dumps(_extra(style)))  # as served


@every_json_style
def test_a_key_served_twice_in_a_record_is_a_fault_not_silently_the_last(style):
    records = record_texts(style)
    first_key = next(iter(json.loads(records[0])))
    records[0] = with_member(records[0], f'{json.dumps(first_key)}: "served first"')
    decoded = _decode(style, page(style, records))
    assert list(decoded.faults) == [0] and f"key {first_key!r} twice" in decoded.faults[0]


def test_a_faulted_record_is_quarantined_with_its_reason_and_the_page_loads():
    records = record_texts("rest_json")
    records[0] = with_member(records[0], '"current_month": Infinity')
    body = page("rest_json", records, total=str(len(records)))
    manifest = manifest_of(DATASET, "130000", "2025-06", key="industrial_output/page-0001")
    result = parse_partition(DATASETS[DATASET], manifest, [body])
    faulted = [r for r in result.rejects if r.record_position == 0]
    assert len(faulted) == 1 and "Infinity is not a JSON number" in faulted[0].reason
    assert faulted[0].raw_text.startswith('{"current_month": Infinity')
    assert result.rows_in == len(records)


@every_json_style
def test_a_control_character_written_raw_in_a_string_is_the_records_to_judge_not_the_pages(style):
    """Strict JSON escapes control characters; a portal writing one raw (a tab or a NUL inside a
    product name) must not make the whole page undecodable (fetched again, then the partition
    failed): the character is read, and the record's text check quarantines a NUL (a tab is kept)."""
    records = record_texts(style)
    name = next(k for k in json.loads(records[1]) if k.lower().replace("_", "") == "productname")
    records[1] = records[1].replace(f'"{name}": "', f'"{name}": "a\tb\x00c', 1)
    assert "\x00" in records[1]
    decoded = _decode(style, page(style, records))
    assert decoded.num_records == len(records) and not decoded.faults
    assert decoded.table["product_name"][1].as_py().startswith("a\tb\x00c")


# --- the page's fault, classified ----------------------------------------------------------------


@every_json_style
@pytest.mark.parametrize(
    "extra",
    ['"note": NaN, ', '"note": Infinity, ', '"note": ' + DEEP + ", ", "duplicate"],
    ids=["nan", "infinity", "deep", "duplicate-key"],
)
def test_what_json_does_not_allow_outside_the_records_is_a_layout_error(style, extra):
    if extra == "duplicate":  # a member of the page's outer object served twice
        outer = {"rest_json": "total", "app_key": "code", "signed_gateway": "status", "jsonp": "totalCount"}[style]
        extra = f'"{outer}": 1, '
    with pytest.raises(LayoutError):
        _decode(style, page(style, record_texts(style), envelope_extra=extra))


@every_json_style
@pytest.mark.parametrize("total", ["Infinity", "NaN", "1e99999999", "9" * 5000, "-1", "4.5", "true"])
def test_a_count_that_is_not_one_is_a_layout_error(style, total):
    with pytest.raises(LayoutError):
        _decode(style, page(style, record_texts(style), total=total))


@every_json_style
def test_a_body_nested_thousands_deep_is_a_classified_error_not_a_recursion_error(style):
    for body in (DEEP.encode(), b'{"items": ' + DEEP.encode() + b"}", ("[" * 100_000).encode()):
        with pytest.raises(IbdcError):
            _decode(style, body)


def test_a_timestamp_of_thousands_of_digits_stays_as_served():
    records = record_texts("signed_gateway", "equipment_telemetry")
    served = dict(json.loads(records[0]), ts="TS")
    records[0] = json.dumps(served).replace('"TS"', "1" * 5000)  # an integer of 5000 digits
    decoded = signed_gateway.decode(SCHEMAS["equipment_telemetry"], page("signed_gateway", records))
    assert decoded.table.column("ts")[0].as_py() == "1" * 5000 and not decoded.faults


# --- numbers as their text: bounded memory -------------------------------------------------------

HUGE = (
    b'{"code": "00000", "msg": "success", "data": {"total": 1, "page": 1, "rows": [{"PROVINCE_CODE": "120000", '
    b'"PERIOD": "202506", "PRODUCT_CODE": "crude_steel", "PRODUCT_NAME": "x", "UNIT": "10k_tonnes", '
    b'"CURRENT_MONTH": 1e99999999, "CUMULATIVE": "1"}]}}'
)


@pytest.mark.parametrize("figure", [b"1e99999999", b'"1e99999999"', b"1E+200000", b"-1e-99999999"])
def test_a_237_byte_page_with_a_huge_exponent_decodes_in_bounded_memory(figure):
    """The figure once became a 100-million-digit Decimal written out in full (414 MB)."""
    body = HUGE.replace(b"1e99999999", figure)
    assert len(body) < 260
    tracemalloc.start()
    try:
        decoded = format_for("app_key").decode(SCHEMA, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert decoded.table.column("current_month")[0].as_py() == figure.decode().strip('"')
    assert peak < 20_000_000, peak


# --- one parse per body ---------------------------------------------------------------------------


class _Response(requests.Response):
    def __init__(self, body: bytes) -> None:
        super().__init__()
        self._content, self.status_code = body, 200
        self.headers["Content-Type"] = "application/json"


@pytest.mark.parametrize(("style", "province"), [("app_key", "120000"), ("signed_gateway", "310000")])
def test_fetch_page_parses_each_body_once_and_reads_its_envelope_from_that_parse(monkeypatch, style, province):
    source = next(s for s in load_registry().values() if s.style == style)
    body = page(style, record_texts(style), total="3")
    parses = []
    real_loads, real_scan = json.loads, jsonread.scan
    whole = {body, body.decode()}

    def loads(s, *args, **kwargs):
        parses.append("json.loads") if s in whole else None
        return real_loads(s, *args, **kwargs)

    def scan(text, *args, **kwargs):
        parses.append("scan") if text in whole else None
        return real_scan(text, *args, **kwargs)

    class Decoder:  # the columnar path's one parse (jsonread.Columnar)
        def decode(self, data):
            parses.append("msgspec") if data in whole else None
            return real_decoder.decode(data)

    real_decoder = jsonread._DECODER
    monkeypatch.setattr(json, "loads", loads)
    monkeypatch.setattr(jsonread, "scan", scan)
    monkeypatch.setattr(jsonread, "_DECODER", Decoder())
    extraction = Extraction(source, DATASET, "2025-06")
    decoded = fetch_page(extraction, lambda: _Response(body), {})
    assert decoded.num_records == 3 and len(parses) == 1, parses


@pytest.mark.parametrize(
    ("style", "body", "error"),
    [
        ("app_key", b'{"code": "10004", "msg": "busy", "data": null}', RateLimited),
        ("app_key", b'{"code": "1", "msg": "bad key", "data": null}', SourceRefused),
        ("signed_gateway", signed_gateway.encode_error("4001", "bad sign"), SourceRefused),
    ],
)
def test_the_envelope_read_with_the_decode_still_answers_first(monkeypatch, style, body, error):
    monkeypatch.setattr("time.sleep", lambda s: None)
    source = next(s for s in load_registry().values() if s.style == style)
    with pytest.raises(error, match=json.loads(body).get("msg", "bad sign")):
        fetch_page(Extraction(source, DATASET, "2025-06"), lambda: _Response(body), {})


def test_decode_without_envelopes_has_no_verdict_and_with_them_says_it():
    from ibdc.formats import app_key

    body = page("app_key", record_texts("app_key"))
    assert app_key.decode(SCHEMA, body).verdict is None
    verdict = app_key.decode(SCHEMA, body, app_key.ENVELOPE).verdict
    assert (verdict.code, verdict.answer) == ("00000", "success")
    refused = app_key.decode(SCHEMA, b'{"code": "1", "msg": "no", "data": null}', app_key.ENVELOPE)
    assert refused.verdict.answer == "refused" and refused.num_records == 0
    with pytest.raises(DecodeError):
        app_key.decode(SCHEMA, body[:-1], app_key.ENVELOPE)


# --- csv_download: no arithmetic on a number wider than any table -------------------------------

CSV_HEAD = "地区代码,统计月份,行业代码,行业名称,本月用电量(亿千瓦时),1-本月累计用电量(亿千瓦时)\n"


def _csv(rows: list[str], total: str) -> bytes:
    return (CSV_HEAD + "".join(r + "\n" for r in rows) + total + "\n").encode("gbk")


def test_a_csv_column_with_a_number_wider_than_any_table_is_not_summed_and_passes_as_served():
    """Its exact 合计 would cost the width of the number times the rows of the column; the number's
    record is refused by its validator, the rest of the file is read."""
    wide = "9" * 300
    rows = [f"220000,2025年06月,C13,x,{wide},0.5", "220000,2025年06月,C14,y,0.0003,1.5"]
    decoded = format_for("csv_download").decode(SCHEMAS["electricity_consumption"], _csv(rows, "合计(共2条),,,,1,2.0"))
    assert decoded.table.column("consumption").to_pylist() == [wide + "0000", "3"]
    with pytest.raises(DecodeError, match="合计 of 1-本月累计用电量"):  # a column of narrow numbers: checked
        format_for("csv_download").decode(SCHEMAS["electricity_consumption"], _csv(rows, "合计(共2条),,,,1,2.5"))
