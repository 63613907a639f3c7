"""A csv_download page (a whole partition in one file) extracted and parsed from a file a block at a time
(issue 13, point 3): the repeats the extraction finds and the rows, rejects and positions the load
parses are exactly those of the whole file decoded at once."""

import io
from datetime import date

import pyarrow as pa
import pytest
import requests

from ibdc.datasets import DATASETS
from ibdc.formats import csv_download
from ibdc.formats.base import DecodeError
from ibdc.landing.manifest import Manifest
from ibdc.parsing.base import parse_page, parse_page_file
from ibdc.schemas import EQUIPMENT_TELEMETRY
from ibdc.sources.adapters.base import Extraction, RawPage, fetch_page
from ibdc.sources.registry import load_registry
from ibdc_dev.simulator.telemetry import telemetry_table
from tests.manifests import manifest_of

PROVINCE, DAY = "410000", "2025-06-03"
BLOCK = 16 << 10  # about 230 readings a block


def _body() -> bytes:
    """A province-day of 9,600 readings, malformed ones among them, and repeats in later blocks of
    records of earlier ones: identical ones and one with another energy figure."""
    table = telemetry_table(20260101, PROVINCE, date(2025, 6, 3), 400, malformed_every=97)
    table = table.select(list(EQUIPMENT_TELEMETRY.names))
    changed = table.slice(10, 1).to_pylist()[0] | {"energy_kwh": "999.5"}
    repeats = pa.concat_tables([table.take([3, 5000]), pa.Table.from_pylist([changed], schema=table.schema)])
    table = pa.concat_tables([table.slice(0, 6000), repeats, table.slice(6000)])
    return csv_download.encode(EQUIPMENT_TELEMETRY, table, "gb18030")


def _extraction() -> Extraction:
    return Extraction(load_registry()["220000"], EQUIPMENT_TELEMETRY.dataset, DAY)


def _add_file(ex: Extraction, body: bytes):
    fh = io.BytesIO(body)
    parts = csv_download.decode_chunks(EQUIPMENT_TELEMETRY, fh)
    return ex.add_file_page(parts, fh, len(body), "sha", "text/csv; charset=gb18030", {"url": "u"})


def _manifest(ex: Extraction) -> Manifest:
    return manifest_of(EQUIPMENT_TELEMETRY.dataset, PROVINCE, DAY, "csv_download", "page-0001.csv", None, ex.duplicates)


def test_a_file_page_extracted_and_parsed_in_parts_is_the_whole_file(monkeypatch):
    body = _body()
    whole = csv_download.decode(EQUIPMENT_TELEMETRY, body)
    reference = _extraction()
    reference.add_page(RawPage(body, "text/csv", {}, whole.num_records), whole)

    monkeypatch.setattr(csv_download, "BLOCK_BYTES", BLOCK)
    ex = _extraction()
    last = _add_file(ex, body)
    (page,) = ex.pages
    assert isinstance(page, RawPage) and page.body == body and page.records == whole.num_records == 9603
    assert last.total == whole.total == 9603 and last.num_records < 300
    assert ex.duplicates == reference.duplicates
    assert [(d["index"], d["first"], d["identical"]) for d in ex.duplicates] == [
        (6000, [0, 3], True),
        (6001, [0, 5000], True),
        (6002, [0, 10], False),
    ]

    spec, manifest = DATASETS[EQUIPMENT_TELEMETRY.dataset], _manifest(ex)
    obj = manifest.objects[0]
    once = parse_page(spec.name, spec.validate, manifest, obj, body, 7)
    parts = list(parse_page_file(spec.name, spec.validate, manifest, obj, io.BytesIO(body), 7))
    assert len(parts) > 30
    assert pa.concat_tables(p.rows for p in parts).equals(once.rows)
    by_position = lambda rejects: sorted(rejects, key=lambda r: r.record_position)  # noqa: E731
    assert by_position(r for p in parts for r in p.rejects) == by_position(once.rejects)
    assert sum(p.records_served for p in parts) == once.records_served == 9603
    assert sum(p.rows_in for p in parts) == once.rows_in
    conflicting = [r for r in once.rejects if "served again" in r.reason]
    assert [r.record_position for r in conflicting] == [7 + 6002]
    assert len(once.rejects) > 50  # the malformed readings, quarantined at their positions


def test_a_file_page_found_corrupt_at_its_end_leaves_the_extraction_as_it_was(monkeypatch):
    body = _body()
    monkeypatch.setattr(csv_download, "BLOCK_BYTES", BLOCK)
    ex = _extraction()
    lines = body.split(b"\n")
    total = lines[-2].split(b",")
    total[-3] = b"1"  # the 合计 of a summed column, read after every block
    with pytest.raises(DecodeError, match="合计 of"):
        _add_file(ex, b"\n".join([*lines[:-2], b",".join(total), b""]))
    assert not ex.pages and not ex.duplicates
    _add_file(ex, body)  # fetched again: taken whole
    assert ex.records_received == 9603 and len(ex.duplicates) == 3


def test_a_streamed_answer_refused_by_its_status_is_closed_unread():
    """An HTTP error to a streamed request: its body is not read, its connection dropped (closed)."""

    class Body(io.BytesIO):
        reads = 0

        def read(self, *args):
            Body.reads += 1
            return super().read(*args)

    body = Body(b"not found")
    resp = requests.Response()
    resp.status_code, resp.url, resp.raw = 404, "http://portal/p/220000/download/x.csv", body
    ex = _extraction()
    with pytest.raises(requests.HTTPError):
        fetch_page(ex, lambda: resp, {"url": resp.url}, streamed=True)
    assert body.closed and not Body.reads and not ex.pages
