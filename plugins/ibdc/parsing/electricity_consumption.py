"""Monthly manufacturing electricity consumption: served pages -> canonical records.

Canonical record: one (province, month, GB/T 4754 division) with the published current-month
consumption and year-to-date cumulative in 10k kWh (万千瓦时), also normalised to kWh, plus lineage.
A division the province does not publish (confidential or below the threshold) arrives with its values
missing: it is valid and loads with NULL values, so the warehouse can tell "not published" from "not
received". As for industrial output, deriving monthly figures from cumulatives is dbt's job.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from pydantic import BaseModel, field_validator, model_validator

from ibdc.landing.manifest import Manifest, ManifestObject
from ibdc.parsing.base import AsciiDecimal, DivisionCode, PageRows, Records, exact_product, validate_records
from ibdc.periods import parse_period
from ibdc.schemas import ELECTRICITY_CONSUMPTION

UNIT = ELECTRICITY_CONSUMPTION.field("consumption").unit  # 10k_kwh
KWH_PER_UNIT = Decimal(10_000)


class ConsumptionRecord(BaseModel, frozen=True):
    province_code: str
    period: str
    division_code: DivisionCode
    division_name: str | None = None
    consumption: AsciiDecimal | None
    cumulative: AsciiDecimal | None

    @field_validator("consumption", "cumulative")
    @classmethod
    def _non_negative(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and (not v.is_finite() or v < 0):
            raise ValueError(f"must be a non-negative number of 10k kWh, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ConsumptionRecord:
        if self.consumption is not None and self.cumulative is not None and self.consumption > self.cumulative:
            raise ValueError(f"current month {self.consumption} exceeds cumulative {self.cumulative}")
        return self


SCHEMA = pa.schema(
    [
        ("division_code", pa.string()),
        ("consumption_10k_kwh", pa.string()),  # numerics as exact decimal text; null = not published
        ("cumulative_10k_kwh", pa.string()),
        ("consumption_kwh", pa.string()),
        ("cumulative_kwh", pa.string()),
        ("record_position", pa.int32()),
    ]
)


def _text(value: Decimal | None, factor: Decimal = Decimal(1)) -> str | None:
    return None if value is None else format(exact_product(value, factor), "f")


def _row(rec: ConsumptionRecord, position: int) -> dict:
    return {
        "division_code": rec.division_code,
        "consumption_10k_kwh": _text(rec.consumption),
        "cumulative_10k_kwh": _text(rec.cumulative),
        "consumption_kwh": _text(rec.consumption, KWH_PER_UNIT),
        "cumulative_kwh": _text(rec.cumulative, KWH_PER_UNIT),
        "record_position": position,
    }


def validate(manifest: Manifest, obj: ManifestObject, records: Records) -> PageRows:
    parse_period(manifest.period)
    return validate_records(ConsumptionRecord, _row, SCHEMA, manifest, obj, records)
