"""Validators accept ASCII digits only. Python's ``Decimal`` and ``int`` take any Unicode digit
(``Decimal("١٢٣")`` is 123, ``Decimal("１２")`` 12) and ``_`` and whitespace, and Python's ``\\d`` is any
Unicode digit: after the decoders have made the portals' presentation forms plain
(``test_presentation_forms.py``), a value still in other digits is quarantined with its reason, never
read as a number."""

import json

import pytest

from ibdc.datasets import DATASETS
from ibdc.formats import csv_download
from ibdc.formats.base import table_from_records
from ibdc.parsing.base import Records
from ibdc.schemas import ELECTRICITY_CONSUMPTION, ENTERPRISES, EQUIPMENT_TELEMETRY, INDUSTRIAL_OUTPUT
from tests.manifests import manifest_of
from tests.unit.test_presentation_forms import _electricity, _parse, _table

E = ELECTRICITY_CONSUMPTION


NON_ASCII_NUMBERS = ["١٢٣", "١٢٣.٤", "１２", "१२", "1_000", " 12", "12\u3000", "٣"]


@pytest.mark.parametrize("served", NON_ASCII_NUMBERS)
def test_electricity_validator_quarantines_a_number_not_in_ascii_digits(served):
    records = [_electricity("31", "x", served, "100000"), _electricity("13", "y", "1", "2")]
    table = table_from_records(E, records)
    manifest = manifest_of("electricity_consumption", "450000", "2025-06", key="k", version_id=None)
    page = DATASETS["electricity_consumption"].validate(
        manifest,
        manifest.objects[0],
        Records(table, [0, 1], lambda i: json.dumps(records[i], ensure_ascii=False)),
    )
    assert [r.record_position for r in page.rejects] == [0] and page.rows.num_rows == 1
    assert "consumption" in page.rejects[0].reason and "ASCII" in page.rejects[0].reason


@pytest.mark.parametrize("served", NON_ASCII_NUMBERS)
@pytest.mark.parametrize("field", ["current_month", "cumulative"])
def test_output_validator_quarantines_a_number_not_in_ascii_digits(served, field):
    item = {"province_code": "450000", "period": "2025-06", "product_code": "cement", "product_name": "水泥",
            "unit": "10k_tonnes", "current_month": "1", "cumulative": "99999"}  # fmt: skip
    records = [dict(item, **{field: served}), dict(item, product_code="crude_steel", product_name="粗钢")]
    table = table_from_records(INDUSTRIAL_OUTPUT, records)
    manifest = manifest_of("industrial_output", "450000", "2025-06", key="k")
    page = DATASETS["industrial_output"].validate(manifest, manifest.objects[0], Records(table, [0, 1], str))
    assert [r.record_position for r in page.rejects] == [0] and page.rows.num_rows == 1
    assert field in page.rejects[0].reason and "ASCII" in page.rejects[0].reason


def test_a_csv_value_in_other_digits_is_passed_on_and_quarantined():
    """Arabic-Indic digits are not a presentation form the decoder turns into ASCII: the validator
    refuses them (``Decimal("١٢٣")`` would be 123)."""
    body = _table(a="١٢٣", sa="3").encode("utf-8")
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, b"\xef\xbb\xbf" + body)
    assert page.table.column("consumption").to_pylist()[0] == "١٢٣"
    result = _parse("electricity_consumption", "csv_download", b"\xef\xbb\xbf" + body, province="220000")
    assert [r.record_position for r in result.rejects] == [0] and "ASCII" in result.rejects[0].reason


def test_a_malformed_ascii_number_keeps_its_reason():
    records = [_electricity("31", "x", "12O,5x", "1"), _electricity("13", "y", "1", "NaN")]
    table = table_from_records(E, records)
    manifest = manifest_of("electricity_consumption", "450000", "2025-06", key="k")
    page = DATASETS["electricity_consumption"].validate(manifest, manifest.objects[0], Records(table, [0, 1], str))
    reasons = [r.reason for r in page.rejects]
    assert reasons == ["consumption: not a valid decimal: '12O,5x'", "cumulative: not a valid decimal: 'NaN'"]


@pytest.mark.parametrize(
    ("field", "served"),
    [
        ("phone", "１３９１２３４５６７８"),
        ("phone", "١٣٩١٢٣٤٥٦٧٨"),
        ("phone", "0531-８８８８６６６６"),
        ("registered_on", "٢٠١٦-٠٣-٠١"),
        ("updated_on", "２０２５-06-30"),
    ],
)
def test_enterprise_validator_quarantines_phones_and_dates_not_in_ascii_digits(field, served):
    item = {"uscc": "91370100MA3C4XY79C", "name": "济南华泰机械有限公司", "province_code": "370000",
            "city": "济南市", "division_code": "34", "size_class": "small", "legal_representative": "张伟",
            "phone": "13912345678", "iot_adopted": "true", "fiveg_adopted": "false",
            "registered_on": "2016-03-01", "updated_on": "2025-06-30", "status": "active",
            "period": "2025-06"}  # fmt: skip
    records = [item, dict(item, **{field: served})]
    table = table_from_records(ENTERPRISES, records)
    manifest = manifest_of("enterprises", "370000", "2025-06", key="k")
    page = DATASETS["enterprises"].validate(manifest, manifest.objects[0], Records(table, [0, 1], str))
    assert [r.record_position for r in page.rejects] == [1] and page.rows.num_rows == 1
    assert field in page.rejects[0].reason


def test_telemetry_validator_quarantines_numbers_and_times_not_in_ascii_digits():
    good = {"device_id": "DEV-1", "enterprise_code": "91370100MA3C4XY79C", "ts": "2025-06-03T05:00:00Z",
            "runtime_min": "60", "output_units": "12", "energy_kwh": "4.5", "fault_code": None}  # fmt: skip
    records = [
        good,
        dict(good, device_id="DEV-2", runtime_min="٦٠"),
        dict(good, device_id="DEV-3", output_units="１２"),
        dict(good, device_id="DEV-4", energy_kwh="٤.٥"),
        dict(good, device_id="DEV-5", ts="2025-06-03T٠٥:00:00Z"),
    ]
    table = table_from_records(EQUIPMENT_TELEMETRY, records)
    manifest = manifest_of("equipment_telemetry", "370000", "2025-06-03", "csv_download", key="k")
    page = DATASETS["equipment_telemetry"].validate(manifest, manifest.objects[0], Records(table, list(range(5)), str))
    assert page.rows.num_rows == 1
    assert [r.reason for r in page.rejects] == [
        "runtime_min must be an integer from 0 to 60",
        "output_units must be a non-negative integer",
        "energy_kwh must be a non-negative number",
        "ts is not an hour timestamp",
    ]
