"""The national-day benchmark's arithmetic and check (issue 20): the wall time's split, the provinces a
small run takes, the vars handed to dbt, the figures printed and what a wrong result reports."""

import json

import pytest

from ibdc_dev.bench import national
from ibdc_dev.bench.national import Held, Round, Task


def _task(province: str, rows: int = 48, extract_s: float = 3.0, load_s: float = 1.0, **kw) -> Task:
    fields = {"records": rows, "rows_loaded": rows, "rows_quarantined": 0, **kw}
    return Task(province, fields["records"], fields["rows_loaded"], fields["rows_quarantined"], extract_s, load_s)


def test_split_shares_the_phase_wall_time_in_proportion_to_the_tasks_seconds():
    assert national.split_phase(10.0, 30.0, 10.0) == (7.5, 2.5)
    extract, load = national.split_phase(7.0, 1.0, 2.0)
    assert extract + load == pytest.approx(7.0) and extract == pytest.approx(7.0 / 3)
    assert national.split_phase(5.0, 0.0, 0.0) == (0.0, 0.0)


def test_a_round_adds_up_to_its_wall_time():
    r = Round(20.0, 12.5, [_task("110000", extract_s=6, load_s=2), _task("120000", extract_s=6, load_s=6)])
    extract, load, transform = r.split
    assert (extract, load, transform) == (pytest.approx(12.0), pytest.approx(8.0), 12.5)
    assert r.wall_s == 32.5 and extract + load + transform == pytest.approx(r.wall_s)
    assert r.rows == 96


def test_a_small_run_takes_every_style_in_turn_in_the_registry_order():
    sources = {"1": "a", "2": "a", "3": "b", "4": "a", "5": "c", "6": "b"}
    assert national.pick_provinces(sources, 3) == ["1", "3", "5"]
    assert national.pick_provinces(sources, 4) == ["1", "2", "3", "5"]
    assert national.pick_provinces(sources, 5) == ["1", "2", "3", "5", "6"]
    assert national.pick_provinces(sources, None) == list(sources)
    assert national.pick_provinces(sources, 99) == list(sources)
    with pytest.raises(ValueError):
        national.pick_provinces(sources, 0)


def test_the_real_registry_small_run_reaches_every_telemetry_style():
    from ibdc.sources.registry import sources_for

    sources = {p: str(s.style) for p, s in sources_for(national.DATASET).items()}
    assert len(sources) == 31
    assert {sources[p] for p in national.pick_provinces(sources, 5)} == set(sources.values())


def test_dbt_gets_the_loaded_periods_as_json_text_as_the_transform_dag_renders_them():
    loaded = json.loads(national.dbt_vars({"equipment_telemetry": ["2026-10-01"]}))
    assert isinstance(loaded["ibdc_loaded_periods"], str)
    assert json.loads(loaded["ibdc_loaded_periods"]) == {"equipment_telemetry": ["2026-10-01"]}
    assert json.loads(json.loads(national.dbt_vars({}))["ibdc_loaded_periods"]) == {}


def _whole(provinces):
    raw = {p: Held(48, 3, 2) for p in provinces}
    return raw, {p: Held(3, 3, 2) for p in provinces}, {p: Held(2, 3, 2) for p in provinces}


def test_a_whole_day_has_no_problem():
    provinces = ["110000", "120000"]
    assert national.problems(provinces, 48, [_task(p) for p in provinces], *_whole(provinces)) == []


def test_every_kind_of_missing_or_wrong_result_is_named():
    provinces = ["110000", "120000", "130000"]
    raw, ent, prov = _whole(provinces)
    tasks = [_task("110000", rows_quarantined=1, rows_loaded=47), _task("120000")]  # 130000 never loaded
    raw["110000"] = Held(47, 3, 2)
    ent["120000"] = Held(2, 2, 2)  # an enterprise missing from the enterprise mart
    del prov["120000"]  # the province mart lacks a province
    ent["990000"] = Held(1, 1, 1)  # a province not loaded
    found = national.problems(provinces, 48, tasks, raw, ent, prov)
    assert any(f.startswith("110000: 48 readings served; 48 extracted, 47 loaded, 1 quarantined") for f in found)
    assert any(f.startswith("120000: mart_equipment_oee_enterprise_daily has 2 enterprises") for f in found)
    assert any(f.startswith("120000: mart_equipment_oee_province_daily has 0 rows") for f in found)
    assert "130000: no load" in found
    assert any("provinces not loaded: 990000" in f for f in found)
    assert not any(f.startswith("110000: 47 rows loaded") for f in found)  # raw holds what was loaded


def test_raw_not_holding_the_loaded_rows_is_named():
    raw, ent, prov = _whole(["110000"])
    raw["110000"] = Held(40, 3, 2)
    found = national.problems(["110000"], 48, [_task("110000")], raw, ent, prov)
    assert found == ["110000: 48 rows loaded, raw holds 40 for the day"]


def test_the_report_prints_medians_with_their_range_and_the_target():
    rounds = [
        Round(200.0, 40.0, [_task("110000", rows=7_440_000)]),
        Round(300.0, 50.0, [_task("110000", rows=7_440_000)]),
    ]
    rounds.append(Round(250.0, 45.0, [_task("110000", rows=7_440_000)]))
    lines: list[str] = []
    national.report(rounds, say=lines.append)
    assert "wall 295.0 (240.0-350.0)" in lines[0] and "transform 45.0 (40.0-50.0)" in lines[0]
    assert lines[-1] == "national_day_wall_s: 295.0 (rounds: 240.0, 350.0, 295.0) target < 300 s: met"
    small: list[str] = []
    national.report([Round(10.0, 5.0, [_task("110000")])], say=small.append)
    assert "target is for 7,440,000 rows" in small[-1]


def test_spread():
    assert national.spread([3.0, 1.0, 2.0]) == "2.0 (1.0-3.0)"
