"""Datasets the platform collects, and what each needs: its parser, its raw table, its partition key."""

from __future__ import annotations

from dataclasses import dataclass

from ibdc.parsing import equipment_telemetry, industrial_output
from ibdc.parsing.base import PageParser, ParseResult, parse_pages


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    table: str
    partition_predicate: str  # SQL matching one (province, period) partition; two parameters
    parse_page: PageParser
    # Share of invalid records in one partition above which its load fails (and changes nothing).
    max_quarantine_share: float

    def parse(self, manifest: dict, bodies: list[bytes]) -> ParseResult:
        return parse_pages(self.parse_page, manifest, bodies)


INDUSTRIAL_OUTPUT = DatasetSpec(
    name="industrial_output",
    table="raw.industrial_output",
    partition_predicate="province_code = %s AND period_month = to_date(%s, 'YYYY-MM')",
    parse_page=industrial_output.parse_page,
    max_quarantine_share=0.2,  # about 16 records a partition: up to 3 bad ones load the rest
)

EQUIPMENT_TELEMETRY = DatasetSpec(
    name="equipment_telemetry",
    table="raw.equipment_telemetry",
    partition_predicate="province_code = %s AND period_day = %s::date",
    parse_page=equipment_telemetry.parse_page,
    max_quarantine_share=0.01,  # machine-generated: more than 1% bad means a broken feed
)

DATASETS = {d.name: d for d in (INDUSTRIAL_OUTPUT, EQUIPMENT_TELEMETRY)}
