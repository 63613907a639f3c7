import json

from ibdc.datasets import INDUSTRIAL_OUTPUT
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition

# One valid industrial output record; a test changes what it checks (``_item(cumulative=-1)``).
ITEM = dict(
    province_code="130000", period="2025-06", product_code="crude_steel", product_name="粗钢", unit="10k_tonnes"
) | {"current_month": 2010.55, "cumulative": 11890.2}


def _item(**overrides):
    return {**ITEM, **overrides}


def _parse(items):
    manifest = manifest_of(INDUSTRIAL_OUTPUT.name, "130000", "2025-06", key="k/page-0001.json")
    return parse_partition(INDUSTRIAL_OUTPUT, manifest, [json.dumps({"total": len(items), "items": items}).encode()])


def test_valid_record_becomes_canonical_with_lineage():
    result = _parse([_item()])
    assert result.rejects == []
    (rec,) = result.rows.to_pylist()
    assert rec["value_current_month"] == "2010.55"
    assert rec["value_current_month_base"] == "20105500.00" and rec["base_unit"] == "tonne"
    assert rec["record_position"] == 0
    (page,) = result.pages
    assert (page.source_object, page.source_version_id) == ("k/page-0001.json", "v1")


def test_each_kind_of_bad_record_is_rejected_with_its_reason_and_the_rest_kept():
    items = [
        _item(current_month="2O10,55x"),
        _item(product_code="cement", unit="10k_tonnes", current_month=-5.0, cumulative=10),
        _item(product_code="steel_bars_v2"),
        _item(product_code="automobiles", unit="10k_tonnes"),
        _item(product_code="pig_iron", province_code="140000"),
        _item(product_code="ethylene", current_month=20, cumulative=10),
        _item(product_code="flat_glass", unit="10k_weight_cases", current_month=None),
        _item(product_code="cement", current_month=1.5, cumulative=9.5),
    ]
    result = _parse(items)
    reasons = {r.record_position: r.reason for r in result.rejects}
    assert result.rows.column("product_code").to_pylist() == ["cement"]
    assert "valid decimal" in reasons[0]
    assert "non-negative" in reasons[1]
    assert "unknown product code 'steel_bars_v2'" in reasons[2]
    assert "catalogue says '10k_units'" in reasons[3]
    assert "partition is 130000 2025-06" in reasons[4]
    assert "exceeds cumulative" in reasons[5]
    # June without a current-month value: only the January-February release (February) may leave it out.
    assert reasons[6] == (
        "current_month: current-month value missing outside the January-February release (period 2025-06)"
    )
    assert json.loads(result.rejects[0].raw_text)["current_month"] == "2O10,55x"
    assert result.rows_in == len(items)


def test_telemetry_rejects_a_credit_code_with_a_wrong_check_digit():
    from ibdc.datasets import EQUIPMENT_TELEMETRY
    from ibdc.formats.base import table_from_records
    from ibdc.parsing.base import Records
    from ibdc.schemas import SCHEMAS
    from ibdc.uscc import check_digit

    good = "91110000100000000"  # 17 characters
    good += check_digit(good)
    wrong = good[:17] + ("1" if good[17] != "1" else "2")
    reading = {
        "device_id": "DEV-1",
        "ts": "2026-10-02T05:00:00Z",
        "runtime_min": "30",
        "output_units": "7",
        "energy_kwh": "1.5",
        "fault_code": None,
    }
    rows = [{**reading, "enterprise_code": good}, {**reading, "device_id": "DEV-2", "enterprise_code": wrong}]
    table = table_from_records(SCHEMAS["equipment_telemetry"], rows)
    records = Records(table, [0, 1], lambda i: str(rows[i]))
    manifest = manifest_of(EQUIPMENT_TELEMETRY.name, "110000", "2026-10-02", key="k")
    page = EQUIPMENT_TELEMETRY.validate(manifest, manifest.objects[0], records)
    assert page.rows.column("device_id").to_pylist() == ["DEV-1"]
    (reject,) = page.rejects
    assert reject.record_position == 1 and reject.reason == "enterprise_code is not a valid unified social credit code"
