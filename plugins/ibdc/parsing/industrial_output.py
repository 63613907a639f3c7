"""Monthly output of major industrial products: served pages -> canonical records.

Canonical record: one (province, month, product) with the published current-month value and
year-to-date cumulative in the product's NBS unit and normalised to the base unit (tonne, kWh, unit,
...; the factor comes from the product catalogue), plus lineage (source object, version, position).

The NBS calendar (since 2013): January and February are released together. January publishes
nothing; February publishes the January-February year-to-date figure, with no current-month value.
So a record without a current-month value is valid in February (the value stays missing: NULL in
raw) and quarantined in any other month. A February record with both figures is kept as published
(some provincial portals print January-February as February's current month).

Cumulative -> monthly derivation is left to dbt (intermediate: int_industrial_output_month_figures),
where a province's whole year is at hand: a load replaces one (province, month) partition and cannot
see the previous month's cumulative, and a revision of an earlier month must change the derived figures
of the months after it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ValidationInfo, field_validator, model_validator

from ibdc.landing.manifest import Manifest, ManifestObject
from ibdc.parsing.base import AsciiDecimal, PageRows, Records, exact_product, shown, validate_records
from ibdc.periods import parse_period
from ibdc.reference import products

# The month whose release carries the year-to-date figure alone (January and February together).
JANUARY_FEBRUARY_RELEASE = 2


class OutputRecord(BaseModel, frozen=True):
    province_code: str
    period: str
    product_code: str
    unit: str
    current_month: AsciiDecimal | None  # missing in the January-February release only (see _calendar)
    cumulative: AsciiDecimal  # ASCII digits only, as every numeric field (ibdc.parsing.base)

    @field_validator("current_month", "cumulative")
    @classmethod
    def _non_negative(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0:
            raise ValueError(f"output must be a non-negative number, got {v}")
        return v

    @field_validator("product_code")
    @classmethod
    def _known_product(cls, v: str) -> str:
        if v not in products():
            raise ValueError(f"unknown product code {shown(v)}")
        return v

    @field_validator("current_month", mode="wrap")
    @classmethod
    def _calendar(cls, v: Any, handler: Any, info: ValidationInfo) -> Any:
        """A missing current-month value is what February publishes; in any other month the record is
        incomplete. (Defined after the other validators of the field: it wraps them, so they never
        see a missing value.)"""
        if v is not None:
            return handler(v)
        try:
            _, month = parse_period(info.data.get("period") or "")
        except ValueError:
            return None  # the period itself is wrong: the partition check rejects the record
        if month != JANUARY_FEBRUARY_RELEASE:
            raise ValueError(
                f"current-month value missing outside the January-February release (period {info.data['period']})"
            )
        return None

    @model_validator(mode="after")
    def _consistent(self) -> OutputRecord:
        expected_unit = products()[self.product_code].unit_code
        if self.unit != expected_unit:
            raise ValueError(f"unit {shown(self.unit)} for {self.product_code}, catalogue says {expected_unit!r}")
        if self.current_month is not None and self.current_month > self.cumulative:
            raise ValueError(f"current month {self.current_month} exceeds cumulative {self.cumulative}")
        return self


SCHEMA = pa.schema(
    [
        ("product_code", pa.string()),
        ("unit_code", pa.string()),
        ("value_current_month", pa.string()),  # numerics as exact decimal text
        ("value_cumulative", pa.string()),
        ("base_unit", pa.string()),
        ("value_current_month_base", pa.string()),
        ("value_cumulative_base", pa.string()),
        ("record_position", pa.int32()),
    ]
)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _times(value: Decimal | None, factor: Decimal) -> Decimal | None:
    """In the base unit, exactly (a bounded value times the catalogue's factor; never rounded)."""
    return None if value is None else exact_product(value, factor)


def _row(rec: OutputRecord, position: int) -> dict:
    product = products()[rec.product_code]
    return {
        "product_code": rec.product_code,
        "unit_code": rec.unit,
        "value_current_month": _text(rec.current_month),
        "value_cumulative": _text(rec.cumulative),
        "base_unit": product.base_unit,
        "value_current_month_base": _text(_times(rec.current_month, product.unit_factor)),
        "value_cumulative_base": _text(_times(rec.cumulative, product.unit_factor)),
        "record_position": position,
    }


def validate(manifest: Manifest, obj: ManifestObject, records: Records) -> PageRows:
    parse_period(manifest.period)
    return validate_records(OutputRecord, _row, SCHEMA, manifest, obj, records)
