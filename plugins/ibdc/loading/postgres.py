"""Partition loads into PostgreSQL with psycopg 3 COPY.

One transaction replaces exactly one (dataset, province, period) partition: the partition's old rows and
quarantine entries are deleted and the new rows are COPYed (CSV written by Arrow) straight into the
table. Readers keep seeing the old partition until the commit; a load killed mid-COPY rolls back and
leaves it as it was.
A transaction-scoped advisory lock on the partition makes a second load of the same partition wait
instead of interleaving; loads of other partitions do not block each other. Every attempt writes an
audit row, committed separately so that failures are recorded too.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from ibdc.datasets import DatasetSpec
from ibdc.parsing.base import ParseResult

DDL = Path(__file__).with_name("ddl.sql")
COPY_BATCH_ROWS = 50_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=False)


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
            (parsed.rows_loaded, len(parsed.rejects), batch_id),
        )
    return LoadResult(str(batch_id), parsed.rows_in, parsed.rows_loaded, len(parsed.rejects))


def _replace_partition(conn, spec, province, period, parsed, batch_id, loaded_at) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{spec.name}|{province}|{period}",))
    n = parsed.rows.num_rows
    table = parsed.rows.append_column("batch_id", pa.repeat(str(batch_id), n)).append_column(
        "loaded_at", pa.repeat(loaded_at.isoformat(), n)
    )
    with conn.cursor() as cur:
        cur.execute(f"DELETE FROM {spec.table} WHERE {spec.partition_predicate}", (province, period))
        with cur.copy(f"COPY {spec.table} ({', '.join(table.column_names)}) FROM STDIN (FORMAT csv)") as copy:
            for batch in table.to_batches(max_chunksize=COPY_BATCH_ROWS):
                buf = io.BytesIO()
                pacsv.write_csv(batch, buf, CSV_OPTIONS)
                copy.write(buf.getbuffer())
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


def record_failed_load(
    dsn: str,
    spec: DatasetSpec,
    province: str,
    period: str,
    manifest_key: str,
    error: Exception,
    checksum_verified: bool,
) -> str:
    """Audit an attempt that failed before loading (missing object, checksum mismatch)."""
    batch_id = uuid.uuid4()
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(
            "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
            " checksum_verified, started_at, finished_at, outcome, error)"
            " VALUES (%s, %s, %s, %s, %s, %s, now(), now(), 'failed', %s)",
            (batch_id, spec.name, province, period, manifest_key, checksum_verified, str(error)[:2000]),
        )
    return str(batch_id)
