"""The ``signed_gateway`` wire format: signing, and JSON records nested in JSON strings. (What every format
shares -- exact round trips, empty pages, truncations, renamed fields -- is tested in test_formats.py.)"""

import hashlib
import hmac
import json

import pytest

from ibdc.errors import LayoutError
from ibdc.formats import DecodeError, SchemaDrift, envelope, signed_gateway
from ibdc.formats.base import table_from_records
from ibdc.schemas import SCHEMAS
from tests.unit.format_helpers import SERVED, SIGNED_GATEWAY_SAMPLES, golden_telemetry, in_signed_gateway_envelope

# The bytes as a gateway serves them: ``result`` is a JSON string, and ``data`` inside it another.
GOLDEN = r"""{"status": 200, "result": "{\"code\": \"0000\", \"message\": \"ok\", \"total\": 15, \"data\": \"[{\\\"provinceCode\\\": \\\"310000\\\", \\\"period\\\": \\\"2025-06\\\", \\\"productCode\\\": \\\"crude_steel\\\", \\\"productName\\\": \\\"粗钢\\\", \\\"unit\\\": \\\"10k_tonnes\\\", \\\"currentMonth\\\": 147.70, \\\"cumulative\\\": 834}, {\\\"provinceCode\\\": \\\"310000\\\", \\\"period\\\": \\\"2025-06\\\", \\\"productCode\\\": \\\"cement\\\", \\\"productName\\\": \\\"\\\\u6c34\\\\u6ce5\\\", \\\"unit\\\": \\\"10k_tonnes\\\", \\\"currentMonth\\\": \\\"12O,5x\\\", \\\"cumulative\\\": null}]\"}"}""".encode()  # noqa: E501

GOLDEN_TELEMETRY = rb"""{"status": 200, "result": "{\"code\": \"0000\", \"message\": \"ok\", \"total\": 4800, \"data\": \"[{\\\"deviceId\\\": \\\"DEV-310000-0000007\\\", \\\"enterpriseCode\\\": \\\"E310000000000\\\", \\\"ts\\\": 1748959200000, \\\"runtimeMin\\\": 60, \\\"outputUnits\\\": 240, \\\"energyKwh\\\": 0, \\\"faultCode\\\": null}, {\\\"deviceId\\\": \\\"DEV-310000-0000007\\\", \\\"enterpriseCode\\\": \\\"E310000000000\\\", \\\"ts\\\": \\\"2025-06-03 15:00\\\", \\\"runtimeMin\\\": \\\"61x\\\", \\\"outputUnits\\\": 1e3, \\\"energyKwh\\\": -3.50, \\\"faultCode\\\": \\\"F042\\\"}]\"}"}"""  # noqa: E501

GOLDEN_ENTERPRISE = r"""{"status": 200, "result": "{\"code\": \"0000\", \"message\": \"ok\", \"total\": 1, \"data\": \"[{\\\"uscc\\\": \\\"91310000MA1FL5JX2C\\\", \\\"name\\\": \\\"上海示例机械有限公司\\\", \\\"provinceCode\\\": \\\"310000\\\", \\\"city\\\": \\\"浦东新区\\\", \\\"divisionCode\\\": \\\"C34\\\", \\\"sizeClass\\\": \\\"medium\\\", \\\"legalRepresentative\\\": \\\"李四\\\", \\\"phone\\\": \\\"021-55556666\\\", \\\"iotAdopted\\\": true, \\\"fivegAdopted\\\": false, \\\"registeredOn\\\": \\\"2011-09-01\\\", \\\"updatedOn\\\": \\\"2025-05-30\\\", \\\"status\\\": \\\"存续\\\", \\\"period\\\": \\\"2025-06\\\"}]\"}"}""".encode()  # noqa: E501

PARAMS = {
    "app_id": "310000",
    "method": "ibdc.data.industrial_output.query",
    "period": "2025-06",
    "page_no": "1",
    "page_size": "10",
    "timestamp": "1750000000000",
}
# HMAC-SHA256 under "test-secret" of the parameters sorted by name, as k=v&k=v.
PARAMS_SIGN = "8b3094036dd178d787f5d30c67d3410401fc8411c81e9a9395b940141bc5f42a"


def _records(page) -> list[dict]:
    return page.table.to_pylist()


# --- signing -------------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_the_sorted_parameters():
    assert signed_gateway.string_to_sign({**PARAMS, "sign": "ignored"}) == (
        "app_id=310000&method=ibdc.data.industrial_output.query&page_no=1&page_size=10&period=2025-06"
        "&timestamp=1750000000000"
    )
    expected = hmac.new(b"test-secret", signed_gateway.string_to_sign(PARAMS).encode(), hashlib.sha256).hexdigest()
    assert signed_gateway.sign(PARAMS, "test-secret") == expected == PARAMS_SIGN
    assert signed_gateway.sign(dict(reversed(PARAMS.items())), b"test-secret") == PARAMS_SIGN  # order-free


def test_a_signed_request_verifies_and_any_tampering_is_rejected():
    form = signed_gateway.signed({k: v for k, v in PARAMS.items() if k != "timestamp"}, "test-secret", 1750000000000)
    assert form == {**PARAMS, "sign": PARAMS_SIGN}
    assert signed_gateway.verify(form, "test-secret")
    assert signed_gateway.verify({**form, "sign": PARAMS_SIGN.upper()}, "test-secret")
    for name in PARAMS:
        assert not signed_gateway.verify({**form, name: form[name] + "0"}, "test-secret"), name
    assert not signed_gateway.verify({**form, "page_size": "5000"}, "test-secret")
    assert not signed_gateway.verify({**form, "extra": "1"}, "test-secret")  # an added parameter
    assert not signed_gateway.verify({k: v for k, v in form.items() if k != "period"}, "test-secret")  # a dropped one
    assert not signed_gateway.verify(form, "other-secret")
    assert not signed_gateway.verify({k: v for k, v in form.items() if k != "sign"}, "test-secret")


def test_method_names_carry_the_dataset():
    assert signed_gateway.method_for("equipment_telemetry") == "ibdc.data.equipment_telemetry.query"
    assert signed_gateway.dataset_of("ibdc.data.equipment_telemetry.query") == "equipment_telemetry"
    assert signed_gateway.dataset_of("ibdc.data..query") is None
    assert signed_gateway.dataset_of("ibdc.admin.equipment_telemetry.delete") is None


# --- pages ---------------------------------------------------------------------------------------


def test_golden_output_page_decodes_to_canonical_records():
    page = signed_gateway.decode(SCHEMAS["industrial_output"], GOLDEN)
    assert page.total == 15 and page.num_records == 2
    assert page.table.column_names == list(SCHEMAS["industrial_output"].names)
    crude_steel, cement = SIGNED_GATEWAY_SAMPLES["industrial_output"][:2]
    assert crude_steel["current_month"] == "147.70"  # served as a JSON number: its digits, not through a float
    assert _records(page) == [crude_steel, {**cement, "product_name": "水泥"}]  # GOLDEN's cement: no grade
    assert page.raw_text(0) == (
        '{"provinceCode": "310000", "period": "2025-06", "productCode": "crude_steel", "productName": "粗钢", '
        '"unit": "10k_tonnes", "currentMonth": 147.70, "cumulative": 834}'
    )
    assert json.loads(page.raw_text(1))["currentMonth"] == "12O,5x"


def test_golden_telemetry_millisecond_timestamps_decode_to_utc():
    total, first, passed_through = golden_telemetry(
        signed_gateway.decode(SCHEMAS["equipment_telemetry"], GOLDEN_TELEMETRY)
    )
    assert (total, first) == (4800, SIGNED_GATEWAY_SAMPLES["equipment_telemetry"][0])
    assert passed_through == ("2025-06-03 15:00", "61x", "1e3", "-3.50")  # numbers' text as served


def test_golden_enterprise_booleans_and_dates_decode_to_canonical_text():
    (record,) = _records(signed_gateway.decode(SCHEMAS["enterprises"], GOLDEN_ENTERPRISE))
    assert (record["iot_adopted"], record["fiveg_adopted"]) == ("true", "false")
    assert (record["registered_on"], record["updated_on"], record["period"]) == ("2011-09-01", "2025-05-30", "2025-06")
    assert (record["legal_representative"], record["size_class"]) == ("李四", "medium")


def test_encode_serves_the_documented_wire_form():
    telemetry = SCHEMAS["equipment_telemetry"]
    body = signed_gateway.encode(
        telemetry, table_from_records(telemetry, SIGNED_GATEWAY_SAMPLES["equipment_telemetry"]), 3
    )
    outer = json.loads(body)
    assert outer["status"] == 200 and isinstance(outer["result"], str)
    inner = json.loads(outer["result"])
    assert (inner["code"], inner["message"], inner["total"]) == ("0000", "ok", 3)
    assert isinstance(inner["data"], str)
    first, second, third = json.loads(inner["data"])
    assert set(first) == {"deviceId", "enterpriseCode", "ts", "runtimeMin", "outputUnits", "energyKwh", "faultCode"}
    assert (first["ts"], first["runtimeMin"], first["energyKwh"], first["faultCode"]) == (1748959200000, 60, 0, None)
    assert second["ts"] == 4070908800000 and second["outputUnits"] == "12a"
    assert third["ts"] == "2025-13-03T15:00:00Z" and third["runtimeMin"] == "12O,5x"
    enterprises = SCHEMAS["enterprises"]
    body = signed_gateway.encode(enterprises, table_from_records(enterprises, SIGNED_GATEWAY_SAMPLES["enterprises"]), 2)
    first, second = SERVED["signed_gateway"](body)
    assert (first["iotAdopted"], first["fivegAdopted"], first["registeredOn"]) == (True, False, "2011-09-01")
    assert (second["iotAdopted"], second["fivegAdopted"]) == ("1", None)


def test_the_golden_page_cut_short_raises_decode_error():
    with pytest.raises(DecodeError):  # transient: fetch_page fetches the page again
        signed_gateway.decode(SCHEMAS["industrial_output"], GOLDEN[:50])


def test_the_envelope_reads_the_outer_status_then_the_inner_code():
    outer, inner = signed_gateway.ENVELOPE
    assert (outer.code, inner.inside, inner.code, inner.message) == ("status", "result", "code", "message")
    refusal = signed_gateway.encode_error("1001", "invalid sign")
    assert json.loads(refusal)["status"] == 200  # the outer status says nothing: the inner code does
    assert envelope.read(signed_gateway.ENVELOPE, refusal) == envelope.Verdict("refused", "1001", "invalid sign")
    assert envelope.read(signed_gateway.ENVELOPE, GOLDEN).answer == "success"
    assert envelope.read(signed_gateway.ENVELOPE, GOLDEN[:50]) is None  # undecodable: fetch_page re-fetches it
    # The outer status is HTTP's: the statuses HTTP retries are worth another attempt, others refuse.
    busy = in_signed_gateway_envelope('{"code": "0000", "message": "ok", "total": 0, "data": "[]"}', status=503)
    assert envelope.read(signed_gateway.ENVELOPE, busy).answer == "rate_limited"
    assert (
        envelope.read(signed_gateway.ENVELOPE, in_signed_gateway_envelope("forbidden", status=403)).answer == "refused"
    )
    with pytest.raises(LayoutError, match="'result' holding 'code'"):
        envelope.read(signed_gateway.ENVELOPE, b'{"status": 200}')


def test_a_renamed_field_raises_schema_drift_naming_it():
    drifted = GOLDEN.replace(b'\\\\\\"cumulative\\\\\\"', b'\\\\\\"ytdValue\\\\\\"')
    assert drifted != GOLDEN
    with pytest.raises(SchemaDrift, match="cumulative") as err:
        signed_gateway.decode(SCHEMAS["industrial_output"], drifted)
    assert "ytd_value" in str(err.value)


def test_field_names_are_camel_case_both_ways():
    for schema in SCHEMAS.values():
        for name in schema.names:
            assert signed_gateway.canonical_name(signed_gateway.wire_name(name)) == name
    assert signed_gateway.wire_name("fiveg_adopted") == "fivegAdopted"
    assert signed_gateway.wire_name("energy_kwh") == "energyKwh"
