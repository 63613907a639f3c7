"""Partition loads into PostgreSQL with psycopg 3 COPY.

One transaction replaces exactly one (dataset, province, period) partition: rows are copied into a
temporary table, the partition's old rows and quarantine entries are deleted, the new ones inserted.
A transaction-scoped advisory lock on the partition makes a second load of the same partition wait
instead of interleaving; loads of other partitions do not block each other. Every attempt writes an
audit row, committed separately so that failures are recorded too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from ibdc.datasets import DatasetSpec
from ibdc.parsing.base import ParseResult

DDL = Path(__file__).with_name("ddl.sql")


class QuarantineThresholdExceeded(RuntimeError):
    pass


@dataclass(frozen=True)
class LoadResult:
    batch_id: str
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


def ensure_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        # Serialise concurrent first-time DDL across loaders.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.raw.ddl'))")
        conn.execute(DDL.read_text())


def load_partition(
    dsn: str,
    spec: DatasetSpec,
    province: str,
    period: str,
    parsed: ParseResult,
    manifest_key: str,
    manifest_version: str | None,
    max_quarantine_share: float,
) -> LoadResult:
    batch_id = uuid.uuid4()
    started = datetime.now(UTC)
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(
            "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
            " manifest_version, checksum_verified, rows_in, started_at, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s, 'running')",
            (batch_id, spec.name, province, period, manifest_key, manifest_version, parsed.rows_in, started),
        )
        try:
            share = len(parsed.rejects) / parsed.rows_in if parsed.rows_in else 0.0
            if share > max_quarantine_share:
                raise QuarantineThresholdExceeded(
                    f"{spec.name} {province} {period}: {len(parsed.rejects)} of {parsed.rows_in} records "
                    f"invalid ({share:.0%} > {max_quarantine_share:.0%}); first reason: "
                    f"{parsed.rejects[0].reason}"
                )
            with conn.transaction():
                _replace_partition(conn, spec, province, period, parsed, batch_id, started)
        except Exception as exc:
            conn.execute(
                "UPDATE raw.load_audit SET outcome = 'failed', error = %s, finished_at = now() WHERE batch_id = %s",
                (str(exc)[:2000], batch_id),
            )
            raise
        conn.execute(
            "UPDATE raw.load_audit SET outcome = 'succeeded', rows_loaded = %s, rows_quarantined = %s,"
            " finished_at = now() WHERE batch_id = %s",
            (len(parsed.records), len(parsed.rejects), batch_id),
        )
    return LoadResult(str(batch_id), parsed.rows_in, len(parsed.records), len(parsed.rejects))


def _replace_partition(conn, spec, province, period, parsed, batch_id, loaded_at) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{spec.name}|{province}|{period}",))
    cols = spec.columns
    conn.execute(f"CREATE TEMP TABLE incoming (LIKE {spec.table} INCLUDING DEFAULTS) ON COMMIT DROP")
    with conn.cursor() as cur:
        with cur.copy(f"COPY incoming ({', '.join(cols)}, batch_id, loaded_at) FROM STDIN") as copy:
            for rec in parsed.records:
                copy.write_row([rec[c] for c in cols] + [batch_id, loaded_at])
        cur.execute(f"DELETE FROM {spec.table} WHERE {spec.partition_predicate}", (province, period))
        cur.execute(f"INSERT INTO {spec.table} SELECT * FROM incoming")
        cur.execute(
            "DELETE FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
            (spec.name, province, period),
        )
        with cur.copy(
            "COPY raw.quarantine (dataset, province_code, period, batch_id, source_object,"
            " record_position, raw_text, reason, quarantined_at) FROM STDIN"
        ) as copy:
            for r in parsed.rejects:
                copy.write_row(
                    [
                        spec.name,
                        province,
                        period,
                        batch_id,
                        r.source_object,
                        r.record_position,
                        r.raw_text,
                        r.reason,
                        loaded_at,
                    ]
                )
