"""Style csv_download: GBK / GB18030 CSV files with Chinese headers, units in the headers, missing-value
marks, local times and a 合计 row, to canonical records and back. (What every format shares -- exact
round trips, empty pages, renamed fields -- is tested in test_formats.py.)"""

import csv
import random
import re
from datetime import date
from decimal import Decimal, localcontext

import pyarrow as pa
import pytest

from ibdc.formats import csv_download
from ibdc.formats.base import DecodeError, SchemaDrift, table_from_records
from ibdc.reference import products
from ibdc.schemas import ELECTRICITY_CONSUMPTION, ENTERPRISES, EQUIPMENT_TELEMETRY, INDUSTRIAL_OUTPUT, SCHEMAS, Kind
from ibdc_dev.simulator.telemetry import telemetry_table
from tests.unit.format_helpers import csv_records

GOLDEN_ELECTRICITY = (
    "地区代码,统计月份,行业代码,行业名称,本月用电量(亿千瓦时),1-本月累计用电量(亿千瓦时)\r\n"
    "220000,2025年06月,13,农副食品加工业,1.2345,6.7\r\n"
    "220000,2025年06月,14,食品制造业,—,0.0005\r\n"
    "220000,2025年06月,16,烟草制品业,…,-\r\n"
    '220000,2025年06月,17,纺织业,"12O,5x",3\r\n'
    "合计(共4条),,,,1.2345,9.7005\r\n"
)


# Industrial output: each record has its own unit, so a table (a block) per unit, the unit in its
# headers and a 合计 row that sums the block; empty lines between, and a 总计 line at the end.
GOLDEN_OUTPUT = (
    "地区代码,统计月份,产品代码,产品名称,本月(万辆),1-本月累计(万辆)\n"
    "220000,2025年06月,automobiles,汽车,3.09,16.71\n"
    "220000,2025年06月,new_energy_vehicles,新能源汽车,0.51,2.9\n"
    "合计(共2条),,,,3.60,19.61\n"
    "\n"
    "地区代码,统计月份,产品代码,产品名称,本月(万台),1-本月累计(万台)\n"
    "220000,2025年06月,mobile_phones,手机,825.32,4549.60\n"
    "合计(共1条),,,,825.32,4549.60\n"
    "\n"
    "地区代码,统计月份,产品代码,产品名称,本月(亿千瓦时),1-本月累计(亿千瓦时)\n"
    "220000,2025年06月,electricity_generation,发电量,320.15,1729.13\n"
    "合计(共1条),,,,320.15,1729.13\n"
    "\n"
    "地区代码,统计月份,产品代码,产品名称,本月(公斤),1-本月累计(公斤)\n"
    "220000,2025年06月,cement,水泥,1,2\n"
    "合计(共1条),,,,1,2\n"
    "\n"
    "总计(共5条)\n"
)


def _row(schema, *values) -> dict:
    return dict(zip(schema.names, values, strict=True))


def test_a_golden_gbk_file_decodes_to_canonical_records():
    body = GOLDEN_ELECTRICITY.encode("gbk")
    page = csv_download.decode(ELECTRICITY_CONSUMPTION, body)
    e = ELECTRICITY_CONSUMPTION
    assert page.table.to_pylist() == [
        _row(e, "220000", "2025-06", "13", "农副食品加工业", "12345", "67000"),
        _row(e, "220000", "2025-06", "14", "食品制造业", None, "5"),
        _row(e, "220000", "2025-06", "16", "烟草制品业", None, None),
        _row(e, "220000", "2025-06", "17", "纺织业", "12O,5x", "30000"),  # malformed: as served
    ]
    assert page.total == page.num_records == 4
    assert page.table.schema == pa.schema([(n, pa.string()) for n in e.names])
    assert page.raw_text(2) == "220000,2025年06月,16,烟草制品业,…,-"
    assert page.raw_text(3) == '220000,2025年06月,17,纺织业,"12O,5x",3'


def test_golden_telemetry_times_are_beijing_local_and_decode_to_utc():
    body = (
        "设备编号,统一社会信用代码,采集时间,运行时长(分钟),产出(件),能耗(千瓦时),故障代码\n"
        "DEV-1,91220100MA0000000X,2025-06-03 08:00:00,60,120,45.5,-\n"
        "DEV-1,91220100MA0000000X,2025-06-04 07:00:00,30,60,2.25,F042\n"
        "DEV-2,91220100MA0000000X,2025-06-03 8:00,61,12a,-3.5,…\n"
        "合计(共3条),,,151,180,44.25,\n"
    ).encode("gb18030")
    page = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    t = EQUIPMENT_TELEMETRY
    assert page.table.to_pylist() == [
        _row(t, "DEV-1", "91220100MA0000000X", "2025-06-03T00:00:00Z", "60", "120", "45.5", None),
        _row(t, "DEV-1", "91220100MA0000000X", "2025-06-03T23:00:00Z", "30", "60", "2.25", "F042"),
        # Not a local timestamp of the published form, not a number: passed on as served.
        _row(t, "DEV-2", "91220100MA0000000X", "2025-06-03 8:00", "61", "12a", "-3.5", None),
    ]
    assert page.total == 3


def test_golden_units_and_booleans_decode_to_codes_and_true_false():
    page = csv_download.decode(INDUSTRIAL_OUTPUT, GOLDEN_OUTPUT.encode("gbk"))
    units = page.table.column("unit").to_pylist()
    assert units == ["10k_units", "10k_units", "10k_units", "100m_kwh", "公斤"]  # an unknown unit stays as served
    assert page.table.column("current_month").to_pylist() == ["3.09", "0.51", "825.32", "320.15", "1"]
    assert page.total == 5
    assert page.raw_text(3) == "220000,2025年06月,electricity_generation,发电量,320.15,1729.13"
    registry = (
        "统一社会信用代码,企业名称,地区代码,所在城市,行业代码,企业规模,法定代表人,联系电话,是否接入工业互联网,"
        "是否应用5G,成立日期,变更日期,登记状态,统计月份\n"
        "91220100MA0000000X,长春一汽配件有限公司,220000,长春市,36,large,王平,13100000000,是,否,1990-11-02,-,"
        "active,2025年06月\n"
        "合计(共1条),,,,,,,,,,,,,\n"
    ).encode("gbk")
    (record,) = csv_download.decode(ENTERPRISES, registry).table.to_pylist()
    assert (record["iot_adopted"], record["fiveg_adopted"]) == ("true", "false")
    assert (record["registered_on"], record["updated_on"], record["period"]) == ("1990-11-02", None, "2025-06")


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_encode_publishes_the_headers_and_the_total_row(dataset, encoding):
    schema = SCHEMAS[dataset]
    body = csv_download.encode(schema, table_from_records(schema, csv_records(schema)), encoding)
    lines = body.decode(encoding).splitlines()
    if "unit" not in schema.names:
        assert lines[0].replace('"', "").split(",") == [csv_download.header(f) for f in schema.fields]
        assert lines[-1].replace('"', "").startswith("合计(共3条)")
        return
    # One table per unit (csv_records: 万吨, 亿千瓦时 and an unknown "kg"), the unit in the figures' headers.
    headers = [line.replace('"', "").split(",") for i, line in enumerate(lines) if i == 0 or not lines[i - 1]]
    labels = [f.label_zh for f in schema.fields if f.name != "unit"]
    assert headers[:-1] == [
        [h + (f"({u})" if h in ("本月", "1-本月累计") else "") for h in labels] for u in ("万吨", "亿千瓦时", "kg")
    ]
    cells = [line.replace('"', "").split(",")[0] for line in lines]
    assert [c for c in cells if c.startswith("合计")] == ["合计(共1条)"] * 3
    assert lines[-1] == "总计(共3条)" and headers[-1] == ["总计(共3条)"]


def test_published_values_follow_the_portal_conventions():
    records = csv_records(ELECTRICITY_CONSUMPTION)
    records[0].update(consumption="12345", cumulative="67000.5")
    body = csv_download.encode(
        ELECTRICITY_CONSUMPTION, table_from_records(ELECTRICITY_CONSUMPTION, records), "gbk"
    ).decode("gbk")
    lines = [line.replace('"', "") for line in body.splitlines()]
    assert lines[0] == "地区代码,统计月份,行业代码,行业名称,本月用电量(亿千瓦时),1-本月累计用电量(亿千瓦时)"
    assert lines[1].endswith(",2025年06月,crude_steel,甲,1.2345,6.70005")
    assert lines[2].endswith(",2025年06月,乙,丙,乙,丙,—,—")  # row 1: the second missing-value mark
    assert lines[4] == "合计(共3条),,,,1.2345,6.70005"  # the malformed "12O,5x" is left out
    telemetry = table_from_records(
        EQUIPMENT_TELEMETRY, [dict(csv_records(EQUIPMENT_TELEMETRY)[0], fault_code=None)] * 4
    )
    rows = csv_download.encode(EQUIPMENT_TELEMETRY, telemetry, "gb18030").decode("gb18030").splitlines()
    assert [r.split(",")[2] for r in rows[1:5]] == ["2025-06-03 08:00:00"] * 4
    assert [r.split(",")[-1] for r in rows[1:5]] == ["-", "—", "…", "-"]
    assert rows[5] == "合计(共4条),,,28,28,50.0,"


def test_the_product_catalogue_gives_the_published_unit():
    records = [
        {"province_code": "220000", "period": "2025-06", "product_code": code, "product_name": p.name_zh,
         "unit": p.unit_code, "current_month": "1", "cumulative": "2"}
        for code, p in products().items()
    ]  # fmt: skip
    body = csv_download.encode(INDUSTRIAL_OUTPUT, table_from_records(INDUSTRIAL_OUTPUT, records), "gbk")
    lines = body.decode("gbk").splitlines()
    units_by_record = []  # each record line's unit: the one its table's header gives the figures
    for i, line in enumerate(lines):
        if i == 0 or not lines[i - 1]:
            unit = re.fullmatch(r".*,本月\((.+)\),1-本月累计\(\1\)|总计\(共\d+条\)", line).group(1)
        elif line and not line.startswith("合计"):
            units_by_record.append(unit)
    assert units_by_record == [p.unit_zh for p in products().values()]
    assert csv_download.decode(INDUSTRIAL_OUTPUT, body).table.column("unit").to_pylist() == [
        p.unit_code for p in products().values()
    ]


def test_the_unit_table_agrees_with_the_product_catalogue_and_the_schemas():
    table = csv_download.units()
    for p in products().values():
        unit = table.by_label[p.unit_zh]
        assert (unit.code, unit.base, unit.factor) == (p.unit_code, p.base_unit, p.unit_factor), p.code
    for schema in SCHEMAS.values():
        for f in schema.fields:
            if f.unit:
                assert f.kind in (Kind.DECIMAL, Kind.INT) and f.unit in table.by_code
                csv_download.power_of_ten(csv_download.display_unit(f), table.by_code[f.unit])


def test_characters_only_gb18030_has_survive_a_gb18030_file():
    records = csv_records(ENTERPRISES)
    records[0]["name"] = "㐀𠀀精密机械有限公司"
    records[1]["legal_representative"] = "䶮"
    table = table_from_records(ENTERPRISES, records)
    body = csv_download.encode(ENTERPRISES, table, "gb18030")
    assert "𠀀".encode("gb18030") in body
    assert csv_download.decode(ENTERPRISES, body).table.equals(table)
    with pytest.raises(UnicodeEncodeError):  # a GBK portal cannot publish them
        csv_download.encode(ENTERPRISES, table, "gbk")


def test_a_body_cut_anywhere_is_a_decode_error():
    schema = EQUIPMENT_TELEMETRY
    records = [dict(csv_records(schema)[0], device_id=f"DEV-{i}", fault_code=("F042", None)[i % 2]) for i in range(3)]
    records[1]["device_id"] = "设备-㐀"
    body = csv_download.encode(schema, table_from_records(schema, records), "gb18030")
    assert body.endswith(b"\n")
    assert csv_download.decode(schema, body[:-1]).total == 3  # the final line feed alone is not data
    for cut in range(0, len(body) - 1):
        with pytest.raises(DecodeError):
            csv_download.decode(schema, body[:cut])


def test_a_total_row_that_disagrees_with_the_records_is_a_decode_error():
    body = GOLDEN_ELECTRICITY
    # A count that disagrees is the source's claim, which the extract reconciles with what it received.
    assert (
        csv_download.decode(ELECTRICITY_CONSUMPTION, body.replace("合计(共4条)", "合计(共5条)").encode("gbk")).total
        == 5
    )
    for broken in (
        body.replace("食品制造业,—,0.0005", "食品制造业,—,0.0006"),  # a figure changed on the way
        body.replace("合计(共4条),,,,1.2345,9.7005", "合计(共4条),,,,-,9.7005"),
        body.replace("合计(共4条),,,,1.2345,9.7005", "合计(共4条),,,,1.2345,abc"),
        body.replace("合计(共4条),,,,1.2345,9.7005\r\n", ""),
    ):
        with pytest.raises(DecodeError):
            csv_download.decode(ELECTRICITY_CONSUMPTION, broken.encode("gbk"))
    for garbage in (b"", b'{"error": "rate limit exceeded"}', "<html>系统维护中</html>".encode("gbk"), b"\xff\xfe\x00"):
        with pytest.raises(DecodeError):
            csv_download.decode(ELECTRICITY_CONSUMPTION, garbage)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("1-本月累计用电量(亿千瓦时)", "本年累计用电量(亿千瓦时)", "cumulative"),  # renamed
        ("本月用电量(亿千瓦时)", "本月用电量", "consumption"),  # unit dropped
        ("本月用电量(亿千瓦时)", "本月用电量(万吨)", "consumption"),  # a unit of something else
        ("本月用电量(亿千瓦时)", "本月用电量(兆焦)", "consumption"),  # an unknown unit
        ("行业名称", "行业名称(万吨)", "division_name"),  # a unit on a field that has none
    ],
)
def test_a_changed_header_is_schema_drift(old, new, field):
    body = GOLDEN_ELECTRICITY.replace(old, new).encode("gbk")
    with pytest.raises(SchemaDrift, match=field):
        csv_download.decode(ELECTRICITY_CONSUMPTION, body)


def test_unit_conversion_is_exact():
    rnd = random.Random(20260101)
    values = [f"{rnd.randint(0, 10**9)}.{rnd.randint(0, 10**6):06d}" for _ in range(500)] + ["0", "7", "0.00001"]
    records = [
        {"province_code": "220000", "period": "2025-06", "division_code": str(i), "division_name": "x",
         "consumption": v, "cumulative": v}
        for i, v in enumerate(values)
    ]  # fmt: skip
    table = table_from_records(ELECTRICITY_CONSUMPTION, records)
    body = csv_download.encode(ELECTRICITY_CONSUMPTION, table, "gbk")
    published = [line.split(",")[4] for line in body.decode("gbk").splitlines()[1:-1]]
    assert [Decimal(p) for p in published] == [Decimal(v) / 10000 for v in values]  # 万千瓦时 -> 亿千瓦时
    decoded = csv_download.decode(ELECTRICITY_CONSUMPTION, body).table
    assert decoded.column("consumption").to_pylist() == values  # and exactly back, digit for digit
    # A portal publishing in another unit of energy is read in that unit.
    kwh = GOLDEN_ELECTRICITY.replace("(亿千瓦时)", "(千瓦时)").encode("gbk")
    assert csv_download.decode(ELECTRICITY_CONSUMPTION, kwh).table.column("consumption").to_pylist() == [
        "0.00012345",
        None,
        None,
        "12O,5x",
    ]


def test_a_province_day_of_telemetry_round_trips_column_wise():
    table = telemetry_table(20260101, "410000", date(2025, 6, 3), 2000, malformed_every=97)
    table = table.select(list(EQUIPMENT_TELEMETRY.names))
    body = csv_download.encode(EQUIPMENT_TELEMETRY, table, "gb18030")
    page = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    assert page.total == table.num_rows == 48_000
    assert page.table.equals(table)


def test_the_total_row_sums_exactly_whatever_the_digits():
    rnd = random.Random(5)
    for digits in (6, 30):  # within Arrow's 38-digit decimals, and beyond them
        values = [f"{rnd.randint(0, 10**digits)}.{rnd.randint(0, 10**9):09d}" for _ in range(200)] + ["12O,5x", None]
        records = [
            {"province_code": "220000", "period": "2025-06", "division_code": str(i), "division_name": "x",
             "consumption": v, "cumulative": "1"}
            for i, v in enumerate(values)
        ]  # fmt: skip
        body = csv_download.encode(ELECTRICITY_CONSUMPTION, table_from_records(ELECTRICITY_CONSUMPTION, records), "gbk")
        with localcontext() as exact:
            exact.prec = 100
            expected = sum(Decimal(v) for v in values[:-2]) / 10000
        total = next(csv.reader([body.decode("gbk").splitlines()[-1]]))  # quoted: "12O,5x" has a comma
        assert (total[0], Decimal(total[4]), total[5]) == ("合计(共202条)", expected, "0.0202")
        assert csv_download.decode(ELECTRICITY_CONSUMPTION, body).total == 202


@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_an_empty_partition_is_a_header_and_a_total_row(dataset):
    schema = SCHEMAS[dataset]
    body = csv_download.encode(schema, table_from_records(schema, []), "gbk")
    lines = body.decode("gbk").splitlines()
    if "unit" in schema.names:  # one table (no unit to show) and the 总计 line
        assert len(lines) == 4 and lines[1].startswith("合计(共0条)") and lines[2:] == ["", "总计(共0条)"]
    else:
        assert len(lines) == 2 and lines[1].startswith("合计(共0条)")
    assert csv_download.decode(schema, body).num_records == 0


def test_an_output_file_cut_anywhere_is_a_decode_error():
    """A file of several tables: cut between two of them, each table is whole; the 总计 line is not."""
    body = GOLDEN_OUTPUT.encode("gbk")
    assert csv_download.decode(INDUSTRIAL_OUTPUT, body[:-1]).total == 5
    for cut in range(0, len(body) - 1):
        with pytest.raises(DecodeError):
            csv_download.decode(INDUSTRIAL_OUTPUT, body[:cut])


@pytest.mark.parametrize(
    ("old", "new", "error", "match"),
    [
        ("合计(共1条),,,,825.32", "合计(共2条),,,,825.32", DecodeError, "合计 row counts 2 records, the table holds 1"),
        ("新能源汽车,0.51,2.9\n合计(共2条),,,,3.60", "新能源汽车,0.52,2.9\n合计(共2条),,,,3.60", DecodeError, "合计"),
        ("本月(万台),1-本月累计(万台)", "本月(万台),1-本月累计(万吨)", SchemaDrift, "in 万台 and 万吨"),
        ("本月(亿千瓦时),1-本月累计(亿千瓦时)", "本月,1-本月累计", SchemaDrift, "unit"),
    ],
)
def test_an_output_table_that_does_not_add_up_or_lacks_its_unit_is_refused(old, new, error, match):
    assert old in GOLDEN_OUTPUT
    # The 总计 line's count is the source's claim (reconciled by the extract), not a corrupt file.
    assert (
        csv_download.decode(INDUSTRIAL_OUTPUT, GOLDEN_OUTPUT.replace("总计(共5条)", "总计(共6条)").encode("gbk")).total
        == 6
    )
    with pytest.raises(error, match=match):
        csv_download.decode(INDUSTRIAL_OUTPUT, GOLDEN_OUTPUT.replace(old, new).encode("gbk"))
