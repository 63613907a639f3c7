"""The simulator builds a partition once for all its pages (issue 13: a province-day of 240,000
readings was rebuilt for every page request, one answer took minutes and 1.1 GB), bounded in memory,
and serves exactly what it served before: faults switched at run time still change what is served."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from ibdc_dev.simulator import datasets, service
from ibdc_dev.simulator.faults import Fault, FaultKind, Malformation

DATASET, PROVINCE, DAY = "equipment_telemetry", "110000", "2026-10-01"


@pytest.fixture
def builds(monkeypatch):
    """Counts the partitions the simulator builds; an empty cache before and after."""
    counted: list[tuple[str, str]] = []
    original = datasets.DATASETS[DATASET]

    def truth(seed, province, period, revised):
        counted.append((province, period))
        return original.truth(seed, province, period, revised)

    monkeypatch.setitem(datasets.DATASETS, DATASET, dataclasses.replace(original, truth=truth))
    service.served_tables().clear()
    yield counted
    service.served_tables().clear()
    service.board().clear()


def _pages(size: int) -> list[pa.Table]:
    table = service.served_table(DATASET, PROVINCE, DAY)
    return [service.page(table, DATASET, PROVINCE, start, size) for start in range(0, table.num_rows, size)]


def test_a_partition_is_built_once_for_all_its_pages(builds):
    pages = _pages(500)
    assert len(pages) > 3 and builds == [(PROVINCE, DAY)]
    whole = datasets.DATASETS[DATASET].truth(service.get_settings().simulator_seed, PROVINCE, DAY, {})
    assert pa.concat_tables(pages).equals(whole)  # the same records, in the same order, as before


def test_a_fault_switched_on_or_off_changes_what_is_served(builds):
    before = service.served_table(DATASET, PROVINCE, DAY)
    fault = Fault(
        dataset=DATASET,
        province=PROVINCE,
        kind=FaultKind.MALFORMED,
        malformation=Malformation.FUTURE_DATE,
        field="ts",
        every=100,
    )
    service.board().add([fault])
    broken = service.served_table(DATASET, PROVINCE, DAY)
    assert broken.column("ts")[99].as_py() == "2099-01-01T00:00:00Z" != before.column("ts")[99].as_py()
    service.board().clear()
    assert service.served_table(DATASET, PROVINCE, DAY).equals(before)


def test_the_tables_kept_are_bounded(builds):
    cache = service.ServedTables(budget_bytes=1)
    first = cache.get(("a",), lambda: pa.table({"x": ["1"] * 100}))
    assert cache.get(("a",), lambda: pa.table({"x": ["2"]})) is first  # kept while it is the newest
    cache.get(("b",), lambda: pa.table({"x": ["3"] * 100}))
    assert len(cache) == 1 and cache.get(("a",), lambda: pa.table({"x": ["4"]})).column("x")[0].as_py() == "4"
