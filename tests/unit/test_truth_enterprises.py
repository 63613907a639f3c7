import re
from collections import Counter
from datetime import date

import pytest

from ibdc.periods import add_months, month_of
from ibdc.reference import cities, divisions, provinces
from ibdc.uscc import is_valid
from ibdc_dev.simulator.datasets import DATASETS
from ibdc_dev.simulator.enterprises import (
    DEREGISTERED_LISTED_MONTHS,
    ENTERPRISE_SHARE,
    SURNAMES,
    connected,
    month_end,
    org_code_check,
    registry,
    snapshot,
)
from ibdc_dev.simulator.telemetry import telemetry_table

SEED = 20260101


def _by_uscc(province, period, seed=SEED):
    return {r.uscc: r for r in snapshot(seed, province, period)}


def _shares(records, field):
    active = [r for r in records if r.status == "active"]
    return sum(getattr(r, field) for r in active) / len(active)


def test_same_seed_same_data_other_seed_other_data():
    a = snapshot(SEED, "330000", "2024-05")
    assert a == snapshot(SEED, "330000", "2024-05")
    assert a != snapshot(SEED + 1, "330000", "2024-05")
    assert {r.uscc for r in a}.isdisjoint({r.uscc for r in snapshot(SEED + 1, "330000", "2024-05")})


def test_gb11714_check_character():
    assert org_code_check("D2143569") == "X"  # the standard's worked example
    assert org_code_check("12345678") == "8"


@pytest.mark.parametrize("province", sorted(provinces()))
def test_every_credit_code_valid_structured_and_unique_in_a_snapshot(province):
    records = snapshot(SEED, province, "2025-06")
    areas = {c.adcode: c for c in cities()[province]}
    assert 10 <= len(records) <= 400  # a few hundred at most, scaled with the province
    assert len({r.uscc for r in records}) == len(records)
    assert len({r.name for r in records}) == len(records)
    for r in records:
        assert is_valid(r.uscc), r.uscc
        assert r.uscc[:2] == "91" and r.uscc[2:8] in areas
        assert org_code_check(r.uscc[8:16]) == r.uscc[16]
        # Codes issued after the October 2015 reform carry an MA organisation code.
        assert r.uscc[8:10] == "MA" if r.registered_on >= date(2015, 10, 1) else r.uscc[8:16].isdigit()
        assert r.city == areas[r.uscc[2:8]].city_zh
        assert r.division_code in divisions()
        assert r.size_class in ("large", "medium", "small", "micro")
        assert r.status in ("active", "deregistered")
        assert r.province_code == province and r.period == "2025-06"
        assert r.registered_on <= r.updated_on <= date(2025, 6, 30)


def test_personal_data_and_names_are_well_formed():
    records = [r for p in ("110000", "440000", "650000") for r in snapshot(SEED, p, "2023-11")]
    for r in records:
        assert re.fullmatch(r"1[3-9]\d{9}", r.phone), r.phone
        assert 2 <= len(r.legal_representative) <= 3 and r.legal_representative[0] in SURNAMES
        assert re.fullmatch(r"[\u4e00-\u9fff]+", r.legal_representative)
        assert r.name.endswith("有限公司") and re.fullmatch(r"[\u4e00-\u9fff]+", r.name)
        assert r.name.startswith(next(c.short_zh for c in cities()[r.province_code] if c.adcode == r.uscc[2:8]))
    assert len({r.phone for r in records}) > 0.95 * len(records)


def test_size_scales_with_the_province():
    sizes = {p: len(snapshot(SEED, p, "2025-06")) for p in ("440000", "320000", "540000", "460000")}
    assert min(sizes["440000"], sizes["320000"]) > 4 * max(sizes["540000"], sizes["460000"])


def test_divisions_follow_the_industrial_mix():
    counts = Counter(r.division_code for p in provinces() for r in snapshot(SEED, p, "2025-06"))
    common = sum(counts[d] for d, s in ENTERPRISE_SHARE.items() if s >= 5)
    rare = sum(counts[d] for d, s in ENTERPRISE_SHARE.items() if s < 1)
    assert common > 10 * rare > 0
    assert len(counts) >= 25


def test_changes_over_time_are_real():
    before, after = _by_uscc("440000", "2023-06"), _by_uscc("440000", "2025-06")
    new = after.keys() - before.keys()
    assert len(new) >= 5
    assert all(date(2023, 7, 1) <= after[u].registered_on <= date(2025, 6, 30) for u in new)
    deregistered = [u for u, r in after.items() if r.status == "deregistered"]
    gone = before.keys() - after.keys()
    assert deregistered and gone
    assert all(before[u].status == "deregistered" or u not in after for u in gone)

    def fields(r):
        return {k: v for k, v in r.model_dump().items() if k not in ("period", "updated_on")}

    changed = [u for u in before.keys() & after.keys() if fields(before[u]) != fields(after[u])]
    assert len(changed) >= 10
    for u in changed:
        assert before[u].updated_on < after[u].updated_on, u
        assert after[u].updated_on > date(2023, 6, 30)
    kinds = Counter(k for u in changed for k, v in fields(after[u]).items() if v != fields(before[u])[k])
    assert {"legal_representative", "phone", "size_class", "iot_adopted", "status"} <= set(kinds)
    unchanged = [u for u in before.keys() & after.keys() if u not in changed]
    assert unchanged and all(before[u].updated_on == after[u].updated_on for u in unchanged)


def test_adoption_rises_and_5g_starts_in_2019():
    for province in ("320000", "370000", "510000"):
        early, late = snapshot(SEED, province, "2019-01"), snapshot(SEED, province, "2025-12")
        assert _shares(early, "iot_adopted") + 0.2 < _shares(late, "iot_adopted") < 1
        assert _shares(early, "fiveg_adopted") == 0 < _shares(late, "fiveg_adopted")
        assert _shares(snapshot(SEED, province, "2022-06"), "fiveg_adopted") < _shares(late, "fiveg_adopted")
        assert all(r.iot_adopted for r in late if r.fiveg_adopted)


def test_a_deregistered_enterprise_stays_listed_for_twelve_months_then_drops_out():
    gone = [e for e in registry(SEED, "330000") if e.deregistered_on and e.deregistered_on.year == 2022]
    assert gone
    for e in gone:
        first = month_of(e.deregistered_on)
        last_listed = add_months(first, DEREGISTERED_LISTED_MONTHS - 1)
        dropped = add_months(first, DEREGISTERED_LISTED_MONTHS)
        rec = _by_uscc("330000", first)[e.uscc]
        assert rec.status == "deregistered" and rec.updated_on == e.deregistered_on
        assert _by_uscc("330000", last_listed)[e.uscc].status == "deregistered"
        assert e.uscc not in _by_uscc("330000", dropped)
        if e.deregistered_on.month > 1:
            assert _by_uscc("330000", add_months(first, -1))[e.uscc].status == "active"


def test_revisions_do_not_apply_to_a_registry():
    table = DATASETS["enterprises"].truth(SEED, "370000", "2025-06", {})
    assert table.num_rows == len(snapshot(SEED, "370000", "2025-06"))
    assert set(table.column("iot_adopted").to_pylist()) <= {"true", "false"}
    with pytest.raises(ValueError, match="snapshot"):
        DATASETS["enterprises"].truth(SEED, "370000", "2025-06", {"2025-05": 1})


def test_telemetry_devices_belong_to_active_iot_enterprises_of_the_month():
    day = date(2025, 6, 3)
    table = telemetry_table(SEED, "370000", day, devices=300)
    assert table.num_rows == 300 * 24
    listed = _by_uscc("370000", "2025-06")
    codes = Counter(table.column("enterprise_code").to_pylist())
    for code in codes:
        assert listed[code].status == "active" and listed[code].iot_adopted
    # Spread over (nearly) all connected enterprises, larger ones holding more devices.
    assert len(codes) == len(connected(SEED, "370000", day)) > 20
    by_size = {s: [n for c, n in codes.items() if listed[c].size_class == s] for s in ("micro", "large")}
    assert max(by_size["micro"]) < min(by_size["large"])
    # Before the registry has any connected enterprise there is no telemetry.
    assert telemetry_table(SEED, "540000", date(1995, 1, 1), devices=10).num_rows == 0


def test_snapshot_shows_the_last_version_on_or_before_the_month_end():
    enterprises = [e for e in registry(SEED, "440000") if len(e.versions) >= 4][:5]
    assert enterprises
    for e in enterprises:
        for day in e.version_days:
            d = date.fromordinal(day)
            period = f"{d.year}-{d.month:02d}"
            rec = _by_uscc("440000", period)[e.uscc]
            latest = max(
                (v for x, v in zip(e.version_days, e.versions, strict=True) if x <= month_end(period).toordinal()),
                key=lambda v: v.updated_on,
            )
            assert (rec.updated_on, rec.phone, rec.size_class, rec.status) == (
                latest.updated_on,
                latest.phone,
                latest.size_class,
                latest.status,
            )
