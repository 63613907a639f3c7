from datetime import UTC, datetime

import pytest

from ibdc.orchestration import plan_partitions
from ibdc.reference import provinces
from ibdc.sources.adapters.base import Extraction, RawPage, ReconciliationError
from ibdc.sources.registry import load_registry, resolve_provinces


def test_registry_covers_the_31_provinces():
    registry = load_registry()
    assert set(registry) == set(provinces())
    assert all(s.code == code for code, s in registry.items())
    assert all(s.url.endswith(f"/p/{code}") for code, s in registry.items())


def test_provinces_param_is_validated():
    assert resolve_provinces("industrial_output", None) == sorted(provinces())
    assert resolve_provinces("industrial_output", ["440000", "110000", "440000"]) == ["110000", "440000"]
    with pytest.raises(ValueError, match="unknown provinces"):
        resolve_provinces("industrial_output", ["999999"])


def test_period_comes_from_the_data_interval_or_the_param_never_the_clock():
    start = datetime(2026, 8, 1, tzinfo=UTC)
    parts = plan_partitions("industrial_output", {"provinces": ["320000"]}, start)
    assert parts == [{"dataset": "industrial_output", "province": "320000", "period": "2026-08"}]
    parts = plan_partitions("industrial_output", {"period": "2025-02"}, start)
    assert {p["period"] for p in parts} == {"2025-02"} and len(parts) == 31
    with pytest.raises(ValueError, match="no data interval"):
        plan_partitions("industrial_output", {}, None)
    with pytest.raises(ValueError, match="YYYY-MM"):
        plan_partitions("industrial_output", {"period": "2025-2"}, start)


def test_reconciliation_fails_when_records_received_differ_from_claimed():
    source = load_registry()["110000"]
    ex = Extraction(source, "industrial_output", "2026-01", [RawPage(b"{}", "application/json", {}, 9)], 10)
    with pytest.raises(ReconciliationError, match="claims 10 records, received 9"):
        ex.reconcile()
