"""The loads' binary COPY (``ibdc.loading.binary_copy``) stores exactly what text COPY
stores: the same canonical text sent both ways into two tables of every type a raw table uses, then
compared value by value as PostgreSQL prints them (a numeric keeps the scale it was written with).
What has no exact binary form here makes the rows CSV; a table of another type is loaded in CSV."""

from __future__ import annotations

import io
import re
import uuid

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.datasets import DATASETS
from ibdc.loading import binary_copy
from ibdc.loading.postgres import CSV_OPTIONS, _encoded, page_lineage
from ibdc.parsing.base import PageRows

pytestmark = pytest.mark.integration

COLUMNS = {
    "t": "text",
    "d": "date",
    "ts": "timestamp with time zone",
    "i2": "smallint",
    "i4": "integer",
    "i8": "bigint",
    "n": "numeric",
    "n2": "numeric",
    "b": "boolean",
}
LINEAGE = {
    "batch_id": "uuid",
    "source_object": "text",
    "source_page": "integer",
    "province_code": "text",
    "period_day": "date",
}
TYPES = COLUMNS | LINEAGE

plain_decimals = st.builds(
    lambda sign, whole, point, fraction: f"{sign}{whole}{point}{fraction}",
    st.sampled_from(["", "-", "+"]),
    st.from_regex(r"\A[0-9]{1,20}\Z"),
    st.sampled_from(["", "."]),
    st.from_regex(r"\A[0-9]{0,20}\Z"),
)
zoned_times = st.builds(
    lambda day, hour, zone: f"{day}T{hour:02d}:30:15{zone}",
    st.sampled_from(["2026-10-01", "2024-02-29", "1999-12-31", "2000-01-01"]),
    st.integers(0, 23),
    st.sampled_from(["Z", "+08:00", "-05:30", ".5Z", ".123456+08:00"]),
)
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=30)
rows = st.fixed_dictionaries(
    {
        "t": st.one_of(st.none(), texts),
        "d": st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
        "ts": st.one_of(st.none(), zoned_times),
        "i2": st.one_of(st.none(), st.integers(-(2**15), 2**15 - 1).map(str)),
        "i4": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1).map(str)),
        "i8": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1).map(str)),
        "n": st.one_of(st.none(), plain_decimals),
        "n2": plain_decimals,
        "b": st.one_of(st.none(), st.sampled_from(["true", "false"])),
    }
)


@pytest.fixture(scope="module")
def tables(services):
    """Two empty temporary tables of :data:`TYPES` (``sent_binary``, ``sent_csv``), on one connection."""
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        columns = ", ".join(f"{name} {kind}" for name, kind in TYPES.items())
        for table in ("sent_binary", "sent_csv"):
            conn.execute(f"CREATE TEMPORARY TABLE {table} ({columns})")
        yield conn


def _send(conn: psycopg.Connection, table: str, data: list, binary: bool, columns: list[str]) -> None:
    form = "binary" if binary else "csv"
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT {form})") as copy:
        if binary:
            copy.write(binary_copy.HEADER)
        for chunk in data:
            copy.write(chunk)
        if binary:
            copy.write(binary_copy.TRAILER)


def _stored(conn: psycopg.Connection, table: str) -> list[tuple]:
    listed = ", ".join(f"{name}::text" for name in TYPES)
    return sorted(conn.execute(f"SELECT {listed} FROM {table}").fetchall(), key=repr)


@settings(max_examples=60)
@given(st.lists(rows, min_size=1, max_size=12))
def test_binary_copy_stores_what_text_copy_stores(tables, records):
    conn = tables
    table = pa.table({name: pa.array([r[name] for r in records], pa.string()) for name in COLUMNS})
    lineage = {
        "batch_id": str(uuid.uuid4()),
        "source_object": "equipment_telemetry/province=110000/period=2026-10-01/page-0001.json",
        "source_page": "1",
        "province_code": "110000",
        "period_day": "2026-10-01",
    }
    tuples = binary_copy.BinaryRows(TYPES).encode(table, lineage)
    digits = max(len(re.sub(r"[^0-9]", "", r[name] or "")) for r in records for name in ("n", "n2"))
    if digits > binary_copy.MAX_DECIMAL_DIGITS:  # more than a decimal128 holds: the rows go as CSV
        assert tuples is None
        return
    assert tuples is not None, "plain values of at most 38 digits all have a binary form"
    full = table
    for name, value in lineage.items():
        full = full.append_column(name, pa.repeat(value, table.num_rows))
    csv = io.BytesIO()
    pacsv.write_csv(full, csv, CSV_OPTIONS)
    conn.execute("TRUNCATE sent_binary, sent_csv")
    _send(conn, "sent_binary", tuples, True, full.column_names)
    _send(conn, "sent_csv", [csv.getvalue()], False, full.column_names)
    assert _stored(conn, "sent_binary") == _stored(conn, "sent_csv")


def test_a_numeric_keeps_the_scale_it_was_written_with(tables):
    conn = tables
    values = ["2.50", "2", "0.125", "-0.0", "5.", ".5", "007.10", "12345678901234567890.123456789012345678"]
    table = pa.table(
        {name: pa.array(values if name.startswith("n") else [None] * len(values), pa.string()) for name in COLUMNS}
    )
    conn.execute("TRUNCATE sent_binary")
    _send(conn, "sent_binary", binary_copy.BinaryRows(TYPES).encode(table), True, list(COLUMNS))
    stored = [row[0] for row in conn.execute("SELECT n::text FROM sent_binary").fetchall()]
    assert sorted(stored) == sorted(str(conn.execute("SELECT %s::numeric::text", (v,)).fetchone()[0]) for v in values)
    assert {"2.50", "2", "0.0", "5", "0.5", "7.10", "12345678901234567890.123456789012345678"} <= set(stored)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("n", "1e3"),  # an exponent: the scale PostgreSQL gives it is not the digits written
        ("n", "1.5E-2"),
        ("n", "1" * 39),  # past a decimal128's 38 digits
        ("n", "1" * 28 + ".000100000000"),  # 40 digits with a fraction: Arrow's cast wraps instead of raising
        ("n", "99999999999999999999.9999999999999999999"),  # 39
        ("n", "-0" + "1" * 37 + ".5"),  # a leading zero counted: 39
        ("ts", "2026-10-01T08:00:00"),  # no zone: PostgreSQL would read it in the session's zone
        ("i2", "70000"),  # out of range: CSV, and PostgreSQL says so
        ("b", "yes"),
    ],
)
def test_a_value_without_an_exact_binary_form_leaves_the_page_to_csv(column, value):
    table = pa.table({name: pa.array([value if name == column else None], pa.string()) for name in COLUMNS})
    assert binary_copy.BinaryRows(TYPES).encode(table) is None


def test_a_table_of_another_type_is_loaded_in_csv(services):
    assert binary_copy.binary_rows({"a": "text", "b": "jsonb"}) is None
    with psycopg.connect(services.warehouse) as conn:
        types = binary_copy.column_types(conn, "raw.equipment_telemetry")
    assert types["ts"] == "timestamp with time zone" and types["batch_id"] == "uuid"
    assert binary_copy.binary_rows(types) is not None  # every raw table's types have a binary form


def test_a_page_is_encoded_binary_with_its_lineage_and_csv_when_a_value_has_no_binary_form(services):
    with psycopg.connect(services.warehouse) as conn:
        binary = binary_copy.binary_rows(binary_copy.column_types(conn, "raw.equipment_telemetry"))
    rows = pa.table(
        {
            "device_id": ["D1", "D2"],
            "enterprise_code": ["91110000100000000A", "91110000100000000A"],
            "ts": ["2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z"],
            "runtime_min": ["60", "30"],
            "output_units": ["10", "0"],
            "energy_kwh": ["2.5", "3"],
            "fault_code": [None, "E101"],
        }
    )
    partition = {"province_code": "110000", "period_day": "2026-10-01", "batch_id": str(uuid.uuid4())}
    page = PageRows("equipment_telemetry/province=110000/page-0001.json", "v1", rows)
    lineage = partition | page_lineage(DATASETS["equipment_telemetry"], page, 1)
    columns, is_binary, chunks = _encoded(page.rows, lineage, binary)
    assert is_binary and columns[-4:] == ("province_code", "period_day", "batch_id", "source_page")
    exponent = rows.set_column(5, "energy_kwh", pa.array(["2.5", "3e0"]))
    columns, is_binary, chunks = _encoded(exponent, lineage, binary)
    assert not is_binary and b"3e0" in b"".join(bytes(c) for c in chunks)
