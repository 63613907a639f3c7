"""Text as served, control characters refused: the shared check of every text field
(``ibdc.parsing.base.text_fault``), lone surrogates, and the quarantine's storable text.

Tab, line feed, carriage return, quotes, commas, backslashes and characters outside the Basic
Multilingual Plane are taken exactly as served; NUL (which PostgreSQL text cannot hold: one failed the
COPY of the whole partition) and the other control characters are the record's reject, with a reason
naming the character. The handed case ``text-controls`` is in ``tests/cases/``; the integration test
``tests/integration/test_text_controls.py`` loads it into PostgreSQL."""

import json
from pathlib import Path

import pytest

from ibdc.datasets import DATASETS
from ibdc.formats import csv_download, rest_json
from ibdc.formats.base import table_from_records
from ibdc.loading.postgres import storable
from ibdc.parsing.base import Records, text_fault
from ibdc.schemas import EQUIPMENT_TELEMETRY, SCHEMAS, Kind
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition

CASE = Path(__file__).resolve().parent.parent / "cases" / "text-controls" / "enterprises_310000_2025-06.rest_json.json"

# A valid record of each dataset, as canonical text.
VALID = {
    "industrial_output": {"province_code": "130000", "period": "2025-06", "product_code": "crude_steel",
                          "product_name": "粗钢", "unit": "10k_tonnes", "current_month": "2010.55",
                          "cumulative": "11890.2"},
    "electricity_consumption": {"province_code": "130000", "period": "2025-06", "division_code": "31",
                                "division_name": "黑色金属冶炼和压延加工业", "consumption": "12.5",
                                "cumulative": "70.25"},
    "enterprises": {"uscc": "91370100MA3C4XY79C", "name": "济南华泰机械有限公司", "province_code": "130000",
                    "city": "济南市", "division_code": "34", "size_class": "small",
                    "legal_representative": "张伟", "phone": "13912345678", "iot_adopted": "true",
                    "fiveg_adopted": "false", "registered_on": "2016-03-01", "updated_on": "2025-06-30",
                    "status": "active", "period": "2025-06"},
    "equipment_telemetry": {"device_id": "DEV-1", "enterprise_code": "91370100MA3C4XY79C",
                            "ts": "2025-06-03T05:00:00Z", "runtime_min": "60", "output_units": "12",
                            "energy_kwh": "4.5", "fault_code": "E101"},
}  # fmt: skip
PERIOD = {"equipment_telemetry": "2025-06-03"}
TEXT_FIELDS = [(d, f.name) for d, s in SCHEMAS.items() for f in s.fields if f.kind in (Kind.TEXT, Kind.PERIOD)]


def _manifest(dataset: str, style: str = "rest_json", province: str = "130000", period: str = "2025-06"):
    return manifest_of(dataset, province, period, style)


def _validate(dataset: str, records: list[dict]):
    """The dataset's validator over canonical records (the raw text: the record's JSON)."""
    table = table_from_records(SCHEMAS[dataset], records)
    manifest = _manifest(dataset, period=PERIOD.get(dataset, "2025-06"))
    raw = [json.dumps(r, ensure_ascii=False) for r in records]
    return DATASETS[dataset].validate(
        manifest,
        manifest.objects[0].model_copy(update={"key": "k"}),
        Records(table, list(range(len(records))), raw.__getitem__),
    )


def _second(dataset: str) -> dict:
    """Another valid record of the dataset (a different key from VALID's)."""
    other = {
        "industrial_output": {"product_code": "cement", "product_name": "水泥"},
        "electricity_consumption": {"division_code": "13", "division_name": "农副食品加工业"},
        "enterprises": {"uscc": "91310110MA1G000016"},
        "equipment_telemetry": {"device_id": "DEV-2"},
    }[dataset]
    return {**VALID[dataset], **other}


# --- the handed case -------------------------------------------------------------------------------


def test_handed_text_controls_case_keeps_five_as_served_and_quarantines_the_nul():
    body = CASE.read_bytes()
    served = json.loads(body)["items"]
    result = parse_partition(DATASETS["enterprises"], _manifest("enterprises", province="310000"), [body])
    rows = result.rows.to_pylist()
    assert [r["uscc"] for r in rows] == [i["uscc"] for i in served if "\x00" not in i["name"]]
    for row in rows:
        item = next(i for i in served if i["uscc"] == row["uscc"])
        for field in ("name", "city", "legal_representative", "phone"):
            assert row[field] == item[field]  # exactly as served: backslashes, tab, newline, quotes, 𠀀
    assert {r["name"] for r in rows} >= {
        "上海示例\\机械有限公司",
        "上海示例\t制表\n换行贸易有限公司",
        "\\.",
        "上海示例𠀀生僻字有限公司",
    }
    assert "孙\\N三" in {r["legal_representative"] for r in rows}
    (reject,) = result.rejects
    assert reject.record_position == 4
    assert reject.reason == "name: control character U+0000 (NUL) at character 12"


# --- NUL in every text field of every dataset -----------------------------------------------------


@pytest.mark.parametrize(("dataset", "field"), TEXT_FIELDS)
def test_a_nul_in_any_text_field_is_the_records_reject_naming_it(dataset, field):
    bad = dict(VALID[dataset], **{field: VALID[dataset][field] + "\x00"})
    page = _validate(dataset, [_second(dataset), bad])
    assert page.rows.num_rows == 1 and [r.record_position for r in page.rejects] == [1]
    assert page.rejects[0].reason.startswith(f"{field}: control character U+0000 (NUL)")


def test_a_nul_in_a_csv_line_is_rejected_with_the_line_as_raw_text():
    """A CSV line holds the NUL itself (a JSON record's raw text escapes it): the loader stores it
    escaped (``storable``, below)."""
    records = [VALID["equipment_telemetry"], dict(_second("equipment_telemetry"), device_id="DEV-2\x00")]
    body = csv_download.encode(EQUIPMENT_TELEMETRY, table_from_records(EQUIPMENT_TELEMETRY, records), "gb18030")
    assert body.count(b"\x00") == 1
    manifest = _manifest("equipment_telemetry", "csv_download", "130000", "2025-06-03")
    result = parse_partition(DATASETS["equipment_telemetry"], manifest, [body])
    assert result.rows_loaded == 1
    (reject,) = result.rejects
    assert reject.record_position == 1
    assert reject.reason == "device_id: control character U+0000 (NUL) at character 6"
    assert "DEV-2\x00," in reject.raw_text and "DEV-2\\u0000," in storable(reject.raw_text)


# --- which control characters: the rule ----------------------------------------------------------

REFUSED = {
    "\x01": "U+0001 (SOH)",
    "\x08": "U+0008 (BS)",
    "\x0b": "U+000B (VT)",
    "\x0c": "U+000C (FF)",
    "\x1b": "U+001B (ESC)",
    "\x1f": "U+001F (US)",
    "\x7f": "U+007F (DEL)",
    "\x85": "U+0085",
    "\x9f": "U+009F",
    "\ufffd": "U+FFFD",
    chr(0xD800): "lone surrogate U+D800",  # (a literal "\ud800" key reads as U+FFFD to ruff)
}


@pytest.mark.parametrize(("char", "named"), REFUSED.items())
def test_other_control_characters_are_refused_by_name(char, named):
    assert named in text_fault(f"上海{char}机械")
    assert "at character 3" in text_fault(f"上海{char}机械")


@pytest.mark.parametrize("dataset", [d for d in DATASETS if d != "equipment_telemetry"])
def test_an_escape_character_in_a_name_is_refused(dataset):
    field = {"industrial_output": "product_name", "electricity_consumption": "division_name"}.get(dataset, "name")
    page = _validate(dataset, [_second(dataset), dict(VALID[dataset], **{field: "\x1b[31m红色\x1b[0m"})])
    assert [r.reason for r in page.rejects] == [f"{field}: control character U+001B (ESC) at character 1"]


ALLOWED = [
    "上海示例\t制表",
    "换行\n贸易",
    "回车\r\n换行",
    '"引号",逗号,',
    "\\",
    "\\.",
    "孙\\N三",
    "𠀀生僻字",
    "\\u0000",
]


@pytest.mark.parametrize("served", ALLOWED)
def test_tab_newline_quotes_backslashes_and_astral_characters_are_taken_as_served(served):
    assert text_fault(served) is None
    page = _validate("enterprises", [dict(VALID["enterprises"], name=served, legal_representative=served)])
    assert page.rejects == []
    assert page.rows.to_pylist()[0]["name"] == page.rows.to_pylist()[0]["legal_representative"] == served


# --- lone surrogates -------------------------------------------------------------------------------


def test_a_lone_surrogate_quarantines_its_record_not_the_page():
    items = json.loads(CASE.read_bytes())["items"]
    del items[4]  # the NUL
    items[0]["name"] = "上海示例\ud800机械有限公司"
    body = json.dumps({"total": 5, "offset": 0, "limit": 100, "items": items}).encode()  # ASCII: "\ud800"
    assert b'"\\u4e0a\\u6d77\\u793a\\u4f8b\\ud800' in body
    decoded = rest_json.decode(SCHEMAS["enterprises"], body)
    assert decoded.table.column("name").to_pylist()[0] == "上海示例\ufffd机械有限公司"
    result = parse_partition(DATASETS["enterprises"], _manifest("enterprises", province="310000"), [body])
    assert result.rows_loaded == 4
    (reject,) = result.rejects
    assert reject.record_position == 0
    assert (
        reject.reason.startswith("name: U+FFFD REPLACEMENT CHARACTER at character 5")
        and "lone surrogate" in reject.reason
    )
    assert "\ud800" in reject.raw_text  # as served; stored escaped
    assert '"上海示例\\ud800机械有限公司"' in storable(reject.raw_text)


def test_table_from_records_keeps_valid_text_and_marks_lone_surrogates():
    schema = SCHEMAS["enterprises"]
    records = [dict(VALID["enterprises"], name=n) for n in ("a\ud800b", "\udfff", "𠀀", None)]
    table = table_from_records(schema, records)
    assert table.column("name").to_pylist() == ["a\ufffdb", "\ufffd", "𠀀", None]


# --- the quarantine write survives what it holds --------------------------------------------------


def test_storable_escapes_only_what_postgresql_text_cannot_hold():
    assert storable("上海\x00机械") == "上海\\u0000机械"
    assert storable("a\ud800b\udfff") == "a\\ud800b\\udfff"
    as_served = 'tab\there\nnew \\N \\. "q", 𠀀 \x1b \x7f'
    assert storable(as_served) == as_served
    storable("上海\x00\ud800").encode("utf-8")  # no NUL, no surrogate: PostgreSQL takes it
    assert "\x00" not in storable("\x00\x00")
