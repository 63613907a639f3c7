"""Ground truth of monthly manufacturing electricity consumption by province and GB/T 4754 division.

Unit: 10k kWh (万千瓦时), two decimals. Calibration: the national totals of the China Electricity
Council's 2022 industry groups (:func:`ibdc.reference.manufacturing_electricity_2022`, manufacturing
42414 x 100m kWh) are met exactly in 2022; other years follow each group's trend growth. A group's
total is split over its divisions by fixed weights (an assumption), a division's national total over
the provinces by :func:`ibdc_dev.simulator.industry.division_shares` (electricity-intensive divisions
follow the provinces' output of steel, non-ferrous metals, cement, ethylene, ...), and a province's
annual figure over the months by a seasonal profile. Every split rounds cumulatively, so the cells of
a division add up exactly to its national total and the months exactly to the year.

NBS conventions: nothing is published for January (February carries January-February); a month's
record carries the current-month value and the year-to-date cumulative. Some (province, division)
cells are not published for a whole year: confidential (tobacco often, any division now and then) or
below the publication threshold; their record is served with both values missing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ibdc.periods import parse_period
from ibdc.reference import divisions, manufacturing_electricity_2022, provinces
from ibdc_dev.simulator.industry import division_shares, rng, spread
from ibdc_dev.simulator.truth import revise

QUANTUM = Decimal("0.01")
UNIT = "10k_kwh"
TEN_K_KWH_PER_100M_KWH = Decimal(10_000)

# Trend growth a year of each CEC group's consumption around the calibration year (an assumption in
# line with the groups' 2022-2023 growth: energy-intensive flat to slow, equipment and electronics fast).
GROUP_GROWTH = {
    "chemical": 0.04,
    "building_materials": -0.02,
    "ferrous": -0.01,
    "nonferrous": 0.03,
    "high_tech_equipment": 0.08,
    "consumer_goods": 0.02,
    "other_manufacturing": 0.05,
}
# How a group's consumption splits over its divisions (an assumption: textiles, paper and food lead the
# consumer goods; metal products, electronics and electrical machinery the equipment group; refining and
# rubber / plastics the rest).
DIVISION_WEIGHT = {
    "13": 14, "14": 6, "15": 4, "16": 1, "17": 38, "18": 5, "19": 3, "20": 6, "21": 2.5, "22": 14,
    "23": 2.5, "24": 4,
    "26": 1, "30": 1, "31": 1, "32": 1,
    "27": 8, "33": 22, "34": 12, "35": 7, "36": 13, "37": 3, "38": 15, "39": 18, "40": 2,
    "25": 40, "28": 17, "29": 33, "41": 3, "42": 5, "43": 2,
}  # fmt: skip
# Manufacturing's monthly profile (Spring Festival low in January-February, summer and December high).
SEASONAL = (0.077, 0.070, 0.088, 0.084, 0.086, 0.085, 0.087, 0.088, 0.084, 0.080, 0.084, 0.087)
SEASONAL_JITTER = 0.04
# A (province, division) cell is not published in a year when below this annual consumption...
PUBLICATION_THRESHOLD = Decimal(2000)  # 10k kWh = 20 GWh
# ... or confidential: always possible, tobacco (a state monopoly with few plants) often.
CONFIDENTIAL_SHARE = 0.03
CONFIDENTIAL_SHARE_BY_DIVISION = {"16": 0.5}


@functools.cache
def national_consumption(year: int) -> dict[str, Decimal]:
    """Division -> national annual consumption in 10k kWh (the CEC groups' figures in 2022)."""
    *groups, _total = manufacturing_electricity_2022()
    out: dict[str, Decimal] = {}
    for g in groups:
        growth = (1 + GROUP_GROWTH[g.group]) ** (year - g.year)
        total = (g.consumption_100m_kwh * TEN_K_KWH_PER_100M_KWH * Decimal(repr(growth))).quantize(
            QUANTUM, ROUND_HALF_EVEN
        )
        out.update(spread(total, {d: DIVISION_WEIGHT[d] for d in g.divisions}, QUANTUM))
    return out


@functools.cache
def annual_consumption(seed: int, year: int) -> dict[tuple[str, str], Decimal]:
    """(province, division) -> annual consumption in 10k kWh; a division's cells add up to its total."""
    shares = division_shares(seed, year)
    out = {}
    for division, national in national_consumption(year).items():
        for province, value in spread(national, shares[division], QUANTUM).items():
            out[province, division] = value
    return out


@functools.cache
def monthly_consumption(seed: int, province: str, division: str, year: int) -> tuple[Decimal, ...]:
    """Twelve monthly values adding up exactly to the annual consumption."""
    annual = annual_consumption(seed, year)[province, division]
    r = rng(seed, "electricity-months", province, division, year)
    weights = {m: s * (1 + r.uniform(-SEASONAL_JITTER, SEASONAL_JITTER)) for m, s in enumerate(SEASONAL)}
    months = spread(annual, weights, QUANTUM)
    return tuple(months[m] for m in range(12))


@functools.cache
def published(seed: int, province: str, division: str, year: int) -> bool:
    """Whether the province publishes the division's figures in the year."""
    if annual_consumption(seed, year)[province, division] < PUBLICATION_THRESHOLD:
        return False
    share = CONFIDENTIAL_SHARE_BY_DIVISION.get(division, CONFIDENTIAL_SHARE)
    return rng(seed, "electricity-confidential", province, division, year).random() >= share


@dataclass(frozen=True)
class ConsumptionRecord:
    province_code: str
    period: str  # YYYY-MM
    division_code: str
    consumption: Decimal | None  # current month, 10k kWh (January-February in February)
    cumulative: Decimal | None  # year to date, 10k kWh


def published_consumption(
    seed: int, province: str, period: str, revised: Mapping[str, Decimal] | None = None
) -> list[ConsumptionRecord]:
    """What the province publishes for a month: one record per division, none in January.

    ``revised`` (``YYYY-MM`` -> factor) revises earlier months: their figures change, and so do the
    year-to-date figures of the months after them.
    """
    if province not in provinces():
        raise ValueError(f"unknown province {province!r}")
    year, month = parse_period(period)
    if month == 1:
        return []
    records = []
    for division in divisions():
        if not published(seed, province, division, year):
            records.append(ConsumptionRecord(province, period, division, None, None))
            continue
        months = revise(monthly_consumption(seed, province, division, year), year, revised or {}, QUANTUM)
        cumulative = sum(months[:month], Decimal(0))
        current = cumulative if month == 2 else months[month - 1]
        records.append(ConsumptionRecord(province, period, division, current, cumulative))
    return records
