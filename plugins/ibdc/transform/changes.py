"""What a transform run builds: the partitions loaded since the last successful build, read from the
warehouse (``raw.load_audit``) rather than from the run's triggering asset events.

Why not the events: Airflow (3.3.2) hands an asset-triggered run the events up to the moment the
first of them queued the run; with the transform at one active run, the loads that land while a
run is queued are left to a next run, which the last of a backfill's loads never get (the
Celery tests' busy backfills lost months from the marts so; apache/airflow#56749, "older events
silently ignored", changed in 3.4 by apache/airflow#70972). The events still trigger the run; what
it builds is what the audit says changed, whichever Airflow runs it.

``ops.transformed_loads`` holds, per partition, the load (``batch_id``) the marts were last built
from. A run reads, in one snapshot, each partition's latest successful load; those whose load is
not the recorded one are the run's partitions; after dbt succeeds the run records exactly the
loads it read. A load committed after that read is not recorded, so the next run builds it: nothing
is missed whatever the timing, and a failed build records nothing (its partitions stay pending).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import psycopg

from ibdc.datasets import DATASETS
from ibdc.periods import check_period

log = logging.getLogger(__name__)

# Applied by the warehouse's provisioning (ibdc.governance), as its administrator; the transformer
# reads and writes it.
DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.transformed_loads (
    dataset        text        NOT NULL,
    province_code  text        NOT NULL,
    period         text        NOT NULL,
    batch_id       uuid        NOT NULL,
    transformed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dataset, province_code, period)
);
COMMENT ON TABLE ops.transformed_loads IS
    'Per partition, the load (raw.load_audit.batch_id) the marts were last built from: written by the '
    'transform after a successful dbt build; a partition whose latest successful load differs is built next';
"""

# Each partition's latest successful load: the one whose rows the raw tables hold.
_LATEST_LOADS = """
SELECT DISTINCT ON (dataset, province_code, period) dataset, province_code, period, batch_id::text
FROM raw.load_audit WHERE outcome = 'succeeded'
ORDER BY dataset, province_code, period, finished_at DESC, started_at DESC
"""


class LoadedPartition(NamedTuple):
    """A partition and the load (``raw.load_audit.batch_id``, text) whose rows it holds."""

    dataset: str
    province_code: str
    period: str
    batch_id: str


class Build(NamedTuple):
    """What a transform run builds.

    ``periods``: dataset -> sorted periods, the var ``ibdc_loaded_periods`` dbt reads; empty for a
    full build (every period). ``loads``: the loads recorded once the build succeeds. ``full``: every
    period is built (no build recorded yet, or asked for)."""

    periods: dict[str, list[str]]
    loads: list[LoadedPartition]
    full: bool

    @property
    def empty(self) -> bool:
        """Nothing loaded since the last build: nothing to build."""
        return not self.full and not self.loads


def periods_by_dataset(partitions) -> dict[str, list[str]]:
    """Dataset -> the sorted, distinct periods of ``partitions`` (anything with ``dataset`` and
    ``period``). dbt writes these periods into SQL: an unknown dataset or a period that is not its
    cadence's (:func:`~ibdc.periods.check_period`) raises ``ValueError`` instead of reaching it."""
    periods: dict[str, set[str]] = {}
    for p in partitions:
        if p.dataset not in DATASETS:
            raise ValueError(f"a load of an unknown dataset {p.dataset!r}")
        periods.setdefault(p.dataset, set()).add(check_period(DATASETS[p.dataset].cadence, p.period))
    return {dataset: sorted(ps) for dataset, ps in sorted(periods.items())}


def pending_build(dsn: str, *, full: bool = False) -> Build:
    """The build a transform run makes now, read from the warehouse ``dsn`` (the transformer's).

    The partitions whose latest successful load is not the one recorded by the last successful
    build; a ``full`` build (asked for, as a manual run does, or when no build was ever recorded)
    builds every period and records every partition's latest load."""
    with psycopg.connect(dsn) as conn:
        # One snapshot for both reads: a load committing meanwhile is in neither, so pending next time.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        latest = [LoadedPartition(*row) for row in conn.execute(_LATEST_LOADS)]
        recorded = {
            (d, p, per): b
            for d, p, per, b in conn.execute(
                "SELECT dataset, province_code, period, batch_id::text FROM ops.transformed_loads"
            )
        }
    if full or not recorded:
        return Build(periods={}, loads=latest, full=True)
    changed = [load for load in latest if recorded.get(load[:3]) != load.batch_id]
    return Build(periods=periods_by_dataset(changed), loads=changed, full=False)


def record_build(dsn: str, loads) -> int:
    """Record ``loads`` (:class:`LoadedPartition` or their JSON lists, one per partition) as built,
    after dbt succeeded; returns how many rows were written. A partition's row is replaced only by a
    later load of it (a later-finishing build of an older read cannot step back), and a load the
    audit does not hold is not recorded (its partition stays pending); either is logged as a warning
    with the count."""
    rows = [LoadedPartition(*load) for load in loads]
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    with psycopg.connect(dsn) as conn, conn.transaction():
        written = len(
            conn.execute(
                "INSERT INTO ops.transformed_loads AS t (dataset, province_code, period, batch_id)"
                " SELECT r.dataset, r.province_code, r.period, a.batch_id"
                " FROM unnest(%s::text[], %s::text[], %s::text[], %s::uuid[])"
                "  AS r(dataset, province_code, period, batch_id)"
                " JOIN raw.load_audit a ON a.batch_id = r.batch_id"
                " ON CONFLICT (dataset, province_code, period) DO UPDATE"
                " SET batch_id = excluded.batch_id, transformed_at = now()"
                # Only forward: the recorded load must not be newer than the one being recorded.
                " WHERE (SELECT (finished_at, started_at) FROM raw.load_audit WHERE batch_id = excluded.batch_id)"
                "  >= coalesce((SELECT (finished_at, started_at) FROM raw.load_audit WHERE batch_id = t.batch_id),"
                "  ('-infinity'::timestamptz, '-infinity'::timestamptz))"
                " RETURNING 1",
                columns,
            ).fetchall()
        )
    if written < len(rows):
        log.warning(
            "%d of %d loads not recorded as built (a newer load of the partition recorded, or not in the audit)",
            len(rows) - written,
            len(rows),
        )
    return written
