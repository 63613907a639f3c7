"""The simulated datasets: each one's ground truth for a (province, period) as canonical records.

A truth function takes ``(seed, province, period, revised)`` and returns a string table with the
schema's fields (see :mod:`ibdc.schemas`); ``revised`` maps ``YYYY-MM`` -> factor for the months a
``revision`` fault has revised (datasets without revisable figures ignore it only when empty).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa

from ibdc.formats.base import table_from_records
from ibdc.periods import parse_day
from ibdc.reference import divisions, nbs_indicators, products
from ibdc.schemas import (
    ELECTRICITY_CONSUMPTION,
    ENTERPRISES,
    EQUIPMENT_TELEMETRY,
    INDUSTRIAL_OUTPUT,
    RecordSchema,
    canonical_text,
)
from ibdc.settings import get_settings
from ibdc_dev.simulator.electricity import published_consumption
from ibdc_dev.simulator.enterprises import snapshot
from ibdc_dev.simulator.telemetry import telemetry_table
from ibdc_dev.simulator.truth import published_output

TruthFn = Callable[[int, str, str, Mapping[str, Decimal]], pa.Table]


@dataclass(frozen=True)
class SimulatedDataset:
    schema: RecordSchema
    truth: TruthFn


def _records_table(schema: RecordSchema, records: list[dict]) -> pa.Table:
    return table_from_records(
        schema, [{f.name: canonical_text(f.kind, r[f.name]) for f in schema.fields} for r in records]
    )


def industrial_output(seed: int, province: str, period: str, revised: Mapping[str, Decimal]) -> pa.Table:
    """Products under their statistical names (NBS's: 移动通信手持机（手机）), as portals print them
    (the catalogue's before the crosswalk's first vintage)."""
    nbs_names = {i.product_code: i.nbs_name for i in nbs_indicators() if i.valid_for(period)}
    return _records_table(
        INDUSTRIAL_OUTPUT,
        [
            {
                "province_code": r.province_code,
                "period": r.period,
                "product_code": r.product_code,
                "product_name": nbs_names.get(r.product_code, products()[r.product_code].name_zh),
                "unit": r.unit_code,
                "current_month": r.current_month,
                "cumulative": r.cumulative,
            }
            for r in published_output(seed, province, period, revised)
        ],
    )


def electricity_consumption(seed: int, province: str, period: str, revised: Mapping[str, Decimal]) -> pa.Table:
    return _records_table(
        ELECTRICITY_CONSUMPTION,
        [
            {
                "province_code": r.province_code,
                "period": r.period,
                "division_code": r.division_code,
                "division_name": divisions()[r.division_code].name_zh,
                "consumption": r.consumption,
                "cumulative": r.cumulative,
            }
            for r in published_consumption(seed, province, period, revised)
        ],
    )


def enterprises(seed: int, province: str, period: str, revised: Mapping[str, Decimal]) -> pa.Table:
    if revised:
        raise ValueError("the enterprise registry is a snapshot: it has no revised figures")
    return _records_table(ENTERPRISES, [r.model_dump() for r in snapshot(seed, province, period)])


def equipment_telemetry(seed: int, province: str, period: str, revised: Mapping[str, Decimal]) -> pa.Table:
    if revised:
        raise ValueError("telemetry readings are not revised")
    table = telemetry_table(seed, province, parse_day(period), get_settings().simulator_telemetry_devices)
    return table.select(list(EQUIPMENT_TELEMETRY.names))


# The platform's record schemas (ibdc.schemas), each with the truth the simulated sources publish.
DATASETS: dict[str, SimulatedDataset] = {
    schema.dataset: SimulatedDataset(schema, truth)
    for schema, truth in (
        (INDUSTRIAL_OUTPUT, industrial_output),
        (ELECTRICITY_CONSUMPTION, electricity_consumption),
        (ENTERPRISES, enterprises),
        (EQUIPMENT_TELEMETRY, equipment_telemetry),
    )
}
