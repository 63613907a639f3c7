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


@dataclass(frozen=True)
class Division:
    code: str
    name_zh: str
    name_en: str
    miit_sector: str


@functools.cache
def divisions() -> dict[str, Division]:
    """GB/T 4754-2017 manufacturing divisions 13-43 keyed by their two-digit code (text)."""
    return {
        r["division_code"]: Division(r["division_code"], r["name_zh"], r["name_en"], r["miit_sector"])
        for r in _rows("gbt4754_2017_manufacturing_divisions.csv")
    }


@dataclass(frozen=True)
class City:
    adcode: str  # GB/T 2260 code of the registration area (prefecture-level city; a district in a municipality)
    province: str
    unit_zh: str  # the area's own name (济南市, 朝阳区)
    city_zh: str  # the prefecture-level city it belongs to (济南市; 北京市 for a Beijing district)
    short_zh: str  # the place word in company names (济南, 北京)


@functools.cache
def cities() -> dict[str, tuple[City, ...]]:
    """A few real prefecture-level cities (districts, in the municipalities) per province, the
    provincial capital first: the registration areas of the simulated enterprise registry."""
    out: dict[str, list[City]] = {}
    for r in _rows("prefecture_cities.csv"):
        city = City(r["adcode"], r["province_adcode"], r["unit_zh"], r["city_zh"], r["short_zh"])
        out.setdefault(city.province, []).append(city)
    return {code: tuple(cs) for code, cs in out.items()}


@dataclass(frozen=True)
class ElectricityGroup:
    group: str
    name_zh: str
    divisions: tuple[str, ...]
    year: int
    consumption_100m_kwh: Decimal  # 亿千瓦时
    derived: bool  # the total less the other groups, not a published figure of its own


@functools.cache
def manufacturing_electricity_2022() -> tuple[ElectricityGroup, ...]:
    """China Electricity Council (中电联): manufacturing electricity consumption in 2022 by CEC industry
    group (the four energy-intensive industries, high-tech and equipment, consumer goods, other), in
    100m kWh; the last row is the manufacturing total, which the groups add up to.

    Source: CEC 2022 annual figures as republished on 2023-01-30 (e.g. by6636.cn/yejie/2023/0130/26427.html):
    manufacturing 42414, chemical 5461, building materials 4017, ferrous 6090, non-ferrous 7452, consumer
    goods 5501, other manufacturing 4734. CEC does not give a high-tech and equipment total in that release:
    it is the manufacturing total less the other figures (9159; the four energy-intensive figures add to
    23020, one more than their published rounded total 23019)."""
    groups = tuple(
        ElectricityGroup(
            r["group"],
            r["name_zh"],
            tuple(r["divisions"].split()),
            int(r["year"]),
            Decimal(r["consumption_100m_kwh"]),
            r["derived"] == "true",
        )
        for r in _rows("cec_manufacturing_electricity_2022.csv")
    )
    *parts, total = groups
    covered = sorted(d for g in parts for d in g.divisions)
    if total.group != "manufacturing" or sum(g.consumption_100m_kwh for g in parts) != total.consumption_100m_kwh:
        raise ValueError("cec_manufacturing_electricity_2022.csv: the groups do not add up to the manufacturing total")
    if covered != sorted(total.divisions) or covered != sorted(divisions()):
        raise ValueError("cec_manufacturing_electricity_2022.csv: the groups do not cover divisions 13-43 once each")
    return groups


@functools.cache
def provincial_shares() -> dict[str, dict[str, Decimal]]:
    """Product -> province -> its published share of the national output (NBS figures that name a
    province; the simulator holds those provinces to them)."""
    shares: dict[str, dict[str, Decimal]] = {}
    for r in _rows("nbs_provincial_shares.csv"):
        shares.setdefault(r["product_code"], {})[r["adcode"]] = Decimal(r["share"])
    return shares


@dataclass(frozen=True)
class NbsIndicator:
    """One product's NBS indicator group and its two leaf codes, for one classification vintage."""

    product_code: str
    nbs_name: str
    group: str  # 7 characters: A020914 (crude steel); the parent group is its first 5 (A0209)
    current_month_zb: str  # group + 01 (当期值)
    year_to_date_zb: str  # group + 02 (累计值)
    valid_from: str  # YYYY-MM: the first period the codes are used for
    valid_to: str | None  # YYYY-MM: the last one; None while current

    @property
    def parent(self) -> str:
        return self.group[:5]

    def valid_for(self, period: str) -> bool:
        return self.valid_from <= period and (self.valid_to is None or period <= self.valid_to)


@functools.cache
def nbs_indicators() -> tuple[NbsIndicator, ...]:
    """Crosswalk of the product catalogue to NBS easyquery indicator codes, by vintage (NBS re-issues
    codes when a classification or base period changes). Source: group codes read from a recorded
    national ``getTree`` answer of data.stats.gov.cn; leaf codes are the group plus the measure
    (``01`` current month, ``02`` year to date)."""
    out = tuple(
        NbsIndicator(
            r["product_code"],
            r["nbs_name"],
            r["nbs_group"],
            r["current_month_zb"],
            r["year_to_date_zb"],
            r["valid_from"],
            r["valid_to"] or None,
        )
        for r in _rows("nbs_product_indicators.csv")
    )
    for i in out:
        if i.product_code not in products() or (i.current_month_zb, i.year_to_date_zb) != (
            i.group + "01",
            i.group + "02",
        ):
            raise ValueError(f"nbs_product_indicators.csv: bad row for {i.product_code}")
    return out
