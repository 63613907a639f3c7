import json

import pytest

from ibdc.datasets import DATASETS, ELECTRICITY_CONSUMPTION, ENTERPRISES
from ibdc.formats.base import table_from_records
from ibdc.parsing.base import Records
from ibdc.uscc import check_digit
from ibdc_dev.simulator.datasets import DATASETS as SIMULATED
from tests.manifests import manifest_of

SEED = 20260101
MANIFEST = manifest_of("electricity_consumption", "370000", "2025-06", key="k/page-0001.json")
OBJ = MANIFEST.objects[0]


def _validate(spec, records: list[dict]):
    table = table_from_records(spec.schema, records)
    rows = Records(table, list(range(len(records))), lambda i: json.dumps(records[i], ensure_ascii=False))
    return spec.validate(MANIFEST, OBJ, rows)


# One valid electricity record (Shandong, ferrous metals); a test changes what it checks.
ELECTRICITY = dict(province_code="370000", period="2025-06", division_code="31", consumption="250130.5")
ELECTRICITY |= {"division_name": "黑色金属冶炼和压延加工业", "cumulative": "1450020.25"}


def _electricity(**overrides):
    return {**ELECTRICITY, **overrides}


# Jinan (370100), organisation code MA3C4XY7 + its GB 11714 check character 9, check digit C.
GOOD_USCC = "91370100MA3C4XY79C"


def _enterprise(**overrides):
    item = {
        "uscc": GOOD_USCC,
        "name": "济南华泰机械有限公司",
        "province_code": "370000",
        "city": "济南市",
        "division_code": "34",
        "size_class": "small",
        "legal_representative": "张伟",
        "phone": "13912345678",
        "iot_adopted": "true",
        "fiveg_adopted": "false",
        "registered_on": "2016-03-01",
        "updated_on": "2025-06-30",
        "status": "active",
        "period": "2025-06",
    }
    return {**item, **overrides}


def _bad_code(good: str) -> str:
    assert check_digit(good[:17]) == good[17]
    return good[:17] + ("1" if good[17] != "1" else "2")


def test_valid_electricity_records_become_rows_and_unpublished_ones_load_as_null():
    page = _validate(
        ELECTRICITY_CONSUMPTION, [_electricity(), _electricity(division_code="16", consumption=None, cumulative=None)]
    )
    assert page.rejects == []
    first, unpublished = page.rows.to_pylist()
    assert first == {
        "division_code": "31",
        "consumption_10k_kwh": "250130.5",
        "cumulative_10k_kwh": "1450020.25",
        "consumption_kwh": "2501305000.0",
        "cumulative_kwh": "14500202500.00",
        "record_position": 0,
    }
    assert unpublished["consumption_10k_kwh"] is None and unpublished["cumulative_kwh"] is None


def test_each_bad_electricity_record_is_rejected_with_its_reason():
    items = [
        _electricity(consumption="25O13,5x"),
        _electricity(division_code="13", consumption="-5", cumulative="10"),
        _electricity(division_code="31_v2"),
        _electricity(division_code="06"),
        _electricity(division_code="14", province_code="320000"),
        _electricity(division_code="15", period="2025-05"),
        _electricity(division_code="17", consumption="20", cumulative="10"),
        _electricity(division_code="18", cumulative="NaN"),
        _electricity(division_code="19", consumption="1.5", cumulative="9.5"),
    ]
    page = _validate(ELECTRICITY_CONSUMPTION, items)
    reasons = {r.record_position: r.reason for r in page.rejects}
    assert page.rows.column("division_code").to_pylist() == ["19"]
    assert reasons[0] == "consumption: not a valid decimal: '25O13,5x'"
    assert "non-negative" in reasons[1]
    assert "unknown division code '31_v2'" in reasons[2]
    assert "unknown division code '06'" in reasons[3]
    assert "partition is 370000 2025-06" in reasons[4] and "320000" in reasons[4]
    assert "partition is 370000 2025-06" in reasons[5] and "2025-05" in reasons[5]
    assert "exceeds cumulative" in reasons[6]
    assert reasons[7] == "cumulative: not a valid decimal: 'NaN'"
    assert json.loads(page.rejects[0].raw_text)["consumption"] == "25O13,5x"
    assert page.rows_in == len(items)


def test_valid_enterprise_record_keeps_personal_data_as_served():
    page = _validate(ENTERPRISES, [_enterprise()])
    assert page.rejects == []
    (row,) = page.rows.to_pylist()
    assert row["legal_representative"] == "张伟" and row["phone"] == "13912345678"
    assert row["iot_adopted"] is True and row["fiveg_adopted"] is False
    assert str(row["updated_on"]) == "2025-06-30" and row["record_position"] == 0
    landline = _validate(ENTERPRISES, [_enterprise(phone="0531-88886666")])
    assert landline.rejects == []


def test_each_bad_enterprise_record_is_rejected_with_its_reason():
    good = _enterprise()["uscc"]
    items = [
        _enterprise(uscc=_bad_code(good)),
        _enterprise(uscc="91370100MA3C4XYZ"),
        _enterprise(division_code="34_v2"),
        _enterprise(size_class="huge"),
        _enterprise(updated_on="2099-01-01"),
        _enterprise(registered_on="2025-07-01", updated_on="2025-07-01"),
        _enterprise(phone="1391234567"),
        _enterprise(phone="139-1234-5678x"),
        _enterprise(province_code="320000"),
        _enterprise(period="2025-05"),
        _enterprise(registered_on="2020-01-01", updated_on="2019-12-31"),
        _enterprise(status="revoked"),
        _enterprise(registered_on="20160301"),
        _enterprise(iot_adopted="maybe"),
        _enterprise(legal_representative="  "),
        _enterprise(registered_on="2099-01-01"),
        _enterprise(),
    ]
    page = _validate(ENTERPRISES, items)
    reasons = {r.record_position: r.reason for r in page.rejects}
    assert page.rows.num_rows == 1 and page.rows["record_position"].to_pylist() == [len(items) - 1]
    assert "invalid unified social credit code" in reasons[0]
    assert "invalid unified social credit code" in reasons[1]
    assert "unknown division code '34_v2'" in reasons[2]
    assert "unknown size class 'huge'" in reasons[3]
    assert "future date: updated_on 2099-01-01 is after the snapshot month's end 2025-06-30" in reasons[4]
    assert "future date: registered_on 2025-07-01 and updated_on 2025-07-01 are after" in reasons[5]
    assert "malformed phone number '1391234567'" in reasons[6]
    assert "malformed phone number" in reasons[7]
    assert "partition is 370000 2025-06" in reasons[8]
    assert "partition is 370000 2025-06" in reasons[9]
    assert "updated_on 2019-12-31 is before registered_on 2020-01-01" in reasons[10]
    assert "unknown status 'revoked'" in reasons[11]
    assert "not a YYYY-MM-DD date: '20160301'" in reasons[12]
    assert "iot_adopted" in reasons[13]
    assert "legal_representative: must not be blank" in reasons[14]
    assert "future date: registered_on 2099-01-01 is after the snapshot month's end 2025-06-30" in reasons[15]
    assert page.rows_in == len(items)


@pytest.mark.parametrize("dataset", ["electricity_consumption", "enterprises"])
def test_the_simulators_truth_validates_without_a_reject(dataset):
    table = SIMULATED[dataset].truth(SEED, "370000", "2025-06", {})
    records = Records(table, list(range(table.num_rows)), lambda i: "")
    page = DATASETS[dataset].validate(MANIFEST, OBJ, records)
    assert page.rejects == [] and page.rows.num_rows == table.num_rows > 0
