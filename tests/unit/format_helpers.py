"""What the wire-format tests share: sample records of every schema (canonical text with missing
values, malformed values, and values that look like the wire form of another kind; each style's tests
were written against one set, and ``test_formats.py`` round-trips each style through its set), and
each record of a body as a style serves it."""

import csv
import json

import pyarrow as pa

from ibdc.formats import jsonp
from ibdc.formats.base import table_from_records
from ibdc.schemas import Kind, RecordSchema

# app_key's: per schema, canonical records with a missing value, malformed numbers / dates / booleans,
# and values that look like the wire form of another kind.
APP_KEY_SAMPLES = {
    "industrial_output": [
        {
            "province_code": "120000",
            "period": "2025-06",
            "product_code": "crude_steel",
            "product_name": "粗钢",
            "unit": "10k_tonnes",
            "current_month": "188.98",
            "cumulative": "1017.76",
        },
        {
            "province_code": "120000",
            "period": "2025-06",
            "product_code": "cement",
            "product_name": "水泥",
            "unit": "10k_tonnes",
            "current_month": "12O,5x",
            "cumulative": None,
        },
        {
            "province_code": "120000",
            "period": "2025-6",
            "product_code": "pig_iron",
            "product_name": '生铁 "一级"',
            "unit": "10k_tonnes",
            "current_month": "164.20",
            "cumulative": "0",
        },
    ],
    "electricity_consumption": [
        {
            "province_code": "120000",
            "period": "2025-06",
            "division_code": "C31",
            "division_name": "黑色金属冶炼和压延加工业",
            "consumption": "1234.5",
            "cumulative": None,
        },
        {
            "province_code": "120000",
            "period": "2025-06",
            "division_code": "C13",
            "division_name": "农副食品加工业",
            "consumption": "1,2O3x",
            "cumulative": "-7",
        },
    ],
    "enterprises": [
        {
            "uscc": "91120000MA05K8PX3B",
            "name": "天津示例钢铁有限公司",
            "province_code": "120000",
            "city": "天津市",
            "division_code": "C31",
            "size_class": "large",
            "legal_representative": "张三",
            "phone": "022-12345678",
            "iot_adopted": "true",
            "fiveg_adopted": "false",
            "registered_on": "2003-04-15",
            "updated_on": "2099-01-01",
            "status": "存续",
            "period": "2025-06",
        },
        {
            "uscc": "91120000MA05K8PX3C",
            "name": "天津示例机械厂",
            "province_code": "120000",
            "city": "滨海新区",
            "division_code": "C34",
            "size_class": "small",
            "legal_representative": None,
            "phone": "1",
            "iot_adopted": "yes",
            "fiveg_adopted": None,
            "registered_on": "2003/04/15",
            "updated_on": "2025-13-45x",
            "status": "0",
            "period": "2025-06",
        },
    ],
    "equipment_telemetry": [
        {
            "device_id": "DEV-120000-0000007",
            "enterprise_code": "E120000000000",
            "ts": "2025-06-03T14:00:00Z",
            "runtime_min": "60",
            "output_units": "240",
            "energy_kwh": "0",
            "fault_code": None,
        },
        {
            "device_id": "DEV-120000-0000007",
            "enterprise_code": "E120000000000",
            "ts": "2099-01-01T00:00:00Z",
            "runtime_min": "61",
            "output_units": "12a",
            "energy_kwh": "1.250",
            "fault_code": "F042",
        },
        {
            "device_id": "DEV-120000-0000008",
            "enterprise_code": "E120000000000",
            "ts": "2025-06-03T15:00:00+08:00",
            "runtime_min": "12O,5x",
            "output_units": "-3",
            "energy_kwh": "-3.5",
            "fault_code": "",
        },
    ],
}

# signed_gateway's: the same kinds of values, Shanghai's.
SIGNED_GATEWAY_SAMPLES = {
    "industrial_output": [
        {
            "province_code": "310000",
            "period": "2025-06",
            "product_code": "crude_steel",
            "product_name": "粗钢",
            "unit": "10k_tonnes",
            "current_month": "147.70",
            "cumulative": "834",
        },
        {
            "province_code": "310000",
            "period": "2025-06",
            "product_code": "cement",
            "product_name": '水泥 "P.O 42.5"',
            "unit": "10k_tonnes",
            "current_month": "12O,5x",
            "cumulative": None,
        },
        {
            "province_code": "310000",
            "period": "2025-06",
            "product_code": "pig_iron",
            "product_name": "生铁",
            "unit": "10k_tonnes",
            "current_month": "0",
            "cumulative": "-0.5",
        },
    ],
    "electricity_consumption": [
        {
            "province_code": "310000",
            "period": "2025-06",
            "division_code": "C31",
            "division_name": "黑色金属冶炼和压延加工业",
            "consumption": "1234.50",
            "cumulative": None,
        },
        {
            "province_code": "310000",
            "period": "2025-06",
            "division_code": "C13",
            "division_name": "农副食品加工业",
            "consumption": "1,2O3x",
            "cumulative": "007",
        },
    ],
    "enterprises": [
        {
            "uscc": "91310000MA1FL5JX2C",
            "name": "上海示例机械有限公司",
            "province_code": "310000",
            "city": "浦东新区",
            "division_code": "C34",
            "size_class": "medium",
            "legal_representative": "李四",
            "phone": "021-55556666",
            "iot_adopted": "true",
            "fiveg_adopted": "false",
            "registered_on": "2011-09-01",
            "updated_on": "2099-01-01",
            "status": "存续",
            "period": "2025-06",
        },
        {
            "uscc": "91310000MA1FL5JX2D",
            "name": "上海示例厂",
            "province_code": "310000",
            "city": "闵行区",
            "division_code": "C39",
            "size_class": "small",
            "legal_representative": None,
            "phone": "12345",
            "iot_adopted": "1",
            "fiveg_adopted": None,
            "registered_on": "2011/09/01",
            "updated_on": "2025-13-45x",
            "status": "true",
            "period": "2025-6",
        },
    ],
    "equipment_telemetry": [
        {
            "device_id": "DEV-310000-0000007",
            "enterprise_code": "E310000000000",
            "ts": "2025-06-03T14:00:00Z",
            "runtime_min": "60",
            "output_units": "240",
            "energy_kwh": "0",
            "fault_code": None,
        },
        {
            "device_id": "DEV-310000-0000007",
            "enterprise_code": "E310000000000",
            "ts": "2099-01-01T00:00:00Z",
            "runtime_min": "61",
            "output_units": "12a",
            "energy_kwh": "1.250",
            "fault_code": "F042",
        },
        {
            "device_id": "DEV-310000-0000008",
            "enterprise_code": "E310000000000",
            "ts": "2025-13-03T15:00:00Z",
            "runtime_min": "12O,5x",
            "output_units": "1e3",
            "energy_kwh": "-3.5",
            "fault_code": "",
        },
    ],
}


def in_signed_gateway_envelope(inner: str, status: int = 200) -> bytes:
    """A signed_gateway body around ``inner``: the gateway's HTTP ``status`` and ``result``, the inner
    answer as a JSON string (whatever ``inner`` holds, whole or not)."""
    return json.dumps({"status": status, "result": inner}).encode()


def golden_telemetry(page) -> tuple[int | None, dict, tuple]:
    """A decoded telemetry page of two records (a ``DecodedPage``): its total, its first record, and
    the second's timestamp, runtime, output and energy, values a style passes through as served when
    they are malformed (the validator, not the format, refuses them)."""
    first, second = page.table.to_pylist()
    return page.total, first, (second["ts"], second["runtime_min"], second["output_units"], second["energy_kwh"])


# One value of each kind, a malformed value of each kind.
GOOD = {
    Kind.TEXT: "甲-{i}",
    Kind.PERIOD: "2025-06",
    Kind.DATE: "2025-06-0{i}",
    Kind.TIMESTAMP: "2025-06-03T0{i}:00:00Z",
    Kind.DECIMAL: "12.50",
    Kind.INT: "-3",
    Kind.BOOL: "true",
}
BAD = {
    Kind.TEXT: 'say "你好"\n\u2028',
    Kind.PERIOD: "2025年6月",
    Kind.DATE: "2025/06/31",
    Kind.TIMESTAMP: "2025-06-03 25:00",
    Kind.DECIMAL: "12O,5x",
    Kind.INT: "007",
    Kind.BOOL: "是",
}


def kinds_table(schema: RecordSchema) -> pa.Table:
    """Four records: valid values; every non-key field malformed; every nullable field missing; numbers
    written in other valid ways."""
    records = []
    for i in range(1, 5):
        record = {f.name: GOOD[f.kind].format(i=i) for f in schema.fields}
        for k in schema.key:  # distinct keys
            record[k] = record[k] if schema.field(k).kind is not Kind.TEXT else f"{k}-{i}"
        for f in schema.fields:
            if i == 2 and f.name not in schema.key:
                record[f.name] = BAD[f.kind]
            if i == 3 and f.nullable:
                record[f.name] = None
            if i == 4 and f.kind in (Kind.DECIMAL, Kind.INT):
                record[f.name] = "0" if f.kind is Kind.INT else "123456789012.000001"
            if i == 4 and f.kind is Kind.BOOL:
                record[f.name] = "false"
        records.append(record)
    return table_from_records(schema, records)


def csv_records(schema: RecordSchema) -> list[dict]:
    """csv_download's: three records of canonical text: a missing value in a nullable field, a malformed number."""
    samples = {
        Kind.TEXT: ["甲", "乙,丙", 'say "hi"'],
        Kind.PERIOD: ["2025-06", "2025-06", "2025-6"],
        Kind.DATE: ["2025-06-03", "2024-02-29", "2099-01-01"],
        Kind.TIMESTAMP: ["2025-06-03T00:00:00Z", "2025-06-03T16:00:00Z", "2099-01-01T00:00:00Z"],
        Kind.DECIMAL: ["12.5", "0.000100", "12O,5x"],
        Kind.INT: ["7", "-3", "1x"],
        Kind.BOOL: ["true", "false", "yes"],
    }
    records = [{f.name: samples[f.kind][i] for f in schema.fields} for i in range(3)]
    for f in schema.fields:
        if f.nullable:
            records[1][f.name] = None
    if not any(f.nullable for f in schema.fields):
        records[2][schema.fields[-1].name] = None  # the format keeps a missing value in any field
    records[0]["product_code" if "product_code" in records[0] else schema.key[0]] = "crude_steel"
    if "unit" in records[0]:
        records[0]["unit"], records[1]["unit"], records[2]["unit"] = "10k_tonnes", "100m_kwh", "kg"
    return records


def _csv_lines(body: bytes) -> list[list[str]]:
    """The cells of each record line of a csv_download file: not a table's header (its first line, or
    the first after an empty line), not a 合计 row, not the 总计 line."""
    out, header_next = [], True
    for line in body.decode("gb18030").splitlines():
        if not line.strip():
            header_next = True
            continue
        if header_next:
            header_next = False
            continue
        cells = next(csv.reader([line]))
        if not cells[0].startswith(("合计(", "总计(")):
            out.append(cells)
    return out


# Style -> each record of a page body as served: a JSON object, or the cells of its CSV line
# (csv_download, GBK or GB18030).
SERVED = {
    "rest_json": lambda body: json.loads(body)["items"],
    "app_key": lambda body: json.loads(body)["data"]["rows"],
    "signed_gateway": lambda body: json.loads(json.loads(json.loads(body)["result"])["data"]),
    "jsonp": lambda body: json.loads(jsonp.unwrap(body))["list"],
    "csv_download": _csv_lines,
}


def as_served(style: str, raw_text: str) -> object:
    """A decoded record's raw text (``DecodedPage.raw_text``) in the form ``SERVED`` gives."""
    return next(csv.reader([raw_text])) if style == "csv_download" else json.loads(raw_text)
