"""The scale benchmark's choices and verdict (issue 13): one province per style that serves telemetry,
and the target read from the figures (peak under 1 GB, the larger size within 20% of the smaller)."""

import pytest

from ibdc.sources.registry import source_for
from ibdc_dev.bench import scale as bench_scale
from ibdc_dev.bench.scale import Measured


def test_one_province_of_each_style_that_serves_telemetry():
    chosen = bench_scale.provinces_by_style()
    assert set(chosen) == {"rest_json", "app_key", "signed_gateway", "jsonp", "csv_download"}
    for style, province in chosen.items():
        assert source_for(province, bench_scale.DATASET).style == style


def _measured(readings: int, extract_mb: float, load_mb: float) -> Measured:
    return Measured(
        "jsonp",
        "140000",
        readings,
        rows=[readings] * 3,
        extract_mb=[extract_mb] * 3,
        load_mb=[load_mb] * 3,
        extract_rps=[1.0, 2.0, 3.0],
        load_rps=[1.0, 2.0, 3.0],
        imports_mb=[90.0] * 3,
    )


def _verdict(*results: Measured) -> list[str]:
    lines: list[str] = []
    bench_scale.report(list(results), say=lines.append)
    return lines


def test_memory_that_grows_with_the_partition_misses_the_target():
    lines = _verdict(_measured(60_000, 150, 120), _measured(300_000, 200, 125))
    assert "scale_jsonp_extract_peak_growth: 1.33 (150 -> 200 MB, 60,000 -> 300,000 readings) NOT met" in lines
    assert "scale_jsonp_load_peak_growth: 1.04 (120 -> 125 MB, 60,000 -> 300,000 readings) met" in lines
    assert lines[-1].endswith("NOT met")


def test_flat_memory_under_a_gigabyte_meets_it():
    assert _verdict(_measured(60_000, 150, 120), _measured(300_000, 170, 130))[-1].endswith(": met")
    assert _verdict(_measured(60_000, 1100, 120))[-1].endswith("NOT met")  # one size: only the 1 GB bound


def test_the_throughput_ratios_are_per_round_against_psql_copy():
    """Issue 20: each round's extraction (static source) and load over that round's psql \\copy, and
    the simulator's extraction over the static one, median (min-max), against their targets."""
    m = _measured(240_000, 150, 120)
    m.extract_rps, m.load_rps, m.psql_rps = [30.0, 60.0, 50.0], [80.0, 90.0, 100.0], [100.0, 100.0, 100.0]
    m.simulator_rps = [30.0, 54.0, 50.0]
    lines = _verdict(m)
    assert (
        "extract_client_vs_psql_copy_jsonp: 0.50 (0.30-0.60)  target >= 0.5: met  (240,000 readings, 3 rounds)" in lines
    )
    assert "load_vs_psql_copy_jsonp: 0.90 (0.80-1.00)  target >= 0.8: met  (240,000 readings, 3 rounds)" in lines
    assert (
        "simulator_vs_static_extract_jsonp: 1.00 (0.90-1.00)  target >= 0.9: met  (240,000 readings, 3 rounds)" in lines
    )
    m.load_rps = [70.0, 75.0, 100.0]
    assert (
        "load_vs_psql_copy_jsonp: 0.75 (0.70-1.00)  target >= 0.8: NOT met  (240,000 readings, 3 rounds)" in _verdict(m)
    )


def test_the_empty_table_ratios_are_reported_beside_the_targets_without_one():
    """Issue 20: extraction and load over psql copying the source columns into an empty table (the
    baseline until the fifth session), figures without a target beside the targets' ratios (over
    psql copying the same rows into the raw table as the load finds it)."""
    m = _measured(240_000, 150, 120)
    m.extract_rps, m.load_rps, m.psql_rps = [30.0, 60.0, 50.0], [80.0, 90.0, 100.0], [100.0, 100.0, 100.0]
    m.simulator_rps, m.psql_empty_rps = [30.0, 54.0, 50.0], [160.0, 200.0, 250.0]
    lines = _verdict(m)
    assert "load_vs_psql_copy_jsonp: 0.90 (0.80-1.00)  target >= 0.8: met  (240,000 readings, 3 rounds)" in lines
    no_target = "(no target: psql copying the source columns into an empty table, the baseline until the fifth session)"
    assert f"load_vs_psql_copy_empty_table_jsonp: 0.45 (0.40-0.50)  {no_target}" in lines
    assert f"extract_client_vs_psql_copy_empty_table_jsonp: 0.20 (0.19-0.30)  {no_target}" in lines
    assert lines[-1].endswith(": met"), "figures without a target do not make the verdict"


def test_the_full_rows_carry_each_rows_page_number_in_the_batch(tmp_path):
    """The full rows psql copies: each row the lineage of the page it was served on (the manifest's
    objects, by their record counts), the partition's province, day and one batch id."""
    from types import SimpleNamespace

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from ibdc_dev.bench.load import FULL_ROW_COLUMNS, SOURCE_COLUMNS, with_lineage

    names = SOURCE_COLUMNS.split(", ")
    rows = pa.table({n: pa.array([f"{n}{i}" for i in range(5)]) for n in names})
    objects = [
        SimpleNamespace(key="p/page-0001.json", version_id="v1", records=3),
        SimpleNamespace(key="p/page-0002.json", version_id=None, records=2),
    ]
    manifest = SimpleNamespace(province_code="110000", period="2026-10-01", objects=objects)
    # As psql reads it: an unquoted empty field is NULL, a quoted one an empty string.
    nulls = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
    written = pacsv.read_csv(with_lineage(rows, manifest, tmp_path / "full.csv"), convert_options=nulls)
    assert written.column_names == FULL_ROW_COLUMNS.split(", ")
    assert written.column("source_page").to_pylist() == [1] * 3 + [2] * 2  # the manifest's pages, numbered
    assert set(written.column("province_code").cast(pa.string()).to_pylist()) == {"110000"}
    assert len(set(written.column("batch_id").to_pylist())) == 1
    assert written.column("device_id").to_pylist() == [f"device_id{i}" for i in range(5)]


def test_every_timed_extraction_starts_with_the_partition_forgotten(monkeypatch, tmp_path):
    """A round's steps in order: psql, static, simulator, simulator, static, none superseding the one
    before (whose pages it would delete inside its own timing); the load takes the last one's; psql
    again. Each source's rate is the mean of its two extractions' rates, psql's the mean of its two
    copies' rates; the memory, the higher peak."""
    steps: list[str] = []
    seconds = iter([1.0, 2.0, 4.0, 0.5])  # rates 10, 5, 2.5, 20 rows/s
    peaks = iter([100.0, 130.0, 120.0, 110.0])

    def child(step, province, url):
        steps.append(f"{step} from {url}")
        if step == "load":
            return {"rows": 10, "seconds": 1.0, "peak_rss_mb": 90.0, "imports_rss_mb": 80.0}
        return {"rows": 10, "seconds": next(seconds), "peak_rss_mb": next(peaks), "imports_rss_mb": 90.0}

    monkeypatch.setattr(bench_scale, "_child", child)
    monkeypatch.setattr(bench_scale, "_forget_partition", lambda province: steps.append("forget"))
    monkeypatch.setattr(bench_scale, "_empty_province_day", lambda province: steps.append("empty the province-day"))
    copies, copied = iter([10.0, 30.0, 50.0, 70.0]), []

    def copy_into_raw(*args):
        steps.append("psql into raw")
        copied.append(args)
        return next(copies)

    monkeypatch.setattr(bench_scale, "_psql_copy_into_raw_rps", copy_into_raw)
    monkeypatch.setattr(bench_scale, "_psql_copy_rps", lambda *a: steps.append("psql into empty") or 10.0)

    class Static:
        url = "static"

    m = Measured("jsonp", "140000", 10)
    bench_scale._round(m, 1, Static(), "simulator", (tmp_path / "a.csv", tmp_path / "b.csv"), say=lambda line: None)
    assert steps == [
        "psql into raw",
        "extract from static",
        "forget",
        "extract from simulator",
        "forget",
        "extract from simulator",
        "forget",
        "extract from static",
        "empty the province-day",
        "load from simulator",
        "forget",
        "psql into raw",
        "psql into empty",
    ]
    assert m.extract_rps == [pytest.approx(15.0)]  # static: (10 + 20) / 2
    assert m.simulator_rps == [pytest.approx(3.75)]  # simulator: (5 + 2.5) / 2
    assert m.extract_mb == [110.0]  # the static extractions' higher peak
    assert m.psql_rps == [pytest.approx(20.0)]  # psql before the extractions and after the load: (10 + 30) / 2
    assert copied == [(tmp_path / "b.csv", "140000", 10)] * 2  # the full rows, both times

    # Round 2 swaps the sources (what the first extraction pays after the round before falls on each
    # in turn); the smaller sizes extract from the static server once, the simulator not timed.
    steps.clear()
    seconds, peaks = iter([1.0] * 4), iter([100.0] * 4)
    bench_scale._round(m, 2, Static(), "simulator", (tmp_path / "a.csv", tmp_path / "b.csv"), say=lambda line: None)
    assert [s for s in steps if s.startswith("extract")] == [
        "extract from simulator",
        "extract from static",
        "extract from static",
        "extract from simulator",
    ]
    assert m.psql_rps == [pytest.approx(20.0), pytest.approx(60.0)]  # each round its own two copies
    small = Measured("jsonp", "140000", 10)
    steps.clear()
    seconds, peaks = iter([2.0]), iter([100.0])
    bench_scale._round(small, 1, Static(), "simulator", None, say=lambda line: None)
    assert steps == ["extract from static", "empty the province-day", "load from simulator", "forget"]
    assert (small.extract_rps, small.simulator_rps, small.extract_mb) == ([5.0], [], [100.0])
