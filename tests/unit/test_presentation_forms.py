"""Portals print values the way their statistical tables look: thousands separators, full-width digits,
brackets and spaces, indented names, a 合计 row without its count, a UTF-8 file with a BOM, a JSONP
body behind a ``/**/`` guard. The decoders turn these presentation forms into plain values (the
validators then accept ASCII digits only: ``test_parsing_ascii_digits.py``).

The handed cases (``tests/cases/``) are files in the shapes real portals serve."""

import io
import json
from pathlib import Path

import pytest
import requests

from ibdc.datasets import DATASETS
from ibdc.formats import app_key, csv_download, jsonp
from ibdc.formats.base import DecodeError, table_from_records
from ibdc.schemas import ELECTRICITY_CONSUMPTION, INDUSTRIAL_OUTPUT, SCHEMAS
from ibdc.sources.adapters.csv_download import CsvDownloadAdapter
from ibdc.sources.registry import load_registry
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition

CASES = Path(__file__).resolve().parent.parent / "cases"
CSV_THOUSANDS = CASES / "csv-thousands"
JSONP_COMMENT = CASES / "jsonp-comment"

E = ELECTRICITY_CONSUMPTION


def _electricity(division: str, name: str, consumption: str | None, cumulative: str | None, province="450000"):
    return dict(zip(E.names, (province, "2025-06", division, name, consumption, cumulative), strict=True))


# What both files of the csv-thousands case hold (10k kWh, as served: the headers say 万千瓦时).
THOUSANDS_RECORDS = [
    _electricity("31", "黑色金属冶炼和压延加工业", "12345.67", "71208.90"),
    _electricity("32", "有色金属冶炼和压延加工业", "9876.54", "58001.20"),
    _electricity("13", "农副食品加工业", "812.30", "6540.10"),
]


def _parse(dataset: str, style: str, body: bytes, province: str = "450000", period: str = "2025-06"):
    manifest = manifest_of(dataset, province, period, style)
    return parse_partition(DATASETS[dataset], manifest, [body])


# --- handed case: csv-thousands ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["electricity_450000_2025-06.gbk.csv", "electricity_450000_2025-06.utf8-bom.csv"])
def test_handed_csv_thousands_decodes_to_the_three_records_without_the_indent(name):
    body = (CSV_THOUSANDS / name).read_bytes()
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body)
    assert page.table.to_pylist() == THOUSANDS_RECORDS
    assert page.total is None  # its 合计 row has no (共N条): it claims no count, its sums check out
    assert page.raw_text(0).endswith('"12,345.67","71,208.90"')  # the quarantine would see it as served


def test_handed_csv_thousands_gbk_and_utf8_bom_files_decode_alike():
    gbk, bom = (
        csv_download.decode(ELECTRICITY_CONSUMPTION, (CSV_THOUSANDS / n).read_bytes())
        for n in ("electricity_450000_2025-06.gbk.csv", "electricity_450000_2025-06.utf8-bom.csv")
    )
    assert (CSV_THOUSANDS / "electricity_450000_2025-06.utf8-bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert gbk.table.equals(bom.table)
    assert [gbk.raw_text(i) for i in range(3)] == [bom.raw_text(i) for i in range(3)]


@pytest.mark.parametrize("name", ["electricity_450000_2025-06.gbk.csv", "electricity_450000_2025-06.utf8-bom.csv"])
def test_handed_csv_thousands_loads_through_the_validator_with_nothing_quarantined(name):
    result = _parse("electricity_consumption", "csv_download", (CSV_THOUSANDS / name).read_bytes())
    assert result.rejects == []
    assert result.rows.select(["division_code", "consumption_10k_kwh", "cumulative_10k_kwh"]).to_pylist() == [
        {"division_code": "31", "consumption_10k_kwh": "12345.67", "cumulative_10k_kwh": "71208.90"},
        {"division_code": "32", "consumption_10k_kwh": "9876.54", "cumulative_10k_kwh": "58001.20"},
        {"division_code": "13", "consumption_10k_kwh": "812.30", "cumulative_10k_kwh": "6540.10"},
    ]
    assert result.rows.column("consumption_kwh").to_pylist() == ["123456700.00", "98765400.00", "8123000.00"]


class _Session:
    """One answer for every GET, as a requests session would return it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get(self, url, params=None, auth=None, stream=False):
        resp = requests.Response()
        resp.status_code, resp._content, resp.url = 200, self.body, url
        resp.raw = io.BytesIO(self.body)  # a streamed answer's body
        resp.headers["Content-Type"] = "text/csv; charset=gbk"
        return resp


def test_a_csv_file_without_a_count_reconciles_with_the_records_it_holds(monkeypatch):
    source = load_registry()["220000"]  # a csv_download province
    if source.conn_id:
        monkeypatch.setenv(f"AIRFLOW_CONN_{source.conn_id.upper()}", json.dumps({"login": "u", "password": "p"}))
    body = (CSV_THOUSANDS / "electricity_450000_2025-06.gbk.csv").read_bytes()
    extraction = CsvDownloadAdapter(_Session(body)).extract(source, "electricity_consumption", "2025-06")
    assert (extraction.records_received, extraction.records_claimed) == (3, 3)


# --- handed case: jsonp-comment ----------------------------------------------------------------------


def test_handed_jsonp_comment_prefix_decodes_exactly_like_the_plain_page():
    plain = jsonp.decode(INDUSTRIAL_OUTPUT, (JSONP_COMMENT / "page_plain.js").read_bytes())
    guarded_body = (JSONP_COMMENT / "page_comment_prefix.js").read_bytes()
    assert guarded_body.startswith(b"/**/")
    guarded = jsonp.decode(INDUSTRIAL_OUTPUT, guarded_body)
    assert guarded.table.equals(plain.table) and guarded.total == plain.total == 1
    assert [guarded.raw_text(i) for i in range(1)] == [plain.raw_text(i) for i in range(1)]
    assert guarded.table.to_pylist()[0]["current_month"] == "571.2"


@pytest.mark.parametrize(
    "wrapper",
    [b"/**/cb(%s);", b"\n  /**/ cb(%s) ;\n\n", b"/**/\ncb(\n%s\n)", b" \t/**/cb(%s)\r\n"],
)
def test_jsonp_as_served_comment_guard_whitespace_and_semicolon(wrapper):
    doc = json.loads((JSONP_COMMENT / "page_plain.js").read_bytes().partition(b"(")[2].rpartition(b")")[0])
    body = wrapper.replace(b"%s", json.dumps(doc, ensure_ascii=False).encode())
    assert jsonp.decode(INDUSTRIAL_OUTPUT, body).num_records == 1


@pytest.mark.parametrize(
    "body",
    [
        b'/**/alert(1);cb({"totalCount": 0, "list": []});',  # script behind the guard
        b'/* x */cb({"totalCount": 0, "list": []});',  # another comment
        b'/**//**/cb({"totalCount": 0, "list": []});',
        b'/**cb({"totalCount": 0, "list": []});',
        b'cb({"totalCount": 0, "list": []});/**/',
    ],
)
def test_jsonp_accepts_the_guard_and_nothing_else_around_the_callback(body):
    with pytest.raises(DecodeError):
        jsonp.decode(INDUSTRIAL_OUTPUT, body)


# --- thousands separators ----------------------------------------------------------------------------

ELECTRICITY_TABLE = (
    "地区代码,统计月份,行业代码,行业名称,本月用电量(万千瓦时),1-本月累计用电量(万千瓦时)\n"
    "220000,2025年06月,31,黑色金属冶炼和压延加工业,{a},{b}\n"
    "220000,2025年06月,13,农副食品加工业,{c},{d}\n"
    "{total},,,,{sa},{sb}\n"
)


def _table(**cells) -> str:
    values = {"a": "1", "b": "2", "c": "3", "d": "4", "total": "合计(共2条)", "sa": "4", "sb": "6", **cells}
    return ELECTRICITY_TABLE.format(**{k: v if "," not in v else f'"{v}"' for k, v in values.items()})


def test_thousands_separators_are_dropped_where_the_grouping_is_well_formed():
    body = _table(a="1,234,567.5", b="12,345,678", c="-1,000", d="999", sa="1,233,567.5", sb="12,346,677")
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body.encode("gbk"))
    assert page.table.column("consumption").to_pylist() == ["1234567.5", "-1000"]
    assert page.table.column("cumulative").to_pylist() == ["12345678", "999"]
    assert page.total == 2


@pytest.mark.parametrize("served", ["1,2345", "12,34.5", ",123", "1,234,56", "1,,234", "1234,567", "1,234.5,6"])
def test_a_malformed_grouping_is_passed_on_as_served_and_quarantined(served):
    body = _table(a=served, sa="3")  # the 合计 sums the numbers only
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body.encode("gbk"))
    assert page.table.column("consumption").to_pylist() == [served, "3"]
    result = _parse("electricity_consumption", "csv_download", body.encode("gbk"), province="220000")
    assert [r.record_position for r in result.rejects] == [0] and result.rows_loaded == 1


def test_thousands_separators_in_industrial_output_tables():
    body = (
        "地区代码,统计月份,产品代码,产品名称,本月(万吨),1-本月累计(万吨)\n"
        '220000,2025年06月,crude_steel,粗钢,"1,120.50","6,700.25"\n'
        "220000,2025年06月,cement,水泥,80,410\n"
        '合计(共2条),,,,"1,200.50","7,110.25"\n'
        "\n"
        "地区代码,统计月份,产品代码,产品名称,本月(亿千瓦时),1-本月累计(亿千瓦时)\n"
        '220000,2025年06月,electricity_generation,发电量,320.15,"1,729.13"\n'
        '合计(共1条),,,,320.15,"1,729.13"\n'
        "\n"
        "总计(共3条)\n"
    ).encode("gbk")
    page = csv_download.decode(INDUSTRIAL_OUTPUT, body)
    assert page.table.column("current_month").to_pylist() == ["1120.50", "80", "320.15"]
    assert page.table.column("cumulative").to_pylist() == ["6700.25", "410", "1729.13"]
    assert page.total == 3
    result = _parse("industrial_output", "csv_download", body, province="220000")
    assert result.rejects == [] and result.rows_loaded == 3


def test_thousands_separators_in_the_string_values_of_json_styles():
    item = {"PROVINCE_CODE": "120000", "PERIOD": "202506", "PRODUCT_CODE": "crude_steel", "PRODUCT_NAME": "粗钢",
            "UNIT": "10k_tonnes", "CURRENT_MONTH": "1,188.98", "CUMULATIVE": "１２，０１７．７６"}  # fmt: skip
    body = json.dumps({"code": "00000", "msg": "ok", "data": {"total": 1, "page": 1, "rows": [item]}}).encode()
    (record,) = app_key.decode(INDUSTRIAL_OUTPUT, body).table.to_pylist()
    assert (record["current_month"], record["cumulative"]) == ("1188.98", "12017.76")
    item = {"provinceCode": "140000", "period": "2025-06", "productCode": "cement", "productName": "水泥",
            "unit": "10k_tonnes", "currentMonth": " 1,030 ", "cumulative": 2793.74}  # fmt: skip
    wrapped = f"cb({json.dumps({'totalCount': 1, 'list': [item]})});".encode()
    (record,) = jsonp.decode(INDUSTRIAL_OUTPUT, wrapped).table.to_pylist()
    assert (record["current_month"], record["cumulative"]) == ("1030", "2793.74")


# --- full-width digits, punctuation, brackets and spaces ---------------------------------------------


def test_full_width_digits_and_punctuation_in_numbers_become_ascii():
    body = _table(a="１２，３４５．６７", b="　２　", c="－３", d="４．０", sa="12,342.67", sb="6.0")
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body.encode("gbk"))
    assert page.table.column("consumption").to_pylist() == ["12345.67", "-3"]
    assert page.table.column("cumulative").to_pylist() == ["2", "4.0"]
    assert page.raw_text(0).endswith(",１２，３４５．６７,　２　")  # as served


def test_full_width_brackets_and_spaces_in_headers_and_the_total_row():
    body = (
        "地区代码,统计月份,行业代码,行业名称,本月用电量（亿千瓦时）,　１－本月累计用电量（亿千瓦时） \n"
        "220000,2025年06月,31,　　黑色金属冶炼和压延加工业 ,0.5,1\n"
        "220000,2025年06月,13, 农副食品加工业\u3000,0.25,0.75\n"
        "合　计（共２条）,,,,0.75,1.75\n"
    )
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body.encode("gbk"))
    assert page.table.to_pylist() == [
        _electricity("31", "黑色金属冶炼和压延加工业", "5000", "10000", province="220000"),
        _electricity("13", "农副食品加工业", "2500", "7500", province="220000"),
    ]
    assert page.total == 2


# --- the 合计 row, with or without its count ------------------------------------------------------------


def test_a_total_row_with_its_count_is_reconciled_as_before():
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, _table().encode("gbk"))
    assert page.total == 2
    assert csv_download.decode(ELECTRICITY_CONSUMPTION, _table(total="合计(共7条)").encode("gbk")).total == 7


def test_a_total_row_without_a_count_checks_the_sums_only():
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, _table(total="合计").encode("gbk"))
    assert page.num_records == 2 and page.total is None
    for broken in (_table(total="合计", sa="5"), _table(total="合计", sb="-"), _table(total="合计(共条)")):
        with pytest.raises(DecodeError):
            csv_download.decode(ELECTRICITY_CONSUMPTION, broken.encode("gbk"))
    cut = _table(total="合计").encode("gbk").rsplit(b"\n", 2)[0]  # the 合计 row gone: a cut file
    with pytest.raises(DecodeError, match="合计"):
        csv_download.decode(ELECTRICITY_CONSUMPTION, cut)


def test_an_output_table_whose_total_rows_have_no_count():
    body = (
        "地区代码,统计月份,产品代码,产品名称,本月(万吨),1-本月累计(万吨)\n"
        "220000,2025年06月,crude_steel,粗钢,120.5,700.25\n"
        "合计,,,,120.5,700.25\n"
        "\n"
        "总计(共1条)\n"
    ).encode("gbk")
    page = csv_download.decode(INDUSTRIAL_OUTPUT, body)
    assert page.total == 1 and page.table.column("current_month").to_pylist() == ["120.5"]
    with pytest.raises(DecodeError, match="合计"):
        csv_download.decode(INDUSTRIAL_OUTPUT, body.replace(b"120.5,700.25\n\n", b"120.6,700.25\n\n"))


# --- encoding from the bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("gbk", b""),
        ("gb18030", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
    ],
)
@pytest.mark.parametrize("dataset", ["electricity_consumption", "industrial_output"])
def test_the_encoding_is_read_from_the_bytes_a_bom_first(encoding, bom, dataset):
    schema = SCHEMAS[dataset]
    gbk = csv_download.encode(schema, table_from_records(schema, _records(dataset)), "gbk")
    text = gbk.decode("gbk")
    body = bom + text.encode(encoding)
    expected = csv_download.decode(schema, gbk)
    page = csv_download.decode(schema, body)
    assert page.table.equals(expected.table) and page.total == expected.total == 2
    assert [page.raw_text(i) for i in range(2)] == [expected.raw_text(i) for i in range(2)]


def _records(dataset: str) -> list[dict]:
    if dataset == "electricity_consumption":
        return [
            _electricity("31", "黑色金属冶炼和压延加工业", "12345.67", "71208.9", province="220000"),
            _electricity("13", "农副食品加工业", None, "6540.1", province="220000"),
        ]
    return [
        dict(zip(INDUSTRIAL_OUTPUT.names, ("220000", "2025-06", c, n, "10k_tonnes", "1.5", "7"), strict=True))
        for c, n in (("crude_steel", "粗钢"), ("cement", "水泥"))
    ]


def test_a_utf8_bom_file_cut_inside_a_character_or_its_bom_is_a_decode_error():
    body = b"\xef\xbb\xbf" + _table().encode("utf-8")
    assert csv_download.decode(ELECTRICITY_CONSUMPTION, body).num_records == 2
    inside = [cut for cut in range(1, len(body)) if 0x80 <= body[cut] < 0xC0]  # before a continuation byte
    assert len(inside) > 60
    for cut in [0, 1, 2, 3, *inside]:
        with pytest.raises(DecodeError):
            csv_download.decode(ELECTRICITY_CONSUMPTION, body[:cut])
