from decimal import Decimal

import pytest

from ibdc.reference import crude_steel_2018, divisions, manufacturing_electricity_2022, provinces
from ibdc_dev.simulator.datasets import DATASETS
from ibdc_dev.simulator.electricity import (
    annual_consumption,
    monthly_consumption,
    national_consumption,
    published,
    published_consumption,
)

SEED = 20260101
TEN_K_PER_100M = Decimal(10_000)


def _by_division(records):
    return {r.division_code: r for r in records}


def test_same_seed_same_data_other_seed_other_data():
    a = published_consumption(SEED, "370000", "2024-05")
    assert a == published_consumption(SEED, "370000", "2024-05")
    assert a != published_consumption(SEED + 1, "370000", "2024-05")
    assert len(a) == len(divisions()) == 31


def test_national_2022_equals_the_cec_figures_group_by_group():
    *groups, total = manufacturing_electricity_2022()
    cells = annual_consumption(SEED, 2022)
    assert sum(cells.values()) == total.consumption_100m_kwh * TEN_K_PER_100M == Decimal(424_140_000)
    for g in groups:
        simulated = sum(cells[p, d] for p in provinces() for d in g.divisions)
        assert simulated == g.consumption_100m_kwh * TEN_K_PER_100M, g.group
    # Other years follow the groups' trends: a few percent a year, not a jump.
    for year in (2020, 2023, 2025):
        ratio = sum(annual_consumption(SEED, year).values()) / sum(cells.values())
        assert Decimal("0.9") ** abs(year - 2022) < ratio < Decimal("1.1") ** abs(year - 2022), year


def test_published_national_total_stays_close_to_the_calibration():
    """Unpublished cells are a small part of the total: what the provinces publish for December
    adds up to within 10% of the CEC figure."""
    total = manufacturing_electricity_2022()[-1].consumption_100m_kwh * TEN_K_PER_100M
    published_total = sum(
        r.cumulative for p in provinces() for r in published_consumption(SEED, p, "2022-12") if r.cumulative is not None
    )
    assert total * Decimal("0.9") < published_total <= total


@pytest.mark.parametrize("province", ["130000", "440000", "540000"])
def test_months_add_up_to_the_year_and_december_cumulative_is_the_year(province):
    cells = annual_consumption(SEED, 2024)
    december = _by_division(published_consumption(SEED, province, "2024-12"))
    for division in divisions():
        months = monthly_consumption(SEED, province, division, 2024)
        assert len(months) == 12 and all(m >= 0 for m in months)
        assert sum(months) == cells[province, division]
        if december[division].cumulative is not None:
            assert december[division].cumulative == cells[province, division]


def test_cells_of_a_division_add_up_to_its_national_total():
    cells = annual_consumption(SEED, 2019)
    for division, national in national_consumption(2019).items():
        assert sum(cells[p, division] for p in provinces()) == national


def test_january_folded_into_february_and_cumulative_is_year_to_date():
    assert published_consumption(SEED, "320000", "2025-01") == []
    assert DATASETS["electricity_consumption"].truth(SEED, "320000", "2025-01", {}).num_rows == 0
    feb = _by_division(published_consumption(SEED, "320000", "2025-02"))
    jul = _by_division(published_consumption(SEED, "320000", "2025-07"))
    checked = 0
    for division in divisions():
        if feb[division].cumulative is None:
            continue
        months = monthly_consumption(SEED, "320000", division, 2025)
        assert feb[division].consumption == feb[division].cumulative == months[0] + months[1]
        assert jul[division].consumption == months[6]
        assert jul[division].cumulative == sum(months[:7])
        checked += 1
    assert checked > 20


def test_unpublished_cells_are_none_in_both_fields_all_year_and_deterministic():
    unpublished = [(p, d) for p in provinces() for d in divisions() if not published(SEED, p, d, 2024)]
    # Some, not many: confidential or below the threshold.
    assert 0.01 * 961 < len(unpublished) < 0.15 * 961
    province, division = unpublished[0]
    for month in range(2, 13):
        rec = _by_division(published_consumption(SEED, province, f"2024-{month:02d}"))[division]
        assert rec.consumption is None and rec.cumulative is None
    table = DATASETS["electricity_consumption"].truth(SEED, province, "2024-06", {})
    rows = {r["division_code"]: r for r in table.to_pylist()}
    assert rows[division]["consumption"] is None and rows[division]["cumulative"] is None
    assert table.column("consumption").null_count == table.column("cumulative").null_count
    for p, d in [(p, d) for p in provinces() for d in divisions() if published(SEED, p, d, 2024)][:50]:
        rec = _by_division(published_consumption(SEED, p, "2024-06"))[d]
        assert rec.consumption is not None and rec.cumulative is not None
    assert unpublished == [(p, d) for p in provinces() for d in divisions() if not published(SEED, p, d, 2024)]


def test_division_mix_differs_by_province_and_follows_the_steel_calibration():
    cells = annual_consumption(SEED, 2018)
    national = national_consumption(2018)
    share = {p: cells[p, "31"] / sum(cells[p, d] for d in divisions()) for p in provinces()}
    national_share = national["31"] / sum(national.values())
    steel = crude_steel_2018()
    # Hebei, a quarter of China's crude steel, spends far more of its electricity on ferrous metals.
    assert share["130000"] > 2 * national_share
    assert max(steel, key=steel.get) == max(share, key=share.get) == "130000"
    tops = {max(divisions(), key=lambda d, p=p: cells[p, d]) for p in provinces()}
    assert len(tops) >= 4


def test_revision_changes_the_month_and_later_cumulatives_only():
    before = _by_division(published_consumption(SEED, "440000", "2025-06"))
    feb_before = _by_division(published_consumption(SEED, "440000", "2025-02"))
    revised = {"2025-03": Decimal("1.10")}
    after = _by_division(published_consumption(SEED, "440000", "2025-06", revised))
    march = _by_division(published_consumption(SEED, "440000", "2025-03", revised))
    assert _by_division(published_consumption(SEED, "440000", "2025-02", revised)) == feb_before
    changed = 0
    for division, rec in after.items():
        if rec.cumulative is None:
            continue
        months = monthly_consumption(SEED, "440000", division, 2025)
        new_march = (months[2] * Decimal("1.10")).quantize(Decimal("0.01"))
        assert march[division].consumption == new_march
        assert rec.consumption == before[division].consumption  # June itself is not revised
        assert rec.cumulative - before[division].cumulative == new_march - months[2]
        changed += rec.cumulative != before[division].cumulative
    assert changed > 20
