"""Deterministic ground truth of the simulated provincial sources.

The same seed, province, dataset and period always give the same figures. Calibration: the 2018 crude
steel annual totals by province equal the NBS figures; other products are spread over their producing
provinces from a national reference total: the provinces NBS figures name hold their published share
(``reference/nbs_provincial_shares.csv``), the other producers are drawn by the size of their
manufacturing and share the rest by it. Monthly values always add up exactly to the annual value.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ibdc.periods import parse_period
from ibdc.reference import Product, crude_steel_2018, products, provinces, provincial_shares

# Share of the annual output produced in each month (NBS-like: low in the Spring Festival months).
SEASONAL = (0.070, 0.066, 0.084, 0.083, 0.086, 0.087, 0.084, 0.083, 0.085, 0.086, 0.087, 0.099)
CRUDE_STEEL_CALIBRATION_YEAR = 2018
# Relative size of each province's manufacturing: roughly its industrial value added around 2022 in
# 100m yuan, rounded (an assumption for spreading activity over provinces, not a published figure).
PROVINCE_WEIGHT: dict[str, int] = {
    "110000": 5000, "120000": 5500, "130000": 14000, "140000": 12000, "150000": 9000,
    "210000": 9000, "220000": 3500, "230000": 3500, "310000": 11000, "320000": 48000,
    "330000": 26000, "340000": 13000, "350000": 19000, "360000": 11000, "370000": 28000,
    "410000": 19500, "420000": 16000, "430000": 14000, "440000": 47500, "450000": 6500,
    "460000": 800, "500000": 8000, "510000": 16000, "520000": 5500, "530000": 6000,
    "540000": 200, "610000": 12000, "620000": 2800, "630000": 1000, "640000": 1500,
    "650000": 5000,
}  # fmt: skip


def _rng(*parts: object) -> random.Random:
    # str seeds hash with SHA-512 inside random.Random: stable across processes and PYTHONHASHSEED.
    return random.Random(":".join(str(p) for p in parts))


def province_size() -> dict[str, float]:
    """Each province's share of national manufacturing (``PROVINCE_WEIGHT`` normalised)."""
    if set(PROVINCE_WEIGHT) != set(provinces()):
        raise ValueError("PROVINCE_WEIGHT must give every province a weight")
    total = sum(PROVINCE_WEIGHT.values())
    return {code: w / total for code, w in PROVINCE_WEIGHT.items()}


def _quantum(product: Product) -> Decimal:
    return Decimal("1") if product.unit_factor == 1 else Decimal("0.01")


@functools.cache
def _province_weights(seed: int, product_code: str) -> dict[str, float]:
    """Producing provinces of a product and their share of national output."""
    like = products()[product_code].shares_like
    if like:
        return _province_weights(seed, like)
    if product_code == "crude_steel":
        steel = crude_steel_2018()
        total = sum(steel.values())
        return {code: float(v / total) for code, v in steel.items()}
    # The provinces NBS names hold their published shares; the other producers are drawn by the size
    # of their manufacturing (a small one rarely makes a product few provinces make), and share the
    # rest in proportion to their size, each with its own lognormal specialisation.
    product = products()[product_code]
    anchored = {code: float(share) for code, share in provincial_shares().get(product_code, {}).items()}
    rng = _rng(seed, "producers", product_code)
    size = province_size()
    draw = {code: rng.random() ** (1 / size[code]) for code in sorted(size) if code not in anchored}
    others = sorted(draw, key=draw.get, reverse=True)[: product.producing_provinces - len(anchored)]
    weights = {code: size[code] * rng.lognormvariate(0, 0.75) for code in others}
    rest, total = 1 - sum(anchored.values()), sum(weights.values())
    return {**anchored, **{code: rest * w / total for code, w in weights.items()}}


@functools.cache
def annual_output(seed: int, product_code: str, province: str, year: int) -> Decimal:
    """Annual output in the product's NBS unit; zero where the province does not produce it."""
    product = products()[product_code]
    q = _quantum(product)
    if product_code == "crude_steel" and year == CRUDE_STEEL_CALIBRATION_YEAR:
        return crude_steel_2018().get(province, Decimal(0))
    share = _province_weights(seed, product_code).get(province)
    if not share:
        return Decimal(0)
    base_year = CRUDE_STEEL_CALIBRATION_YEAR if product_code == "crude_steel" else product.reference_year
    noise = 1 + _rng(seed, "annual", product_code, province, year).uniform(-0.05, 0.05)
    value = float(product.national_annual) * share * (1 + product.annual_growth) ** (year - base_year) * noise
    return Decimal(repr(value)).quantize(q, ROUND_HALF_EVEN)


@functools.cache
def monthly_output(seed: int, product_code: str, province: str, year: int) -> tuple[Decimal, ...]:
    """Twelve monthly values summing exactly to the annual output."""
    annual = annual_output(seed, product_code, province, year)
    if not annual:
        return (Decimal(0),) * 12
    q = _quantum(products()[product_code])
    rng = _rng(seed, "months", product_code, province, year)
    shares = [s * (1 + rng.uniform(-0.03, 0.03)) for s in SEASONAL]
    total = sum(shares)
    months = [(annual * Decimal(repr(s / total))).quantize(q, ROUND_HALF_EVEN) for s in shares[:11]]
    months.append(annual - sum(months))
    return tuple(months)


@dataclass(frozen=True)
class OutputRecord:
    """One published figure, NBS style: the current-month value and the year-to-date cumulative.

    ``current_month`` is None in February: the January-February release carries the year-to-date
    figure only (``cumulative``, January and February together)."""

    province_code: str
    period: str  # YYYY-MM
    product_code: str
    unit_code: str
    current_month: Decimal | None
    cumulative: Decimal


def revise(months: tuple[Decimal, ...], year: int, revised: Mapping[str, Decimal], q: Decimal) -> tuple[Decimal, ...]:
    """Monthly figures after revisions (``YYYY-MM`` -> factor) of months of ``year``."""
    out = list(months)
    for period, factor in revised.items():
        y, m = parse_period(period)
        if y == year:
            out[m - 1] = (out[m - 1] * factor).quantize(q, ROUND_HALF_EVEN)
    return tuple(out)


def published_output(
    seed: int, province: str, period: str, revised: Mapping[str, Decimal] | None = None
) -> list[OutputRecord]:
    """What the province publishes for a month, on the NBS calendar (since 2013): January and February
    are released together, so January publishes nothing and February only the January-February
    year-to-date figure, its current-month value missing (None); every later month both figures.

    ``revised`` (``YYYY-MM`` -> factor) revises earlier months: their figures change, and so do the
    year-to-date figures of the months after them.
    """
    year, month = parse_period(period)
    if month == 1:
        return []
    records = []
    for code, product in products().items():
        months = revise(monthly_output(seed, code, province, year), year, revised or {}, _quantum(product))
        cumulative = sum(months[:month], Decimal(0))
        if not cumulative:
            continue  # a province that produces none reports none
        current = None if month == 2 else months[month - 1]
        records.append(OutputRecord(province, period, code, product.unit_code, current, cumulative))
    return records
