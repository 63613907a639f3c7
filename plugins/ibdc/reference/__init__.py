"""Code lists and published figures the platform is calibrated on (copied from the NBS / GB/T tables).

The CSV files in this folder are also the dbt seeds (``dbt_project.yml`` points its seed path here),
so the simulator, the parser's validation and the warehouse share one copy.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent


def _rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE_DIR / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Province:
    code: str
    name_zh: str
    name_en: str
    division_type: str


@dataclass(frozen=True)
class Product:
    code: str
    name_zh: str
    name_en: str
    unit_code: str
    unit_zh: str
    base_unit: str
    unit_factor: Decimal
    national_annual: Decimal
    reference_year: int
    producing_provinces: int
    annual_growth: float
    shares_like: str | None  # spread over provinces like this product (steel chain follows crude steel)


@functools.cache
def provinces() -> dict[str, Province]:
    """The 31 mainland provincial-level divisions keyed by GB/T 2260 code (text, 6 digits)."""
    return {
        r["adcode"]: Province(r["adcode"], r["name_zh"], r["name_en"], r["division_type"])
        for r in _rows("provinces.csv")
    }


@functools.cache
def products() -> dict[str, Product]:
    """The product catalogue of the monthly industrial output dataset, in NBS units."""
    return {
        r["product_code"]: Product(
            code=r["product_code"],
            name_zh=r["name_zh"],
            name_en=r["name_en"],
            unit_code=r["unit_code"],
            unit_zh=r["unit_zh"],
            base_unit=r["base_unit"],
            unit_factor=Decimal(r["unit_factor"]),
            national_annual=Decimal(r["national_annual"]),
            reference_year=int(r["reference_year"]),
            producing_provinces=int(r["producing_provinces"]),
            annual_growth=float(r["annual_growth"]),
            shares_like=r["shares_like"] or None,
        )
        for r in _rows("products.csv")
    }


@functools.cache
def crude_steel_2018() -> dict[str, Decimal]:
    """NBS 2018 crude steel output by province in 10k tonnes; absent provinces report none."""
    return {r["adcode"]: Decimal(r["crude_steel_10k_tonnes"]) for r in _rows("nbs_crude_steel_2018_by_province.csv")}
