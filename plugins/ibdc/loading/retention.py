"""Retention of raw telemetry: whole days dropped, never rows deleted.

``raw.equipment_telemetry`` is partitioned by day (``ddl.sql``); a day older than the retention is
dropped as its partition (no DELETE, no dead rows to vacuum). Who may: the table's owner, the
warehouse's administrator (``IBDC_WAREHOUSE_DSN``, as ``ibdc provision``); never the loader, which owns
nothing (its DROP is refused: ``InsufficientPrivilege``).

What is dropped is recorded in ``raw.load_audit``, a row per province-day (outcome ``dropped``,
``rows_dropped``), so the audit's last successful load of a day and the raw table that no longer holds
it do not silently disagree. The marts keep what was built from the dropped days: the transform
rebuilds the partitions whose latest successful load changed, and a drop is no load (a full rebuild
would lose them from the marts: the raw zone keeps each extraction, to load a day again). The
quarantine's records of a dropped day are kept, and the pages of its batches (``raw.source_pages``).
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from ibdc.landing.manifest import Partition
from ibdc.loading.postgres import storable

log = logging.getLogger(__name__)

TABLE = "raw.equipment_telemetry"
DATASET = "equipment_telemetry"
# A day partition's bound as pg_get_expr writes it under DateStyle ISO.
DAY_BOUND = re.compile(r"FOR VALUES FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


def retention_cutoff(days: int, today: date | None = None) -> date:
    """The first day kept when ``days`` days are retained before ``today`` (default: today, UTC):
    ``today - days``. Raises ``ValueError`` for a negative ``days``."""
    if days < 0:
        raise ValueError(f"telemetry retention must be 0 days or more, got {days}")
    return (today or datetime.now(UTC).date()) - timedelta(days=days)


def telemetry_days(conn: psycopg.Connection) -> dict[date, str]:
    """The day partitions of ``raw.equipment_telemetry``: first day -> partition (``schema.name``).
    A partition spanning more or less than one day (one made by hand) is left out."""
    with conn.transaction():
        conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")  # the bound's spelling DAY_BOUND reads
        rows = conn.execute(
            "SELECT c.oid::regclass::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
            (TABLE,),
        ).fetchall()
    days = {}
    for name, bound in rows:
        m = DAY_BOUND.fullmatch(bound or "")
        if m and date.fromisoformat(m[2]) == date.fromisoformat(m[1]) + timedelta(days=1):
            days[date.fromisoformat(m[1])] = name
        else:
            log.warning("%s: partition %s is not one day (%s); retention leaves it", TABLE, name, bound)
    return days


def drop_telemetry_days_before(conn: psycopg.Connection, cutoff: date, why: str | None = None) -> list[date]:
    """Drop every whole day of ``raw.equipment_telemetry`` before ``cutoff`` (its partition), in one
    transaction with a ``dropped`` audit row per province-day (``rows_dropped``; ``error`` says why:
    ``why`` or the cutoff); returns the days dropped, in order (empty when none is older).

    ``conn``: the table owner's session (autocommit, outside a transaction), with a lock timeout: each
    drop locks the table ACCESS EXCLUSIVE until the commit (loads and dbt reads of telemetry wait).
    Raises ``psycopg.errors.InsufficientPrivilege`` for any other role (the loader), nothing dropped or
    recorded; ``LockNotAvailable`` when the table stays locked beyond the lock timeout."""
    why = why or f"retention: days before {cutoff.isoformat()} dropped"
    dropped: list[date] = []
    with conn.transaction():
        # One retention or provisioning at a time (the DDL's lock).
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.raw.ddl'))")
        for day, partition in sorted(telemetry_days(conn).items()):
            if day >= cutoff:
                break
            table = sql.SQL(partition)  # regclass text: quoted as needed
            counts = conn.execute(
                sql.SQL("SELECT province_code, count(*) FROM {} GROUP BY 1 ORDER BY 1").format(table)
            ).fetchall()
            conn.execute(sql.SQL("DROP TABLE {}").format(table))
            for province, rows in counts:
                key = Partition(dataset=DATASET, province_code=province, period=day.isoformat()).manifest_key
                conn.execute(
                    "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
                    " checksum_verified, rows_in, rows_loaded, rows_quarantined, rows_dropped, started_at,"
                    " finished_at, outcome, error) VALUES (%s, %s, %s, %s, %s, false, 0, 0, 0, %s,"
                    " clock_timestamp(), clock_timestamp(), 'dropped', %s)",
                    (uuid.uuid4(), DATASET, province, day.isoformat(), key, rows, storable(why[:2000])),
                )
            dropped.append(day)
            log.info("%s: day %s dropped (%s)", TABLE, day, ", ".join(f"{p}: {n} rows" for p, n in counts) or "empty")
    return dropped
