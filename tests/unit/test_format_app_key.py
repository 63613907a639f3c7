"""The ``app_key`` wire format: UPPERCASE fields, every value a string, yyyymmdd dates, 1/0 booleans.
(What every format shares -- exact round trips, empty pages, truncations, renamed fields -- is tested in
test_formats.py.)"""

import json

import pytest

from ibdc.formats import DecodeError, SchemaDrift, app_key, envelope
from ibdc.formats.base import table_from_records
from ibdc.schemas import SCHEMAS
from tests.unit.format_helpers import APP_KEY_SAMPLES, golden_telemetry

GOLDEN = """{"code": "00000", "msg": "success", "data": {"total": 13, "page": 2, "rows": [
  {"PROVINCE_CODE": "120000", "PERIOD": "202506", "PRODUCT_CODE": "crude_steel", "PRODUCT_NAME": "粗钢",
   "UNIT": "10k_tonnes", "CURRENT_MONTH": "188.98", "CUMULATIVE": "1017.76"},
  {"PROVINCE_CODE": "120000", "PERIOD": "202506", "PRODUCT_CODE": "cement", "PRODUCT_NAME": "\\u6c34\\u6ce5",
   "UNIT": "10k_tonnes", "CURRENT_MONTH": "12O,5x", "CUMULATIVE": null},
  {"PROVINCE_CODE": "120000", "PERIOD": "202506", "PRODUCT_CODE": "pig_iron", "PRODUCT_NAME": "生铁",
   "UNIT": "10k_tonnes", "CURRENT_MONTH": 164.20, "CUMULATIVE": 884}
]}}""".encode()

GOLDEN_ENTERPRISE = """{"code": "00000", "msg": "success", "data": {"total": 1, "page": 1, "rows": [
  {"USCC": "91120000MA05K8PX3B", "NAME": "天津示例钢铁有限公司", "PROVINCE_CODE": "120000", "CITY": "天津市",
   "DIVISION_CODE": "C31", "SIZE_CLASS": "large", "LEGAL_REPRESENTATIVE": "张三", "PHONE": "022-12345678",
   "IOT_ADOPTED": "1", "FIVEG_ADOPTED": "0", "REGISTERED_ON": "20030415", "UPDATED_ON": "20250530",
   "STATUS": "存续", "PERIOD": "202506"}
]}}""".encode()

GOLDEN_TELEMETRY = b"""{"code": "00000", "msg": "success", "data": {"total": 4800, "page": 1, "rows": [
  {"DEVICE_ID": "DEV-120000-0000007", "ENTERPRISE_CODE": "E120000000000", "TS": "20250603140000",
   "RUNTIME_MIN": "60", "OUTPUT_UNITS": "240", "ENERGY_KWH": "0", "FAULT_CODE": null},
  {"DEVICE_ID": "DEV-120000-0000007", "ENTERPRISE_CODE": "E120000000000", "TS": "2025-06-03 15:00",
   "RUNTIME_MIN": "61", "OUTPUT_UNITS": "12a", "ENERGY_KWH": "-3.5", "FAULT_CODE": "F042"}
]}}"""


def _records(page) -> list[dict]:
    return page.table.to_pylist()


def test_golden_output_page_decodes_to_canonical_records():
    page = app_key.decode(SCHEMAS["industrial_output"], GOLDEN)
    assert page.total == 13 and page.num_records == 3
    assert page.table.column_names == list(SCHEMAS["industrial_output"].names)
    # The first two are the samples' (GOLDEN serves them); the third differs from its sample.
    assert _records(page) == [
        *APP_KEY_SAMPLES["industrial_output"][:2],
        {  # a portal that sends JSON numbers after all: their digits are kept
            "province_code": "120000",
            "period": "2025-06",
            "product_code": "pig_iron",
            "product_name": "生铁",
            "unit": "10k_tonnes",
            "current_month": "164.20",
            "cumulative": "884",
        },
    ]
    assert json.loads(page.raw_text(1)) == {
        "PROVINCE_CODE": "120000",
        "PERIOD": "202506",
        "PRODUCT_CODE": "cement",
        "PRODUCT_NAME": "水泥",
        "UNIT": "10k_tonnes",
        "CURRENT_MONTH": "12O,5x",
        "CUMULATIVE": None,
    }


def test_golden_enterprise_dates_and_flags_decode_to_canonical_text():
    (record,) = _records(app_key.decode(SCHEMAS["enterprises"], GOLDEN_ENTERPRISE))
    assert record["registered_on"] == "2003-04-15" and record["updated_on"] == "2025-05-30"
    assert (record["iot_adopted"], record["fiveg_adopted"]) == ("true", "false")
    assert record["period"] == "2025-06"
    assert record["name"] == "天津示例钢铁有限公司" and record["phone"] == "022-12345678"


def test_golden_telemetry_timestamps_decode_to_utc_and_garbage_passes_through():
    page = app_key.decode(SCHEMAS["equipment_telemetry"], GOLDEN_TELEMETRY)
    garbage = ("2025-06-03 15:00", "61", "12a", "-3.5")
    assert golden_telemetry(page) == (4800, APP_KEY_SAMPLES["equipment_telemetry"][0], garbage)


def test_encode_serves_the_documented_wire_form():
    schema = SCHEMAS["enterprises"]
    doc = json.loads(app_key.encode(schema, table_from_records(schema, APP_KEY_SAMPLES["enterprises"][:1]), 7, 3))
    assert (doc["code"], doc["msg"], doc["data"]["total"], doc["data"]["page"]) == ("00000", "success", 7, 3)
    (row,) = doc["data"]["rows"]
    assert row["USCC"] == "91120000MA05K8PX3B"
    assert (row["IOT_ADOPTED"], row["FIVEG_ADOPTED"]) == ("1", "0")
    assert (row["REGISTERED_ON"], row["UPDATED_ON"], row["PERIOD"]) == ("20030415", "20990101", "202506")
    telemetry = SCHEMAS["equipment_telemetry"]
    doc = json.loads(
        app_key.encode(telemetry, table_from_records(telemetry, APP_KEY_SAMPLES["equipment_telemetry"]), 3, 1)
    )
    assert [r["TS"] for r in doc["data"]["rows"]] == ["20250603140000", "20990101000000", "2025-06-03T15:00:00+08:00"]
    assert [r["ENERGY_KWH"] for r in doc["data"]["rows"]] == ["0", "1.250", "-3.5"]  # strings, digits as given


def test_the_golden_page_cut_short_raises_decode_error():
    with pytest.raises(DecodeError):  # transient: fetch_page fetches the page again
        app_key.decode(SCHEMAS["industrial_output"], GOLDEN[:40])


def test_the_envelope_says_what_an_answer_is_and_decode_reads_data_only():
    """The portal family's codes are the style's envelope (ibdc.formats.envelope); decode does not look
    at the code (a portal may declare other codes in the registry)."""
    [level] = app_key.ENVELOPE
    answers = {
        code: envelope.read(app_key.ENVELOPE, app_key.encode_error(code, "msg")).answer
        for code in ("10001", "99999", "10004", "9201")
    }
    assert answers == {"10001": "refused", "99999": "refused", "10004": "rate_limited", "9201": "no_data"}
    assert envelope.read(app_key.ENVELOPE, GOLDEN) == envelope.Verdict("success", "00000", "success")
    assert envelope.read(app_key.ENVELOPE, GOLDEN[:40]) is None  # undecodable is not a refusal: fetched again
    assert (level.code, level.message) == ("code", "msg")


def test_a_renamed_field_raises_schema_drift_naming_it():
    drifted = GOLDEN.replace(b'"CUMULATIVE"', b'"YTD"')
    with pytest.raises(SchemaDrift, match="cumulative") as err:
        app_key.decode(SCHEMAS["industrial_output"], drifted)
    assert "ytd" in str(err.value)
