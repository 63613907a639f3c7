import json

from ibdc.datasets import INDUSTRIAL_OUTPUT


def _item(**overrides):
    item = {
        "province_code": "130000",
        "period": "2025-06",
        "product_code": "crude_steel",
        "product_name": "粗钢",
        "unit": "10k_tonnes",
        "current_month": 2010.55,
        "cumulative": 11890.2,
    }
    return {**item, **overrides}


def _parse(items):
    manifest = {
        "province_code": "130000",
        "period": "2025-06",
        "source": {"style": "rest_json"},
        "objects": [{"key": "k/page-0001.json", "version_id": "v1"}],
    }
    return INDUSTRIAL_OUTPUT.parse(manifest, [json.dumps({"total": len(items), "items": items}).encode()])


def test_valid_record_becomes_canonical_with_lineage():
    result = _parse([_item()])
    assert result.rejects == []
    (rec,) = result.rows.to_pylist()
    assert rec["value_current_month"] == "2010.55"
    assert rec["value_current_month_base"] == "20105500.00" and rec["base_unit"] == "tonne"
    assert rec["record_position"] == 0
    (page,) = result.pages
    assert (page.source_object, page.source_version) == ("k/page-0001.json", "v1")


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
    assert "not a number" in reasons[6]
    assert json.loads(result.rejects[0].raw_text)["current_month"] == "2O10,55x"
    assert result.rows_in == len(items)
