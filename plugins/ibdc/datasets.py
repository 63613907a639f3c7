"""Datasets the platform collects, and what each needs: its validator, its raw table, its partition
key, its quarantine threshold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from ibdc.parsing import electricity_consumption, enterprises, equipment_telemetry, industrial_output
from ibdc.parsing.base import PageRows, ParseResult, Validator, parse_page, parse_pages
from ibdc.schemas import SCHEMAS, Cadence, RecordSchema


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    table: str
    partition_predicate: str  # SQL matching one (province, period) partition; two parameters
    validate: Validator
    # Share of invalid records in one partition above which its load fails (and changes nothing).
    max_quarantine_share: float
    # A load holding fewer records than this share of the partition's last successful load is refused
    # (unless accepted explicitly): a source that suddenly serves far fewer is more likely broken.
    min_share_of_last_load: float = 0.5
    # The statistical calendar: months a source never publishes on their own (NBS releases January
    # with February). Such a period completes at once, with no request and no load.
    unpublished_months: tuple[int, ...] = ()
    # How long after the end of its period a source has the partition: the DAG waits that long
    # (rescheduled, no worker slot held) before asking. Monthly statistics are released mid-month
    # (NBS: around the 15th of the next month); devices report up to 2 hours late.
    available_after: timedelta = timedelta(0)
    # A dataset a source never publishes empty: an empty answer means "not released yet". Where an
    # empty partition can be true, the fewer-records guard still refuses one after a full load.
    never_empty: bool = True

    def published(self, period: str) -> bool:
        """Whether the calendar publishes ``period`` on its own (daily periods: always)."""
        return self.cadence is Cadence.DAILY or int(period[5:7]) not in self.unpublished_months

    @property
    def schema(self) -> RecordSchema:
        return SCHEMAS[self.name]

    @property
    def cadence(self) -> Cadence:
        return self.schema.cadence

    def parse_page(self, manifest: dict, obj: dict, body: bytes, first_position: int) -> PageRows:
        return parse_page(self.name, self.validate, manifest, obj, body, first_position)

    def parse(self, manifest: dict, bodies: Iterable[bytes]) -> ParseResult:
        return parse_pages(self, manifest, bodies)


# NBS releases a month's industrial output around the 15th of the next month (CEC's electricity
# figures about as late): asked for on the 17th, 00:00 UTC.
STATISTICS_RELEASE = timedelta(days=16)
MONTHLY_PARTITION = "province_code = %s AND period_month = to_date(%s, 'YYYY-MM')"
DAILY_PARTITION = "province_code = %s AND period_day = %s::date"

INDUSTRIAL_OUTPUT = DatasetSpec(
    name="industrial_output",
    table="raw.industrial_output",
    partition_predicate=MONTHLY_PARTITION,
    validate=industrial_output.validate,
    max_quarantine_share=0.2,  # about 16 records a partition: up to 3 bad ones load the rest
    unpublished_months=(1,),
    available_after=STATISTICS_RELEASE,
)

ELECTRICITY_CONSUMPTION = DatasetSpec(
    name="electricity_consumption",
    table="raw.electricity_consumption",
    partition_predicate=MONTHLY_PARTITION,
    validate=electricity_consumption.validate,
    max_quarantine_share=0.1,  # 31 divisions a partition: up to 3 bad cells load the rest
    unpublished_months=(1,),  # as NBS: January-February together, in February
    available_after=STATISTICS_RELEASE,
)

ENTERPRISES = DatasetSpec(
    name="enterprises",
    table="raw.enterprises",
    partition_predicate=MONTHLY_PARTITION,
    validate=enterprises.validate,
    # Hundreds of hand-kept records a partition: a few typos are normal, more than 5% is a broken export.
    max_quarantine_share=0.05,
    min_share_of_last_load=0.8,  # a registry changes by a few enterprises a month, not by a fifth
)

EQUIPMENT_TELEMETRY = DatasetSpec(
    name="equipment_telemetry",
    table="raw.equipment_telemetry",
    partition_predicate=DAILY_PARTITION,
    validate=equipment_telemetry.validate,
    max_quarantine_share=0.01,  # machine-generated: more than 1% bad means a broken feed
    # Each run's data interval is exactly the UTC day; devices report up to 2 hours late (a report
    # later than that is collected by running the day again: loads replace the partition).
    available_after=timedelta(hours=2),
    never_empty=False,  # a province whose devices were all down that day publishes none
)

DATASETS = {d.name: d for d in (INDUSTRIAL_OUTPUT, ELECTRICITY_CONSUMPTION, ENTERPRISES, EQUIPMENT_TELEMETRY)}
