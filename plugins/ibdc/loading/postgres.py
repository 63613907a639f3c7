"""Partition loads into PostgreSQL with psycopg 3 COPY.

One transaction replaces exactly one (dataset, province, period) partition: the partition's old rows
and quarantine entries are deleted, the pages' valid rows are COPYed, consecutive pages together
(:data:`ENCODE_BATCH_ROWS` rows at a time; binary, encoded from Arrow by pgpq, where every value of
the batch has an exact binary form; else CSV written by Arrow: ``binary_copy``) straight into the
table, the rejects into ``raw.quarantine``, then the transaction commits. Readers keep
seeing the old partition until the commit; a load killed mid-COPY rolls back and leaves it as it
was. A transaction-scoped advisory lock on the partition makes a second load of the same partition
wait instead of interleaving; loads of other partitions do not block each other.

What is loaded is read under that lock (:func:`replace_partition` calls the caller's ``read`` once it
holds it), so of two loads racing, the one committed last loaded the manifest that was current when
it held the lock: never an older one. Pages arrive as an iterator, so the caller can fetch and parse
the next page while the rows before it are being copied.

``raw.equipment_telemetry`` is partitioned by day (``ddl.sql``): before a day's transaction the loader
makes the day's partition if missing (``raw.equipment_telemetry_day_partition``, which the loader may
only EXECUTE), in a short transaction of its own; the DELETE names the day as a date value, so the
planner prunes to that one partition (a ``to_date(...)`` would be pruned only when the plan runs, after
every partition was locked), and the COPY routes to it alone.

Every attempt writes an audit row, committed separately so failures are recorded too. An attempt
holds a session advisory lock of its own, ``(ATTEMPT_LOCK_CLASS, hashtext(batch_id))``, while it
lives; a ``running`` row whose attempt lock is free belongs to an attempt whose session ended without
closing it (a killed worker, a session cut off by a timeout), and the next attempt of the partition
closes it as ``abandoned``. Sessions have the timeouts of :mod:`ibdc.loading.sessions`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from ibdc.datasets import DATASETS, DatasetSpec, Lineage
from ibdc.errors import PermanentError, TransientError
from ibdc.landing.raw_zone import ChecksumMismatch
from ibdc.loading import binary_copy, sessions
from ibdc.parsing.base import PageRows, Reject
from ibdc.periods import Cadence, check_period

log = logging.getLogger(__name__)

DDL = Path(__file__).with_name("ddl.sql")
COPY_BATCH_ROWS = 50_000
# Rows of consecutive pages encoded for COPY together, sent once they reach it (telemetry at 5,000
# readings a page: four pages, 20,000 rows). A batch holding one value without a binary form goes as
# CSV whole (binary_copy).
ENCODE_BATCH_ROWS = 16_000
CSV_OPTIONS = pacsv.WriteOptions(include_header=False)
# What PostgreSQL text cannot hold: NUL, and surrogate code points (not UTF-8). The quarantine stores
# them escaped as JSON writes them (see storable).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# First key of the two-key advisory locks a load attempt holds while it lives (the one-key space of
# the partition locks is a different one): 0x1BDC, "IBDC".
ATTEMPT_LOCK_CLASS = 0x1BDC
# Raw tables partitioned by day -> the SECURITY DEFINER function (ddl.sql) that makes a day's partition.
DAY_PARTITIONED = {"raw.equipment_telemetry": "raw.equipment_telemetry_day_partition"}


class QuarantineThresholdExceeded(PermanentError):
    pass


class CopiedRowsMismatch(PermanentError):
    """PostgreSQL copied other than the rows the load sent (a row lost or made up on the way): the
    load fails, rolled back, and loading again would do the same."""


class FewerRecordsThanLastLoad(PermanentError):
    """The new extraction holds far fewer records than the partition's last successful load."""


@dataclass(frozen=True)
class LoadResult:
    batch_id: str
    rows_in: int
    rows_loaded: int
    rows_quarantined: int


class WarehouseNotProvisioned(PermanentError):
    pass


class PartitionBusy(TransientError):
    """Another session held the partition's lock for longer than the lock timeout (a load of the
    same partition, or a dead one not cut off yet): try again later."""


@dataclass(frozen=True)
class PartitionRead:
    """What a load reads once it holds its partition's lock: the manifest's extraction id
    (``extract_id``) and the parsed pages it lists."""

    extract_id: str | None
    pages: Iterable[PageRows]


def ensure_schema(conn: psycopg.Connection) -> None:
    """The raw tables (idempotent DDL): applied by the warehouse's provisioning, as its administrator
    (:func:`ibdc.governance.provision`), never by a load. Upgrades in place, in one transaction: a
    ``raw.equipment_telemetry`` that is not partitioned becomes partitioned by day with every row,
    grant and the same key (an error, the transaction rolled back, if a row did not move)."""
    with conn.transaction():
        # Serialise concurrent provisioning.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.raw.ddl'))")
        conn.execute(DDL.read_text())


def load_partition(
    dsn: str,
    spec: DatasetSpec,
    province: str,
    period: str,
    pages: Iterable[PageRows],
    manifest_key: str,
    extract_id: str | None,
    max_quarantine_share: float,
    accept_fewer_records: bool = False,
) -> LoadResult:
    """Replace one partition with ``pages`` already chosen by the caller (see :func:`replace_partition`,
    which a load from the raw zone uses so that it reads its manifest under the partition's lock)."""
    return replace_partition(
        dsn,
        spec,
        province,
        period,
        lambda: PartitionRead(extract_id, pages),
        manifest_key,
        max_quarantine_share,
        accept_fewer_records,
    )


def replace_partition(
    dsn: str,
    spec: DatasetSpec,
    province: str,
    period: str,
    read: Callable[[], PartitionRead],
    manifest_key: str,
    max_quarantine_share: float,
    accept_fewer_records: bool = False,
) -> LoadResult:
    """Replace one partition (see the module's docstring) with what ``read()`` returns, called once the
    partition's lock is held.

    Raises :class:`~ibdc.periods.InvalidPeriod` for a period not of the dataset's cadence (before
    anything is touched); :class:`PartitionBusy` (transient) when the partition's lock is not had
    within the lock timeout; :class:`QuarantineThresholdExceeded` when more than
    ``max_quarantine_share`` of the records are invalid (and more than one record: a single invalid
    record never fails a partition), and :class:`FewerRecordsThanLastLoad` when the records in are
    fewer than ``spec.min_share_of_last_load`` of the last successful load's (unless
    ``accept_fewer_records``); the partition is then unchanged and the audit row says why (with both
    counts). Whatever ``read`` or the pages raise fails the load the same way.
    """
    check_period(spec.cadence, period)
    with sessions.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s) IS NULL", (spec.table,)).fetchone()[0]:
            raise WarehouseNotProvisioned(
                f"{spec.table} does not exist (or {conn.info.user} may not see it): an administrator"
                " provisions the warehouse first (make up, or ibdc provision)"
            )
        batch_id = _begin_attempt(conn, spec.name, province, period, manifest_key)
        _close_abandoned(conn, spec.name, province, period, batch_id)
        previous, extract_id, rows_in = None, None, 0
        try:
            day_partition(conn, spec.table, _period_start(spec, period))
            with conn.transaction():
                _lock_partition(conn, spec.name, province, period)
                snapshot = read()
                extract_id = snapshot.extract_id
                rows_in, rows_loaded, rejects = _replace_partition(
                    conn, spec, province, period, snapshot.pages, batch_id
                )
                # Read under the partition's lock: a load that finished meanwhile is the one compared with.
                previous = _last_loaded_rows(conn, spec.name, province, period)
                if previous and rows_in < previous * spec.min_share_of_last_load and not accept_fewer_records:
                    raise FewerRecordsThanLastLoad(
                        f"{spec.name} {province} {period}: {rows_in} records, the last successful load had "
                        f"{previous} (below {spec.min_share_of_last_load:.0%} of it); the partition is unchanged. "
                        "If the source really holds fewer, load again accepting fewer records "
                        "(the DAG's accept_fewer_records param)"
                    )
                share = len(rejects) / rows_in if rows_in else 0.0
                # A single invalid record never fails a partition: in a small one (a registry page of
                # six enterprises) one record is already far above the share.
                if share > max_quarantine_share and len(rejects) > 1:
                    raise QuarantineThresholdExceeded(
                        f"{spec.name} {province} {period}: {len(rejects)} of {rows_in} records invalid "
                        f"({share:.0%} > {max_quarantine_share:.0%}); first reason: {rejects[0].reason}"
                    )
        except Exception as exc:
            counted = rows_in if isinstance(exc, FewerRecordsThanLastLoad) else None
            try:
                conn.execute(
                    "UPDATE raw.load_audit SET outcome = 'failed', error = %s, finished_at = clock_timestamp(),"
                    " checksum_verified = %s, rows_in = %s, rows_previous = %s,"
                    " extract_id = coalesce(%s, extract_id) WHERE batch_id = %s",
                    (
                        storable(str(exc)[:2000]),
                        not isinstance(exc, ChecksumMismatch),
                        counted,
                        previous,
                        extract_id,
                        batch_id,
                    ),
                )
            except psycopg.Error:  # the session is gone (cut off, killed): the next attempt closes the row
                log.warning("%s %s %s: batch %s left running (session lost)", spec.name, province, period, batch_id)
            raise
        conn.execute(
            "UPDATE raw.load_audit SET outcome = 'succeeded', checksum_verified = true, rows_in = %s,"
            " rows_loaded = %s, rows_quarantined = %s, rows_previous = %s, finished_at = clock_timestamp(),"
            " extract_id = %s WHERE batch_id = %s",
            (rows_in, rows_loaded, len(rejects), previous, extract_id, batch_id),
        )
    return LoadResult(str(batch_id), rows_in, rows_loaded, len(rejects))


def day_partition(conn: psycopg.Connection, table: str, day: date) -> str | None:
    """Make ``table``'s partition of ``day`` when ``table`` is partitioned by day and the partition is
    missing (as the loader may: ``raw.equipment_telemetry_day_partition``, SECURITY DEFINER); returns
    the partition's name (``schema.name``), or None for a table not partitioned by day. Runs in a
    transaction of its own (``conn`` in autocommit, outside any transaction): the partition is attached
    under a SHARE UPDATE EXCLUSIVE lock on ``table``, held only that long. Raises
    ``psycopg.errors.InsufficientPrivilege`` for a role not granted the function (provisioning grants
    it to the loader), ``LockNotAvailable`` (transient) past the lock timeout."""
    function = DAY_PARTITIONED.get(table)
    if function is None:
        return None
    return conn.execute(f"SELECT {function}(%s)::text", (day,)).fetchone()[0]


def _period_start(spec: DatasetSpec, period: str) -> date:
    """The date a (checked) period's rows carry in the table's period column: the day, or the month's first."""
    return date.fromisoformat(period if spec.cadence == Cadence.DAILY else f"{period}-01")


def partition_lock_key(dataset: str, province: str, period: str) -> str:
    """The text whose ``hashtext`` keys the partition's transaction advisory lock."""
    return f"{dataset}|{province}|{period}"


def _begin_attempt(conn: psycopg.Connection, dataset: str, province: str, period: str, manifest_key: str) -> uuid.UUID:
    """A new batch id, its attempt lock held by this session (taken before its audit row exists, so
    a ``running`` row with a free attempt lock is never a live attempt's), and its ``running`` row."""
    while True:
        batch_id = uuid.uuid4()
        taken = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (ATTEMPT_LOCK_CLASS, str(batch_id))
        ).fetchone()[0]
        if taken:  # else: a live attempt's batch id hashes alike (1 in 2^32): draw another
            break
    conn.execute(
        "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
        " checksum_verified, started_at, outcome) VALUES (%s, %s, %s, %s, %s, false, clock_timestamp(), 'running')",
        (batch_id, dataset, province, period, manifest_key),
    )
    return batch_id


def _close_abandoned(conn: psycopg.Connection, dataset: str, province: str, period: str, batch_id: uuid.UUID) -> None:
    """Close as ``abandoned`` the partition's ``running`` rows whose attempt lock is free (their session
    ended); a live attempt (one waiting for the partition's lock, say) keeps its lock and its row."""
    closed = conn.execute(
        "WITH candidates AS MATERIALIZED (SELECT batch_id FROM raw.load_audit WHERE dataset = %s"
        " AND province_code = %s AND period = %s AND outcome = 'running' AND batch_id <> %s)"
        " UPDATE raw.load_audit a SET outcome = 'abandoned', finished_at = clock_timestamp(),"
        " error = 'abandoned: the attempt''s session ended before it finished; closed by batch ' || %s"
        " FROM candidates c WHERE a.batch_id = c.batch_id AND a.outcome = 'running'"
        " AND pg_try_advisory_xact_lock(%s, hashtext(c.batch_id::text)) RETURNING a.batch_id",
        (dataset, province, period, batch_id, str(batch_id), ATTEMPT_LOCK_CLASS),
    ).fetchall()
    for (other,) in closed:
        log.warning("%s %s %s: batch %s closed as abandoned (its session had ended)", dataset, province, period, other)


def _lock_partition(conn: psycopg.Connection, dataset: str, province: str, period: str) -> None:
    try:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (partition_lock_key(dataset, province, period),))
    except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
        raise PartitionBusy(
            f"{dataset} {province} {period}: another session held the partition's lock beyond the lock timeout"
            f" ({exc.diag.message_primary}); try again later"
        ) from exc


def storable(text: str) -> str:
    """``text`` as a PostgreSQL text value can hold it: NUL as ``\\u0000`` and a lone surrogate as
    ``\\udXXX`` (six characters, as JSON escapes them); anything else unchanged. For the quarantine's
    raw text and reason and the audit's error, which hold what a source served, whatever it is: a
    NUL there must not fail the write that records the rejection (raw.quarantine.raw_text's comment)."""
    return UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _last_loaded_rows(conn: psycopg.Connection, dataset: str, province: str, period: str) -> int | None:
    row = conn.execute(
        "SELECT rows_in FROM raw.load_audit WHERE dataset = %s AND province_code = %s AND period = %s"
        " AND outcome = 'succeeded' ORDER BY finished_at DESC LIMIT 1",
        (dataset, province, period),
    ).fetchone()
    return row[0] if row else None


def record_unloaded(dsn: str, dataset: str, province: str, period: str, manifest_key: str, outcome: str, why: str):
    """An audit row for a partition that is not loaded because the source has nothing for it:
    ``not_released`` (not yet) or ``not_published`` (the calendar never publishes it on its own).
    Nothing else is touched: what was loaded for the partition stays as it was. Raises
    :class:`~ibdc.periods.InvalidPeriod` for a period not of the dataset's cadence."""
    check_period(DATASETS[dataset].cadence, period)
    with sessions.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
            " checksum_verified, rows_in, rows_loaded, rows_quarantined, started_at, finished_at, outcome, error)"
            " VALUES (%s, %s, %s, %s, %s, false, 0, 0, 0, clock_timestamp(), clock_timestamp(), %s, %s)",
            (uuid.uuid4(), dataset, province, period, manifest_key, outcome, storable(why[:2000])),
        )


def _set(conn: psycopg.Connection, **settings: str) -> None:
    """Transaction-local ``ibdc.*`` settings, in one round trip."""
    calls = ", ".join("set_config(%s, %s, true)" for _ in settings)
    conn.execute(f"SELECT {calls}", [x for name, value in settings.items() for x in (f"ibdc.{name}", value)])


def page_lineage(spec: DatasetSpec, page: PageRows, number: int) -> dict[str, str | None]:
    """The lineage columns of a page's rows (column -> text, None for null), as ``spec.lineage`` says:
    the page's ``number`` in its load batch (1, 2, ...; ``raw.source_pages`` names its object), or the
    object's key and S3 version (null for an unversioned store)."""
    if spec.lineage is Lineage.PAGE:
        return {"source_page": str(number)}
    return {"source_object": page.source_object, "source_version_id": page.source_version_id or None}


def _with_lineage(rows: pa.Table, lineage: dict[str, str | None]) -> pa.Table:
    """``rows`` with a column of each ``lineage`` value (column -> text, None for null) appended: the
    partition's values (the province, the period's date, the batch) and the page's
    (:func:`page_lineage`). Sent, not left to the column defaults: a default reading a setting (the
    period's through ``raw.period_day``, a PL/pgSQL check) is evaluated for every row."""
    n = rows.num_rows
    for name, value in lineage.items():
        rows = rows.append_column(name, pa.nulls(n, pa.string()) if value is None else pa.repeat(value, n))
    return rows


def _encoded(
    rows: pa.Table, lineage: dict[str, str | None], binary: binary_copy.BinaryRows | None
) -> tuple[tuple[str, ...], bool, list]:
    """Rows (at least one; of one page or of several, each page's lineage among their columns) as
    COPY data with a column of each ``lineage`` value (:func:`_with_lineage`): (the COPY's columns,
    whether binary, the data's chunks): binary tuples when ``binary`` encodes every value of the
    rows (PostgreSQL then parses no field), else CSV."""
    if binary is not None:
        tuples = binary.encode(rows, lineage)
        if tuples is not None:
            return (*rows.column_names, *lineage), True, tuples
    rows = _with_lineage(rows, lineage)
    chunks = []
    for batch in rows.to_batches(max_chunksize=COPY_BATCH_ROWS):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, CSV_OPTIONS)
        chunks.append(buf.getbuffer())
    return tuple(rows.column_names), False, chunks


@contextlib.contextmanager
def _copy(cur: psycopg.Cursor, table: str, columns: tuple[str, ...], binary: bool) -> Iterator[_Copy]:
    """A COPY of ``columns`` into ``table``, in binary (its header written first, its trailer last
    unless the block raised: the COPY is then abandoned) or CSV. The rows the caller counts as sent
    (``rows``) must be the rows PostgreSQL says it copied, else :class:`CopiedRowsMismatch` (the
    load's transaction rolls back): a row lost or made up on the way (an encoder's buffer left
    unflushed, a line break that split a record) fails the load instead of loading a partition short."""
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT {'binary' if binary else 'csv'})") as copy:
        counted = _Copy(copy)
        if binary:
            copy.write(binary_copy.HEADER)
        yield counted
        if binary:
            copy.write(binary_copy.TRAILER)
    if cur.rowcount != counted.rows:
        raise CopiedRowsMismatch(f"COPY into {table} copied {cur.rowcount} rows, {counted.rows} were sent")


@dataclass
class _Copy:
    """A COPY being written, and the rows sent through it."""

    copy: psycopg.Copy
    rows: int = 0

    def write(self, data) -> None:
        self.copy.write(data)


def _replace_partition(conn, spec, province, period, pages, batch_id) -> tuple[int, int, list[Reject]]:
    """The partition's rows and quarantine replaced by ``pages``' (under its lock, in the caller's
    transaction); returns (records in, rows loaded, rejects)."""
    _set(conn, batch_id=str(batch_id), province_code=province, period=period)
    rows_in, rows_loaded, rejects = 0, 0, []
    with conn.cursor() as cur:
        # The period as a date value, not to_date(period): the planner then prunes to the day's partition
        # (a stable function is evaluated only once the plan runs, after every partition was locked).
        period_start = _period_start(spec, period)
        # Through the table's key, which leads with (province, period): for one province's rows of a
        # day the planner took a scan of the whole day's partition (240,000 rows of a day holding 3.2
        # million, of six provinces: 0.91 s against 0.15-0.24 s through the key; a national day, 7.4 million).
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(
            f"DELETE FROM {spec.table} WHERE province_code = %s AND {spec.calendar.period_column} = %s",
            (province, period_start),
        )
        cur.execute("SET LOCAL enable_seqscan = DEFAULT")
        # One COPY for all the pages, each row carrying its page's lineage: PostgreSQL reads rows while
        # the next page is parsed, with no round trip between pages (a COPY a page waited for each).
        # Binary where every value of a batch of pages has an exact binary form (ibdc.loading.binary_copy).
        partition = {
            "province_code": province,
            spec.calendar.period_column: period_start.isoformat(),
            "batch_id": str(batch_id),
        }
        binary = binary_copy.binary_rows(binary_copy.column_types(conn, spec.table))
        numbers: dict[tuple[str, str | None], int] = {}  # each page read -> its number in the batch
        with contextlib.ExitStack() as copying:
            copy, form = None, None
            pending: list[pa.Table] = []  # pages' rows, each with its page's lineage, not yet sent

            def send() -> None:
                # Pages are encoded together, ENCODE_BATCH_ROWS rows at a time: Arrow's and pgpq's cost
                # per call is paid per batch, not per page.
                nonlocal copy, form
                # A column of nulls alone (null-typed) takes the other pages' type.
                rows = pa.concat_tables(pending, promote_options="default") if len(pending) > 1 else pending[0]
                pending.clear()
                lineage = {name: value for name, value in partition.items() if name not in rows.column_names}
                columns, is_binary, chunks = _encoded(rows, lineage, binary)
                if (columns, is_binary) != form:
                    copying.close()
                    form = (columns, is_binary)
                    copy = copying.enter_context(_copy(cur, spec.table, columns, is_binary))
                for chunk in chunks:
                    copy.write(chunk)
                copy.rows += rows.num_rows

            for page in pages:
                rows_in += page.rows_in
                rejects += page.rejects
                # A page parsed in parts (a csv_download file) is one page.
                number = numbers.setdefault((page.source_object, page.source_version_id), len(numbers) + 1)
                if not page.rows.num_rows:
                    continue
                pending.append(_with_lineage(page.rows, page_lineage(spec, page, number)))
                rows_loaded += page.rows.num_rows
                if sum(map(len, pending)) >= ENCODE_BATCH_ROWS:
                    send()
            if pending:
                send()
        if spec.lineage is Lineage.PAGE:
            with cur.copy(
                "COPY raw.source_pages (batch_id, page, source_object, source_version_id) FROM STDIN"
            ) as copy:
                for (key, version), number in numbers.items():
                    copy.write_row([batch_id, number, key, version or None])
        cur.execute(
            "DELETE FROM raw.quarantine WHERE dataset = %s AND province_code = %s AND period = %s",
            (spec.name, province, period),
        )
        with cur.copy(
            "COPY raw.quarantine (dataset, province_code, period, batch_id, source_object,"
            " record_position, raw_text, reason) FROM STDIN"
        ) as copy:
            for r in rejects:
                copy.write_row(
                    [
                        spec.name,
                        province,
                        period,
                        batch_id,
                        r.source_object,
                        r.record_position,
                        storable(r.raw_text),
                        storable(r.reason),
                    ]
                )
    return rows_in, rows_loaded, rejects
