"""Datasets the platform collects, and what each needs: its parser, its raw table, its partition key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ibdc.parsing import equipment_telemetry, industrial_output
from ibdc.parsing.base import ParseResult


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    table: str
    partition_predicate: str  # SQL matching one (province, period) partition; two parameters
    parse: Callable[[dict, list[bytes]], ParseResult]


INDUSTRIAL_OUTPUT = DatasetSpec(
    name="industrial_output",
    table="raw.industrial_output",
    partition_predicate="province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
    parse=industrial_output.parse,
)

EQUIPMENT_TELEMETRY = DatasetSpec(
    name="equipment_telemetry",
    table="raw.equipment_telemetry",
    partition_predicate="province_code = %s AND period_day = %s::date",
    parse=equipment_telemetry.parse,
)

DATASETS = {d.name: d for d in (INDUSTRIAL_OUTPUT, EQUIPMENT_TELEMETRY)}
