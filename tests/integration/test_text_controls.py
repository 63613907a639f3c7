"""Text as served, control characters quarantined, through the raw zone, the loader and PostgreSQL.

The handed case ``text-controls`` (``tests/cases/``): a ``rest_json`` page of six Shanghai
enterprises whose text holds a backslash, tab and newline, quotes and commas, ``\\.`` alone, ``\\N``, a
character outside the Basic Multilingual Plane and a NUL. Five load byte for byte as served; the NUL
is quarantined with a reason naming it, and the partition loads. Also: a NUL in a CSV line (stored
in the quarantine escaped, where it once failed the quarantine's own write and so the partition), and
a lone surrogate (once failed the page)."""

import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from ibdc import pipeline
from ibdc.formats import csv_download
from ibdc.landing import raw_zone
from ibdc.schemas import EQUIPMENT_TELEMETRY
from ibdc.settings import get_settings
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.registry import ApiStyle, load_registry
from ibdc_dev.simulator.service import portals
from ibdc_dev.simulator.telemetry import telemetry_table
from tests.partitions import Claim

pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim("enterprises", ["310000"], ["2025-05", "2025-06"]),
        Claim("equipment_telemetry", ["220000"], ["2026-11-03"]),
    ),
]

CASE = Path(__file__).resolve().parent.parent / "cases" / "text-controls" / "enterprises_310000_2025-06.rest_json.json"
SHANGHAI = "310000"
TEXT = ("uscc", "name", "city", "legal_representative", "phone")


def _stage_rest_json(body: bytes, period: str, records: int) -> dict:
    """Commit one page to the raw zone as Shanghai's enterprises, served by a ``rest_json`` portal."""
    source = load_registry()[SHANGHAI].model_copy(update={"style": ApiStyle.REST_JSON})
    page = RawPage(body, "application/json", {"url": "case:text-controls", "period": period}, records)
    return raw_zone.write_partition(Extraction(source, "enterprises", period, [page], records_claimed=records))


def _loaded(conn, period: str) -> dict[str, tuple]:
    """uscc -> the text columns as PostgreSQL holds them, as UTF-8 bytes."""
    columns = ", ".join(f"convert_to({c}, 'UTF8')" for c in TEXT)
    rows = conn.execute(
        f"SELECT {columns} FROM raw.enterprises WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
        (SHANGHAI, period),
    ).fetchall()
    return {bytes(r[0]).decode(): tuple(bytes(v) for v in r) for r in rows}


def _quarantined(conn, dataset: str, province: str, period: str) -> list[tuple]:
    return conn.execute(
        "SELECT record_position, reason, raw_text, source_object FROM raw.quarantine"
        " WHERE dataset = %s AND province_code = %s AND period = %s ORDER BY record_position",
        (dataset, province, period),
    ).fetchall()


def _audit(conn, batch_id: str) -> tuple:
    return conn.execute(
        "SELECT outcome, rows_in, rows_loaded, rows_quarantined FROM raw.load_audit WHERE batch_id = %s",
        (batch_id,),
    ).fetchone()


def test_handed_text_controls_case_loads_five_as_served_and_quarantines_the_nul(services, warehouse):
    body = CASE.read_bytes()
    served = json.loads(body)["items"]
    manifest = _stage_rest_json(body, "2025-06", len(served))
    result = pipeline.load_partition_from_raw("enterprises", SHANGHAI, "2025-06")
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (6, 5, 1)
    assert _audit(warehouse, result.batch_id) == ("succeeded", 6, 5, 1)
    # Read back from PostgreSQL, byte for byte as served.
    loaded = _loaded(warehouse, "2025-06")
    expected = {i["uscc"]: tuple(i[c].encode() for c in TEXT) for i in served if "\x00" not in i["name"]}
    assert loaded == expected
    names = {v[1].decode() for v in loaded.values()}
    assert names == {
        "上海示例\\机械有限公司",
        "上海示例\t制表\n换行贸易有限公司",
        '上海"引号",逗号,电子有限公司',
        "\\.",
        "上海示例𠀀生僻字有限公司",
    }
    assert loaded["91310110MA1G00003C"][3] == "孙\\N三".encode()
    ((position, reason, raw_text, source_object),) = _quarantined(warehouse, "enterprises", SHANGHAI, "2025-06")
    assert position == 4 and source_object == manifest.objects[0].key
    assert reason == "name: control character U+0000 (NUL) at character 12"
    assert "91310110MA1G00005J" in raw_text and "上海示例零字节有限公司\\u0000" in raw_text and "\x00" not in raw_text


def test_a_lone_surrogate_quarantines_its_record_and_the_rest_load_as_served(services, warehouse):
    items = [dict(i, period="2025-05") for i in json.loads(CASE.read_bytes())["items"] if "\x00" not in i["name"]]
    items[2]["legal_representative"] = "孙\ud800三"
    items[3]["name"] = "上海示例\n\\.\n多行有限公司"  # a line holding only \.: COPY's end-of-data marker
    body = json.dumps({"total": 5, "offset": 0, "limit": 100, "items": items}).encode()  # "\ud800" as JSON writes it
    _stage_rest_json(body, "2025-05", 5)
    result = pipeline.load_partition_from_raw("enterprises", SHANGHAI, "2025-05")
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (5, 4, 1)
    assert _audit(warehouse, result.batch_id) == ("succeeded", 5, 4, 1)
    expected = {i["uscc"]: tuple(i[c].encode() for c in TEXT) for i in items if i["uscc"] != "91310110MA1G00003C"}
    assert _loaded(warehouse, "2025-05") == expected
    ((position, reason, raw_text, _),) = _quarantined(warehouse, "enterprises", SHANGHAI, "2025-05")
    assert position == 2 and reason.startswith("legal_representative: U+FFFD REPLACEMENT CHARACTER at character 2")
    assert '"legal_representative": "孙\\ud800三"' in raw_text  # the surrogate escaped, as JSON writes it


def test_a_nul_in_a_csv_line_is_quarantined_escaped_and_the_partition_loads(services, warehouse):
    """A ``csv_download`` telemetry file whose line holds a NUL byte: the record's raw text (its line)
    holds the NUL itself, which PostgreSQL text cannot; the quarantine stores it as ``\\u0000``."""
    province, day = "220000", "2026-11-03"
    table = telemetry_table(get_settings().simulator_seed, province, date.fromisoformat(day), 10, None)
    table = table.select(list(EQUIPMENT_TELEMETRY.names))
    ids = table["device_id"].to_pylist()
    ids[7] += "\x00"
    table = table.set_column(0, "device_id", pa.array(ids, pa.string()))
    encoding = portals()[province]["encoding"]
    body = csv_download.encode(EQUIPMENT_TELEMETRY, table, encoding)
    assert body.count(b"\x00") == 1
    page = RawPage(body, f"text/csv; charset={encoding}", {"generated": "test"}, table.num_rows)
    raw_zone.write_partition(
        Extraction(load_registry()[province], "equipment_telemetry", day, [page], records_claimed=table.num_rows)
    )
    result = pipeline.load_partition_from_raw("equipment_telemetry", province, day)
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (240, 239, 1)
    assert _audit(warehouse, result.batch_id) == ("succeeded", 240, 239, 1)
    ((position, reason, raw_text, _),) = _quarantined(warehouse, "equipment_telemetry", province, day)
    assert position == 7
    assert reason == f"device_id: control character U+0000 (NUL) at character {len(ids[7])}"
    assert raw_text.startswith(ids[7][:-1] + "\\u0000,") and "\x00" not in raw_text
