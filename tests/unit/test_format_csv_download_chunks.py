"""Style csv_download read a block at a time (issue 13, point 3): a province-day served as one big file
is decoded from a file in pages of at most ``BLOCK_BYTES`` of it, and those pages are exactly the whole
file's decode; its 合计 row is still checked across every block."""

import io
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.formats import csv_download
from ibdc.formats.base import DecodeError
from ibdc.schemas import ELECTRICITY_CONSUMPTION, EQUIPMENT_TELEMETRY, INDUSTRIAL_OUTPUT
from ibdc_dev.simulator.telemetry import telemetry_table
from tests.unit.format_helpers import csv_records

BIG = 1 << 30  # a block larger than any file here: the file read whole


def _telemetry_body(encoding: str = "gb18030", devices: int = 400) -> tuple[pa.Table, bytes]:
    table = telemetry_table(20260101, "410000", date(2025, 6, 3), devices, malformed_every=97)
    table = table.select(list(EQUIPMENT_TELEMETRY.names))
    return table, csv_download.encode(EQUIPMENT_TELEMETRY, table, encoding)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_a_file_read_in_blocks_gives_exactly_the_whole_file_decode(monkeypatch, encoding):
    table, body = _telemetry_body(encoding)
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", BIG)
    whole = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 16 << 10)  # ~230 readings a block
    pages = list(csv_download.decode_chunks(EQUIPMENT_TELEMETRY, io.BytesIO(body)))
    assert len(pages) > 20
    assert all(p.num_records < 1000 for p in pages)
    assert pa.concat_tables(p.table for p in pages).equals(whole.table)
    assert whole.table.equals(table)
    assert [p.total for p in pages] == [None] * (len(pages) - 1) + [whole.total] == [None] * (len(pages) - 1) + [9600]
    raw = [p.raw_text(i) for p in pages for i in range(p.num_records)]
    assert raw == [whole.raw_text(i) for i in range(whole.num_records)]
    # and decode (bytes in memory) joins the same pages
    chunked_whole = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    assert chunked_whole.table.equals(whole.table)
    assert [chunked_whole.raw_text(i) for i in (0, 231, 9599)] == [raw[0], raw[231], raw[9599]]


def test_quoted_values_with_line_breaks_are_read_across_blocks(monkeypatch):
    samples = csv_records(ELECTRICITY_CONSUMPTION)
    records = [{**samples[n % 3], "division_name": f'纺织\n"业",{n}'} for n in range(300)]
    table = pa.Table.from_pylist(records).select(list(ELECTRICITY_CONSUMPTION.names))
    body = csv_download.encode(ELECTRICITY_CONSUMPTION, table, "gbk")
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 2048)
    pages = list(csv_download.decode_chunks(ELECTRICITY_CONSUMPTION, io.BytesIO(body)))
    assert len(pages) > 5
    assert pa.concat_tables(p.table for p in pages).column("division_name").to_pylist() == [
        r["division_name"] for r in records
    ]


def test_the_total_row_is_checked_across_blocks(monkeypatch):
    table, body = _telemetry_body()
    lines = body.split(b"\n")
    cells = lines[5].split(b",")  # a figure of an early block changed: the sum at the end disagrees
    energy = csv_download.header(EQUIPMENT_TELEMETRY.field("energy_kwh")).encode("gb18030")
    at = lines[0].split(b",").index(energy)
    cells[at] = b"123456789.5"
    corrupt = b"\n".join([*lines[:5], b",".join(cells), *lines[6:]])
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 16 << 10)
    pages = csv_download.decode_chunks(EQUIPMENT_TELEMETRY, io.BytesIO(corrupt))
    with pytest.raises(DecodeError, match="合计 of"):
        list(pages)
    cut = body[: len(body) // 2]
    with pytest.raises(DecodeError):
        list(csv_download.decode_chunks(EQUIPMENT_TELEMETRY, io.BytesIO(cut)))


def test_a_file_of_blocks_per_unit_is_read_whole(monkeypatch):
    records = csv_records(INDUSTRIAL_OUTPUT) * 10
    table = pa.Table.from_pylist(records).select(list(INDUSTRIAL_OUTPUT.names))
    body = csv_download.encode(INDUSTRIAL_OUTPUT, table, "gbk")
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 512)
    (page,) = csv_download.decode_chunks(INDUSTRIAL_OUTPUT, io.BytesIO(body))
    assert page.table.equals(csv_download.decode(INDUSTRIAL_OUTPUT, body).table)
    assert page.total == 30


def test_the_file_is_read_a_block_ahead_of_the_page_given_no_more(monkeypatch):
    """Memory bounded by the block: when a page is given, at most two blocks past it have been read
    (Arrow's own streaming reader read ahead as far as it could: memory grew with the file)."""
    _, body = _telemetry_body()
    block = 16 << 10
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", block)
    fh = io.BytesIO(body)
    given = 0
    for page in csv_download.decode_chunks(EQUIPMENT_TELEMETRY, fh):
        given += sum(len(page.raw_text(i).encode("gb18030")) + 1 for i in range(page.num_records))
        assert fh.tell() <= given + 3 * block
    assert fh.tell() == len(body)


def test_a_record_longer_than_a_block_is_read_whole(monkeypatch):
    samples = csv_records(ELECTRICITY_CONSUMPTION)
    names = ["纺" * 30_000, 'a "quoted",\nname' * 2000, "织"]
    records = [{**samples[n % 3], "division_name": names[n % 3]} for n in range(9)]
    table = pa.Table.from_pylist(records).select(list(ELECTRICITY_CONSUMPTION.names))
    body = csv_download.encode(ELECTRICITY_CONSUMPTION, table, "gb18030")
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 1000)
    pages = list(csv_download.decode_chunks(ELECTRICITY_CONSUMPTION, io.BytesIO(body)))
    assert pa.concat_tables(p.table for p in pages).column("division_name").to_pylist() == [
        r["division_name"] for r in records
    ]


def _stray_quote_body(n: int = 1500) -> tuple[list[str], bytes]:
    """A file whose first record has an unquoted cell ``a"b`` (a quote inside an unquoted value is
    plain text to Arrow): the file's quote count is odd from there on."""
    samples = csv_records(ELECTRICITY_CONSUMPTION)
    records = [{**samples[n % 3], "division_name": f"纺织业{n}"} for n in range(n)]
    records[0]["division_name"] = "aQb"
    table = pa.Table.from_pylist(records).select(list(ELECTRICITY_CONSUMPTION.names))
    body = csv_download.encode(ELECTRICITY_CONSUMPTION, table, "gbk").replace(b'"aQb"', b'a"b', 1)
    return ['a"b', *(r["division_name"] for r in records[1:])], body


def test_a_stray_quote_in_an_unquoted_cell_is_read_a_block_at_a_time(monkeypatch):
    """A quote inside an unquoted value opens nothing: the file is still cut into blocks after it
    (it made every line feed look quoted: nothing was cut, the whole file piled up, and each pass
    recounted the quotes from every line feed: quadratic)."""
    names, body = _stray_quote_body()
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", BIG)
    whole = csv_download.decode(ELECTRICITY_CONSUMPTION, body)
    assert whole.table.column("division_name").to_pylist() == names
    block = 1024
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", block)
    line_ends = [i + 1 for i, byte in enumerate(body) if byte == 0x0A]  # no line break inside a value here
    handed = []  # the bytes each scan was given: each byte of the file once
    feed = csv_download._RecordEnds.feed
    monkeypatch.setattr(
        csv_download._RecordEnds,
        "feed",
        lambda self, data, start: handed.append(len(data) - start) or feed(self, data, start),
    )
    fh = io.BytesIO(body)
    pages, records = [], 0
    for page in csv_download.decode_chunks(ELECTRICITY_CONSUMPTION, fh):
        pages.append(page)
        records += page.num_records
        assert fh.tell() <= line_ends[records] + 2 * block  # read a block or two ahead, no more
    assert sum(handed) <= len(body) and len(handed) > 20
    assert len(pages) > 20
    assert pa.concat_tables(p.table for p in pages).equals(whole.table)
    assert [p.raw_text(i) for p in pages for i in range(p.num_records)] == [
        whole.raw_text(i) for i in range(whole.num_records)
    ]


def test_a_quoted_value_never_closed_is_a_decode_error_not_a_file_held_whole(monkeypatch):
    """A quoted value left open: no record ends; past RECORD_BYTES_MAX the page fails (DecodeError)
    instead of the file piling up in memory."""
    _, body = _stray_quote_body()
    head = body.split(b"\n", 1)[0]
    body = head + b'\n"' + b"x,y\n" * 40_000  # a quoted value opened, and no quote after it
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(csv_download, "RECORD_BYTES_MAX", 64 << 10)
    fh = io.BytesIO(body)
    with pytest.raises(DecodeError, match="no record end"):
        list(csv_download.decode_chunks(ELECTRICITY_CONSUMPTION, fh))
    assert fh.tell() <= (64 << 10) + 2 * 4096 < len(body)


_TEXT = st.text(alphabet='a", \n\r', max_size=6)
_CELL = st.one_of(
    _TEXT.map(lambda t: t.replace(",", "").replace("\n", "").replace("\r", "")).filter(lambda t: not t.startswith('"')),
    _TEXT.map(lambda t: '"' + t.replace('"', '""') + '"'),  # quoted, quotes doubled, line breaks kept
    _TEXT.map(lambda t: '"' + t.replace('"', '""') + '"b"c'),  # text after the closing quote, a quote in it
)


@settings(max_examples=150)
@given(rows=st.lists(st.tuples(_CELL, _CELL, _CELL), min_size=1, max_size=40), block=st.integers(1, 64))
def test_rows_read_in_blocks_are_exactly_the_rows_read_whole(rows, block):
    """Whatever the quoting (Arrow's rules: a quote opens a value only at a field's start), the rows
    read a few bytes at a time are the rows read whole."""
    body = "".join(",".join(r) + "\n" for r in rows).encode("utf-8")
    whole = list(csv_download._row_tables(io.BytesIO(body), 3, "utf-8"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(csv_download, "BLOCK_BYTES", block)
        blocks = list(csv_download._row_tables(io.BytesIO(body), 3, "utf-8"))
    assert pa.concat_tables(blocks).to_pylist() == pa.concat_tables(whole).to_pylist()
