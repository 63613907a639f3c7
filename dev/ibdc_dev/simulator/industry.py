"""The provinces' industrial structure, shared by the electricity and enterprise-registry truths.

How big each province's manufacturing is, and how much of the national activity of each GB/T 4754
division it holds. Divisions that make products of the monthly output catalogue follow the
provinces' simulated output of those products (:mod:`ibdc_dev.simulator.truth`: crude steel for ferrous
metals, the ten non-ferrous metals, cement and flat glass, ethylene, refined oil, cars, chips and
phones, solar cells, robots); the rest of a division's activity, and divisions without such products,
follow the province's size with a province-and-division affinity drawn from the seed, so that the
mix of divisions differs from province to province.

A province's size is a calibration assumption (``truth.PROVINCE_WEIGHT``), not a published figure;
the output truth spreads the catalogue products over provinces by it too.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal

from ibdc.reference import divisions, provinces
from ibdc_dev.simulator.truth import annual_output, province_size

# Division -> products of the output catalogue (and their weights) whose provincial spread it follows.
PRODUCT_LINKS: dict[str, dict[str, float]] = {
    "25": {"crude_oil_processed": 1.0},
    "26": {"ethylene": 1.0},
    "30": {"cement": 0.7, "flat_glass": 0.3},
    "31": {"crude_steel": 1.0},
    "32": {"nonferrous_10": 1.0},
    "34": {"industrial_robots": 1.0},
    "36": {"automobiles": 1.0},
    "38": {"solar_cells": 1.0},
    "39": {"integrated_circuits": 0.3, "mobile_phones": 0.3, "microcomputers": 0.4},
}
PRODUCT_WEIGHT = 0.75  # share of a linked division's activity that follows its products
# A province's affinity for a division: lognormal, clipped, so no province's mix is freakish.
AFFINITY_SIGMA = 0.4
AFFINITY_RANGE = (0.4, 2.5)


def rng(*parts: object) -> random.Random:
    # str seeds hash with SHA-512 inside random.Random: stable across processes and PYTHONHASHSEED.
    return random.Random(":".join(str(p) for p in parts))


def spread(total: Decimal, weights: Mapping[str, float] | Mapping[int, float], quantum: Decimal) -> dict:
    """``total`` split in proportion to ``weights``, each part a multiple of ``quantum``.

    Cumulative rounding (part k = round(total x cumulative share up to k) - the same up to k-1): the
    parts add up to ``total`` exactly and none is negative.
    """
    keys = sorted(weights)
    whole = sum(Decimal(repr(weights[k])) for k in keys)
    parts, running, previous = {}, Decimal(0), Decimal(0)
    for i, k in enumerate(keys):
        running += Decimal(repr(weights[k]))
        upto = total if i == len(keys) - 1 else (total * running / whole).quantize(quantum, ROUND_HALF_EVEN)
        parts[k] = upto - previous
        previous = upto
    return parts


@functools.cache
def product_shares(seed: int, product_code: str, year: int) -> dict[str, float]:
    """Each province's share of the national output of a product in a year."""
    values = {code: float(annual_output(seed, product_code, code, year)) for code in provinces()}
    total = sum(values.values())
    return {code: v / total for code, v in values.items()}


@functools.cache
@functools.cache
def affinity(seed: int) -> dict[tuple[str, str], float]:
    """(province, division) -> the province's lasting affinity for the division (lognormal, clipped)."""
    lo, hi = AFFINITY_RANGE
    r = rng(seed, "affinity")
    return {
        (p, d): min(max(r.lognormvariate(0, AFFINITY_SIGMA), lo), hi) for p in sorted(provinces()) for d in divisions()
    }


@functools.cache
def division_shares(seed: int, year: int) -> dict[str, dict[str, float]]:
    """Division -> province -> the province's share of the division's national activity (sums to 1)."""
    size, lasting = province_size(), affinity(seed)
    r = rng(seed, "affinity", year)  # this year's +-5% around the lasting affinity
    out = {}
    for division in divisions():
        weights = {
            code: size[code] * lasting[code, division] * (1 + r.uniform(-0.05, 0.05)) for code in sorted(provinces())
        }
        total = sum(weights.values())
        generic = {code: w / total for code, w in weights.items()}
        links = PRODUCT_LINKS.get(division)
        if links:
            linked = {code: sum(w * product_shares(seed, p, year)[code] for p, w in links.items()) for code in generic}
            weight = sum(links.values())
            out[division] = {
                code: PRODUCT_WEIGHT * linked[code] / weight + (1 - PRODUCT_WEIGHT) * generic[code] for code in generic
            }
        else:
            out[division] = generic
    return out
