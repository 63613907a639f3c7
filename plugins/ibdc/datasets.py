"""Datasets the platform collects: each one's single definition -- its record schema and cadence, its
validator and the raw table it fills, its quarantine and fewer-records thresholds, its calendar. The
DAGs, the pipeline, the loader, the simulator and the tests read these (the raw tables' DDL and the
dbt sources repeat the columns: tests/integration/test_raw_tables.py and
tests/unit/test_dataset_definitions.py hold them to :attr:`DatasetSpec.raw_columns`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from ibdc import schemas
from ibdc.parsing import electricity_consumption, enterprises, equipment_telemetry, industrial_output
from ibdc.parsing.base import Validator
from ibdc.periods import CADENCES, Cadence, CadenceSpec
from ibdc.schemas import RecordSchema

# The columns the loader fills for the whole partition (from the transaction's ibdc.* settings and the
# clock), around the validator's rows: the partition's province and period, then the lineage.
PARTITION_COLUMNS = ("province_code",)


class Lineage(enum.StrEnum):
    """How a raw row names the raw-zone object it was parsed from."""

    OBJECT = "object"  # the object's key and S3 version on each row: source_object, source_version_id
    # The page's number in its load batch (source_page); raw.source_pages names each page's object and
    # version once. For the high-volume datasets: a key of ~100 characters on each of 240,000 readings
    # a province-day doubled the rows' width (and wrote about 60% more WAL) for one value a page.
    PAGE = "page"


LINEAGE_COLUMNS = {
    Lineage.OBJECT: ("batch_id", "source_object", "source_version_id", "loaded_at"),
    Lineage.PAGE: ("batch_id", "source_page", "loaded_at"),
}


@dataclass(frozen=True)
class DatasetSpec:
    schema: RecordSchema  # the canonical record every source publishes; gives the name and cadence
    validate: Validator
    columns: tuple[str, ...]  # the rows ``validate`` writes: the raw table's columns besides the loader's
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
    lineage: Lineage = Lineage.OBJECT

    @property
    def name(self) -> str:
        return self.schema.dataset

    @property
    def cadence(self) -> Cadence:
        return self.schema.cadence

    @property
    def calendar(self) -> CadenceSpec:
        """The cadence's schedule, period spelling and partition column."""
        return CADENCES[self.cadence]

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """Every column of :attr:`table`: partition, the validator's rows, lineage (a set: DDL's order differs)."""
        return (*PARTITION_COLUMNS, self.calendar.period_column, *self.columns, *LINEAGE_COLUMNS[self.lineage])

    @property
    def partition_predicate(self) -> str:
        """SQL matching one (province, period) partition of :attr:`table`; two parameters."""
        return self.calendar.partition_predicate

    def published(self, period: str) -> bool:
        """Whether the calendar publishes ``period`` on its own (daily periods: always)."""
        return self.cadence is Cadence.DAILY or int(period[5:7]) not in self.unpublished_months


# NBS releases a month's industrial output around the 15th of the next month (CEC's electricity
# figures about as late): asked for on the 17th, 00:00 UTC.
# Both statistics are on NBS's calendar: January-February together, in February.
STATISTICS_RELEASE = timedelta(days=16)
STATISTICS_CALENDAR = {"unpublished_months": (1,), "available_after": STATISTICS_RELEASE}

INDUSTRIAL_OUTPUT = DatasetSpec(
    schemas.INDUSTRIAL_OUTPUT,
    industrial_output.validate,
    tuple(industrial_output.SCHEMA.names),
    max_quarantine_share=0.2,  # about 16 records a partition: up to 3 bad ones load the rest
    **STATISTICS_CALENDAR,
)

ELECTRICITY_CONSUMPTION = DatasetSpec(
    schemas.ELECTRICITY_CONSUMPTION,
    electricity_consumption.validate,
    tuple(electricity_consumption.SCHEMA.names),
    max_quarantine_share=0.1,  # 31 divisions a partition: up to 3 bad cells load the rest
    **STATISTICS_CALENDAR,
)

ENTERPRISES = DatasetSpec(
    schemas.ENTERPRISES,
    enterprises.validate,
    tuple(enterprises.SCHEMA.names),
    # Hundreds of hand-kept records a partition: a few typos are normal, more than 5% is a broken export.
    max_quarantine_share=0.05,
    min_share_of_last_load=0.8,  # a registry changes by a few enterprises a month, not by a fifth
)

EQUIPMENT_TELEMETRY = DatasetSpec(
    schemas.EQUIPMENT_TELEMETRY,
    equipment_telemetry.validate,
    equipment_telemetry.COLUMNS,
    max_quarantine_share=0.01,  # machine-generated: more than 1% bad means a broken feed
    # Each run's data interval is exactly the UTC day; devices report up to 2 hours late (a report
    # later than that is collected by running the day again: loads replace the partition).
    available_after=timedelta(hours=2),
    never_empty=False,  # a province whose devices were all down that day publishes none
    lineage=Lineage.PAGE,  # 240,000 readings a province-day from a few hundred pages
)

DATASETS = {d.name: d for d in (INDUSTRIAL_OUTPUT, ELECTRICITY_CONSUMPTION, ENTERPRISES, EQUIPMENT_TELEMETRY)}
