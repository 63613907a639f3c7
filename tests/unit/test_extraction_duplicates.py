"""Records served more than once across (and within) pages: found column-wise, reported exactly as the
record-by-record scan they replace reported them."""

import gc
import random
import weakref

import pyarrow as pa
import pytest

from ibdc.formats.base import DecodedPage, table_from_records
from ibdc.schemas import EQUIPMENT_TELEMETRY, INDUSTRIAL_OUTPUT
from ibdc.sources.adapters import repeats
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.registry import load_registry
from tests.manifests import manifest_of


def _scan(schema, tables: list[pa.Table]) -> list[dict]:
    """The reference: every record in order, a dict of the keys seen first."""
    seen, found = {}, []
    for page, table in enumerate(tables):
        for index, row in enumerate(table.to_pylist()):
            key, values = tuple(row[k] for k in schema.key), tuple(row[n] for n in schema.names)
            if key not in seen:
                seen[key] = (page, index, values)
                continue
            first = seen[key]
            found.append(
                {
                    "page": page,
                    "index": index,
                    "key": list(key),
                    "first": [first[0], first[1]],
                    "identical": first[2] == values,
                }
            )
    return found


def _extraction(schema, tables: list[pa.Table]) -> Extraction:
    ex = Extraction(load_registry()["220000"], schema.dataset, "2025-06-03")
    for table in tables:
        ex.add_page(RawPage(b"", "text/csv", {}, table.num_rows), DecodedPage(table, str, table.num_rows))
    return ex


def _reading(device: str | None, hour: int, energy: str) -> dict:
    return {
        "device_id": device,
        "enterprise_code": "E1",
        "ts": f"2025-06-03T{hour:02d}:00:00Z",
        "runtime_min": "60",
        "output_units": "1",
        "energy_kwh": energy,
        "fault_code": None,
    }


def test_repeats_within_and_across_pages_are_reported_in_order_with_their_first():
    pages = [
        [_reading("D1", 0, "1"), _reading("D1", 1, "1"), _reading("D1", 0, "1")],  # identical repeat, same page
        [_reading("D2", 0, "2"), _reading("D1", 1, "9")],  # conflicting repeat of page 0, record 1
        [],
        [_reading(None, 5, "3"), _reading(None, 5, "3"), _reading("D1", 1, "1")],  # missing key repeats too
    ]
    ex = _extraction(EQUIPMENT_TELEMETRY, [table_from_records(EQUIPMENT_TELEMETRY, p) for p in pages])
    assert ex.duplicates == [
        {"page": 0, "index": 2, "key": ["D1", "2025-06-03T00:00:00Z"], "first": [0, 0], "identical": True},
        {"page": 1, "index": 1, "key": ["D1", "2025-06-03T01:00:00Z"], "first": [0, 1], "identical": False},
        {"page": 3, "index": 1, "key": [None, "2025-06-03T05:00:00Z"], "first": [3, 0], "identical": True},
        {"page": 3, "index": 2, "key": ["D1", "2025-06-03T01:00:00Z"], "first": [0, 1], "identical": True},
    ]
    assert ex.records_received == 8 and ex.records_distinct == 4


def test_random_pages_agree_with_the_record_by_record_scan():
    rnd = random.Random(7)
    for _ in range(30):
        tables = []
        for _page in range(rnd.randint(1, 6)):
            records = [
                {
                    "province_code": "220000",
                    "period": "2025-06",
                    "product_code": rnd.choice(["cement", "crude_steel", "pig_iron", None, "ethylene", "automobiles"]),
                    "product_name": "x",
                    "unit": "10k_tonnes",
                    "current_month": rnd.choice(["1", "2", None]),
                    "cumulative": "5",
                }
                for _ in range(rnd.randint(0, 5))
            ]
            tables.append(table_from_records(INDUSTRIAL_OUTPUT, records))
        assert _extraction(INDUSTRIAL_OUTPUT, tables).duplicates == _scan(INDUSTRIAL_OUTPUT, tables)


def test_no_repeats_no_duplicates_and_adding_a_page_recomputes():
    first = table_from_records(EQUIPMENT_TELEMETRY, [_reading("D1", h, "1") for h in range(24)])
    ex = _extraction(EQUIPMENT_TELEMETRY, [first])
    assert ex.duplicates == [] and ex.records_distinct == 24
    ex.add_page(RawPage(b"", "text/csv", {}, 1), DecodedPage(first.slice(3, 1), str, 1))
    assert ex.duplicates == [
        {"page": 1, "index": 0, "key": ["D1", "2025-06-03T03:00:00Z"], "first": [0, 3], "identical": True}
    ]


def _random_output_tables(rnd: random.Random, pages: int, most: int) -> list[pa.Table]:
    return [
        table_from_records(
            INDUSTRIAL_OUTPUT,
            [
                {
                    "province_code": "220000",
                    "period": "2025-06",
                    "product_code": rnd.choice(["cement", "crude_steel", "pig_iron", None, "ethylene"]),
                    "product_name": "x",
                    "unit": "10k_tonnes",
                    "current_month": rnd.choice(["1", "2", None]),
                    "cumulative": "5",
                }
                for _ in range(rnd.randint(0, most))
            ],
        )
        for _ in range(pages)
    ]


@pytest.mark.parametrize(
    ("chunk_rows", "filter_bits"),
    [(2, 1), (7, 1), (7, repeats.FILTER_BITS), (repeats.CHUNK_ROWS, 1), (repeats.CHUNK_ROWS, repeats.FILTER_BITS)],
)
def test_pages_digested_in_chunks_and_filters_of_any_size_agree_with_the_scan(monkeypatch, chunk_rows, filter_bits):
    """Repeats across the chunks records are digested in (a page cut in parts, pages digested
    together), with the filter as it is and one so small that every key is flagged as maybe served
    before: only the real repeats are reported."""
    monkeypatch.setattr(repeats, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(repeats, "FILTER_BITS", filter_bits)
    rnd = random.Random(11)
    for _ in range(30):
        tables = _random_output_tables(rnd, rnd.randint(1, 5), 9)
        assert _extraction(INDUSTRIAL_OUTPUT, tables).duplicates == _scan(INDUSTRIAL_OUTPUT, tables)


def test_an_extraction_keeps_no_more_of_its_pages_than_a_chunk_not_yet_digested(monkeypatch):
    """What finding repeats keeps of the pages is digests, not their decoded tables (which grew with
    the partition): records wait to be digested until a chunk's worth is added (CHUNK_ROWS, 48 here),
    then their tables' memory is freed."""
    monkeypatch.setattr(repeats, "CHUNK_ROWS", 48)
    gc.collect()
    before = pa.total_allocated_bytes()
    first = table_from_records(EQUIPMENT_TELEMETRY, [_reading("D1", h, "1") for h in range(24)])
    freed = weakref.ref(first)
    ex = _extraction(EQUIPMENT_TELEMETRY, [first])
    del first
    gc.collect()
    assert freed() is None, "the table object itself is not kept"
    held = pa.total_allocated_bytes() - before
    assert held > 0, "fewer than a chunk: the page's records wait, in Arrow's memory"
    second = table_from_records(EQUIPMENT_TELEMETRY, [_reading("D2", h, "1") for h in range(24)])
    ex.add_page(RawPage(b"", "text/csv", {}, 24), DecodedPage(second, str, 24))
    del second
    gc.collect()
    assert pa.total_allocated_bytes() == before, "a chunk digested: neither page's records are held"
    assert ex.records_distinct == 48


def test_records_the_decoder_could_not_read_are_each_a_record_of_their_own():
    """Two unreadable records (nested too deep) decode with every value missing: they
    must not share that all-missing key as a repeat (one would vanish without a quarantine row, and
    the distinct records would fall one short of the count: a ReconciliationError for the partition)."""
    import json

    from ibdc.formats import rest_json
    from ibdc.parsing.base import parse_page
    from ibdc.parsing.equipment_telemetry import validate

    good = [_reading("D1", 0, "1"), _reading("D1", 1, "2")]
    deep = "[" * 3000 + "]" * 3000
    items = [json.dumps(good[0]), deep, '{"a": ' + deep + "}", json.dumps(good[1])]
    body = ('{"total": 4, "offset": 0, "limit": 10, "items": [' + ", ".join(items) + "]}").encode()
    decoded = rest_json.decode(EQUIPMENT_TELEMETRY, body)
    assert sorted(decoded.faults) == [1, 2]

    ex = Extraction(load_registry()["110000"], EQUIPMENT_TELEMETRY.dataset, "2025-06-03")
    ex.add_page(RawPage(body, "application/json", {}, decoded.num_records), decoded)
    ex.records_claimed = 4
    assert ex.duplicates == [] and ex.records_distinct == 4
    ex.reconcile()

    manifest = manifest_of(EQUIPMENT_TELEMETRY.dataset, "110000", "2025-06-03", key="page-0001.json")
    page = parse_page(EQUIPMENT_TELEMETRY.dataset, validate, manifest, manifest.objects[0], body, 0)
    unreadable = [r.record_position for r in page.rejects if r.reason.startswith("record not readable as served")]
    assert unreadable == [1, 2] and page.rows_in == 4  # each record once: none dropped as a repeat


def _found(schema, tables, unreadable=()) -> list[tuple]:
    """(page, index, key, first, identical) of each repeat a RepeatIndex finds in ``tables``, pages in
    order (``unreadable``: per page, the indices of its records the decoder could not read)."""
    index = repeats.RepeatIndex(schema)
    try:
        for page, table in enumerate(tables):
            index.add(page, table, unreadable[page] if unreadable else ())
        return [(d["page"], d["index"], d["key"], d["first"], d["identical"]) for d in index.repeats()]
    finally:
        index.close()


def test_unreadable_records_on_pages_digested_together_stay_records_of_their_own(monkeypatch):
    """Records the decoder could not read (all their values missing) on later pages held until a chunk
    is made, and across the parts a chunk is cut in: never a repeat, never repeated; the real repeat
    beside them is found at its page and index."""
    monkeypatch.setattr(repeats, "CHUNK_ROWS", 3)
    blank = {name: None for name in EQUIPMENT_TELEMETRY.names}
    pages = [
        table_from_records(EQUIPMENT_TELEMETRY, [_reading("D1", 0, "1"), blank]),
        table_from_records(EQUIPMENT_TELEMETRY, [blank, _reading("D1", 1, "1"), blank]),
        table_from_records(EQUIPMENT_TELEMETRY, [_reading("D1", 0, "2"), blank, _reading("D1", 2, "1")]),
    ]
    found = _found(EQUIPMENT_TELEMETRY, pages, unreadable=[{1}, {0, 2}, {1}])
    assert found == [(2, 0, ["D1", "2025-06-03T00:00:00Z"], [0, 0], False)]


def test_keys_differing_in_order_or_in_a_missing_value_are_different_keys():
    """A record's digest follows its values in order: (a, b) is not (b, a); a missing value, an empty
    text and the text "None" are three values."""
    readings = [_reading("a", 0, "1") | {"device_id": d, "ts": t} for d, t in [("a", "b"), ("b", "a")]]
    readings += [_reading(None, 3, "1"), _reading("", 3, "1"), _reading("None", 3, "1")]
    readings += [_reading("", 3, "1")]  # the one real repeat
    found = _found(EQUIPMENT_TELEMETRY, [table_from_records(EQUIPMENT_TELEMETRY, readings)])
    assert found == [(0, 5, ["", "2025-06-03T03:00:00Z"], [0, 3], True)]


def test_a_page_whose_column_is_nulls_alone_is_digested_with_the_others():
    """A page built with a column of nulls only (Arrow types it null, not text) concatenates with the
    pages it is digested with, and its missing values are the others' missing values."""
    typed_null = pa.Table.from_pylist([_reading("D1", 0, "1")])  # fault_code: null-typed
    assert typed_null.schema.field("fault_code").type == pa.null()
    again = table_from_records(EQUIPMENT_TELEMETRY, [_reading("D1", 0, "1")])
    assert _found(EQUIPMENT_TELEMETRY, [typed_null, again]) == [(1, 0, ["D1", "2025-06-03T00:00:00Z"], [0, 0], True)]


def test_digests_are_written_as_they_lie_even_from_a_slice():
    values = pa.array([1, 2, 3], pa.int64())
    assert bytes(repeats._bytes(values.slice(1))) == bytes(pa.array([2, 3], pa.int64()).buffers()[1])
