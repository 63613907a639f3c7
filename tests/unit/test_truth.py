from decimal import Decimal

import pytest

from ibdc.reference import crude_steel_2018, products, provinces, provincial_shares
from ibdc_dev.simulator.truth import annual_output, monthly_output, published_output

SEED = 20260101


def test_same_seed_same_data_other_seed_other_data():
    a = published_output(SEED, "320000", "2024-05")
    assert a == published_output(SEED, "320000", "2024-05")
    assert a != published_output(SEED + 1, "320000", "2024-05")


def test_crude_steel_2018_equals_nbs_figures_for_every_province():
    nbs = crude_steel_2018()
    for code in provinces():
        december = {r.product_code: r for r in published_output(SEED, code, "2018-12")}
        if code in nbs:
            assert december["crude_steel"].cumulative == nbs[code], code
            assert sum(monthly_output(SEED, "crude_steel", code, 2018)) == nbs[code]
        else:  # Beijing, Hainan, Tibet report none, and publish no row
            assert "crude_steel" not in december, code
    assert set(provinces()) - set(nbs) == {"110000", "460000", "540000"}


@pytest.mark.parametrize("product", sorted(products()))
def test_months_add_up_to_the_year_and_national_scale_holds(product):
    ref = products()[product]
    year = ref.reference_year
    total = Decimal(0)
    for code in provinces():
        months = monthly_output(SEED, product, code, year)
        assert sum(months) == annual_output(SEED, product, code, year)
        assert all(m >= 0 for m in months)
        total += sum(months)
    # Provincial noise is +-5%, so the national sum stays within 5% of the reference total.
    assert abs(total - ref.national_annual) <= ref.national_annual * Decimal("0.05")


def test_january_folded_into_february_and_cumulative_is_year_to_date():
    assert published_output(SEED, "440000", "2025-01") == []
    feb = {r.product_code: r for r in published_output(SEED, "440000", "2025-02")}
    assert feb
    for code, rec in feb.items():
        months = monthly_output(SEED, code, "440000", 2025)
        # The January-February release: the year to date only, no current-month value.
        assert rec.current_month is None
        assert rec.cumulative == months[0] + months[1]
    jul = {r.product_code: r for r in published_output(SEED, "440000", "2025-07")}
    for code, rec in jul.items():
        months = monthly_output(SEED, code, "440000", 2025)
        assert rec.current_month == months[6]
        assert rec.cumulative == sum(months[:7])


def test_a_province_that_produces_nothing_of_a_product_reports_none():
    producers = {
        code
        for code in provinces()
        if any(r.product_code == "mobile_phones" for r in published_output(SEED, code, "2024-06"))
    }
    assert len(producers) == products()["mobile_phones"].producing_provinces


def test_provinces_named_by_nbs_hold_their_share_and_small_provinces_make_few_products():
    for product, named in provincial_shares().items():
        year = products()[product].reference_year
        national = sum(annual_output(SEED, product, code, year) for code in provinces())
        for code, share in named.items():
            # The province's share, within the +-5% noise every province-year carries.
            assert abs(annual_output(SEED, product, code, year) / national - share) <= share * Decimal("0.1"), (
                product,
                code,
            )

    def made(code: str) -> int:
        return sum(bool(annual_output(SEED, p, code, products()[p].reference_year)) for p in products())

    # Tibet (the smallest manufacturing) makes fewer catalogue products than Jiangsu (the largest).
    assert made("540000") < made("320000") == len(products())
    assert not annual_output(SEED, "mobile_phones", "540000", 2020)


def test_products_spread_like_another_have_its_producers():
    for code, product in products().items():
        if product.shares_like:
            producers = [p for p in provinces() if annual_output(SEED, code, p, product.reference_year)]
            assert len(producers) == product.producing_provinces, code


def test_output_is_published_under_nbs_names_and_before_the_crosswalk_under_the_catalogues():
    from ibdc_dev.simulator.datasets import industrial_output

    names = {r["product_code"]: r["product_name"] for r in industrial_output(7, "440000", "2024-05", {}).to_pylist()}
    assert names["mobile_phones"] == "移动通信手持机（手机）"
    before = {r["product_code"]: r["product_name"] for r in industrial_output(7, "440000", "2017-05", {}).to_pylist()}
    assert before["mobile_phones"] == "手机" and before["crude_steel"] == "粗钢"
