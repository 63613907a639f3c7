"""Partition loads into PostgreSQL: quarantine, idempotence, threshold, checksum, concurrency, kills,
session timeouts, abandoned attempts, the manifest read under the partition's lock, strict periods."""

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import psycopg
import pyarrow as pa
import pytest

from ibdc import pipeline
from ibdc.datasets import DATASETS
from ibdc.errors import ErrorKind, TransientError, kind_of
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client, put_bytes
from ibdc.loading import postgres, sessions
from ibdc.loading.postgres import (
    FewerRecordsThanLastLoad,
    PartitionBusy,
    QuarantineThresholdExceeded,
    day_partition,
    partition_lock_key,
)
from ibdc.parsing.base import PageRows
from ibdc_dev.bench.load import stage_telemetry
from tests.partitions import ANY

DATASET = "equipment_telemetry"
# October 2026's days, of the provinces each test names.
pytestmark = [pytest.mark.integration, pytest.mark.partitions(dataset=DATASET, provinces=ANY, periods=["2026-10"])]
BUSINESS = (
    "province_code, period_day, device_id, enterprise_code, ts, runtime_min, output_units, energy_kwh, fault_code"
)


def _content(conn, province, day):
    return conn.execute(
        f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY device_id, ts)) FROM"
        f" (SELECT {BUSINESS} FROM raw.equipment_telemetry WHERE province_code = %s AND period_day = %s) t",
        (province, day),
    ).fetchone()


def _audit(conn, batch_id):
    return conn.execute(
        "SELECT outcome, checksum_verified, rows_in, rows_loaded, rows_quarantined, error FROM raw.load_audit"
        " WHERE batch_id = %s",
        (batch_id,),
    ).fetchone()


def test_bad_rows_are_quarantined_with_reasons_and_the_rest_load(services, warehouse):
    manifest, _ = stage_telemetry("220000", "2026-10-02", devices=500, malformed_every=1000)
    result = pipeline.load_partition_from_raw(DATASET, "220000", "2026-10-02")
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (12_000, 11_988, 12)
    rows = warehouse.execute(
        "SELECT record_position, raw_text, reason, source_object FROM raw.quarantine"
        " WHERE dataset = %s AND province_code = '220000' AND period = '2026-10-02' ORDER BY 1",
        (DATASET,),
    ).fetchall()
    assert [r[0] for r in rows] == [i * 1000 + 7 for i in range(12)]
    reasons = [r[2] for r in rows]
    assert reasons[0] == "runtime_min must be an integer from 0 to 60" and ",61," in rows[0][1]
    assert reasons[1] == "energy_kwh must be a non-negative number" and ",-3.5," in rows[1][1]
    assert reasons[2] == "ts 2099-01-01T00:00:00Z is outside the partition day 2026-10-02"
    assert reasons[3] == "output_units must be a non-negative integer" and ",12a," in rows[3][1]
    assert {r[3] for r in rows} == {manifest.objects[0].key}
    assert _content(warehouse, "220000", "2026-10-02")[0] == 11_988
    lineage = warehouse.execute(
        "SELECT DISTINCT batch_id::text, source_object, source_version_id FROM raw.equipment_telemetry"
        " JOIN raw.source_pages USING (batch_id) WHERE page = source_page"
        " AND province_code = '220000' AND period_day = '2026-10-02'"
    ).fetchall()
    assert lineage == [(result.batch_id, manifest.objects[0].key, manifest.objects[0].version_id)]
    assert _audit(warehouse, result.batch_id)[:5] == ("succeeded", True, 12_000, 11_988, 12)


def test_each_reading_names_its_page_and_the_batch_lists_each_pages_object_once(services, warehouse):
    manifest, served = stage_telemetry("540000", "2026-10-02", devices=100, rows_per_page=700)  # 2,400 readings
    assert len(manifest.objects) == 4
    result = pipeline.load_partition_from_raw(DATASET, "540000", "2026-10-02")
    pages = warehouse.execute(
        "SELECT page, source_object, source_version_id FROM raw.source_pages WHERE batch_id = %s ORDER BY page",
        (result.batch_id,),
    ).fetchall()
    assert pages == [(i, o.key, o.version_id) for i, o in enumerate(manifest.objects, 1)]
    per_object = warehouse.execute(
        "SELECT p.source_object, count(*) FROM raw.equipment_telemetry t JOIN raw.source_pages p"
        " ON p.batch_id = t.batch_id AND p.page = t.source_page"
        " WHERE t.province_code = '540000' AND t.period_day = '2026-10-02' GROUP BY 1"
    ).fetchall()
    assert dict(per_object) == {o.key: o.records for o in manifest.objects}
    # Each reading names the page it was served on: pages of 700 readings in the order served.
    stored = warehouse.execute(
        "SELECT source_page, device_id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM raw.equipment_telemetry WHERE province_code = '540000' AND period_day = '2026-10-02'"
    ).fetchall()
    keys = list(zip(served.column("device_id").to_pylist(), served.column("ts").to_pylist(), strict=True))
    assert sorted(stored) == sorted((i // 700 + 1, *key) for i, key in enumerate(keys))


def test_pages_encoded_together_keep_each_rows_page_and_values_in_either_form(services, warehouse, monkeypatch):
    """Consecutive pages are encoded for COPY together, ENCODE_BATCH_ROWS rows at a time (5 here).
    A batch holding a value without a binary form (an exponent) goes as CSV between two batches in
    binary (the COPY reopened at each change): every reading is stored with the page it was served
    on and its values as served."""
    monkeypatch.setattr(postgres, "ENCODE_BATCH_ROWS", 5)
    day, prefix = "2026-10-03", "equipment_telemetry/province=540000/period=2026-10-03/"

    def page(number: int, energies: list[str]) -> PageRows:
        readings = [
            {
                "device_id": f"DEV-540000-{number:03d}",
                "enterprise_code": "91540000MA6T1CQT8P",
                "ts": f"{day}T{hour:02d}:00:00Z",
                "runtime_min": "60",
                "output_units": str(number * 10 + hour),
                "energy_kwh": energy,
                "fault_code": None,
            }
            for hour, energy in enumerate(energies)
        ]
        return PageRows(f"{prefix}page-{number:04d}.json", f"v{number}", pa.Table.from_pylist(readings))

    pages = [page(1, ["1.5", "2"]), page(2, ["3.25", "0.5", "4"]), page(3, ["7", "1e2"]), page(4, ["8.0", "9", "10"])]
    pages.append(page(5, ["9"] * 4))
    sent = []  # (rows, binary) of each batch encoded
    encoded = postgres._encoded

    def spy(rows, lineage, binary):
        out = encoded(rows, lineage, binary)
        sent.append((rows.num_rows, out[1]))
        return out

    monkeypatch.setattr(postgres, "_encoded", spy)
    result = postgres.replace_partition(
        services.loader,
        DATASETS[DATASET],
        "540000",
        day,
        lambda: postgres.PartitionRead(None, pages),
        manifest_key=f"{prefix}_manifest.json",
        max_quarantine_share=0.5,
    )
    assert result.rows_loaded == 14
    assert sent == [(5, True), (5, False), (4, True)], "pages 1-2 in binary, 3-4 in CSV (the exponent), 5 in binary"
    stored = warehouse.execute(
        "SELECT p.source_object, t.device_id, t.output_units, t.energy_kwh::text FROM raw.equipment_telemetry t"
        " JOIN raw.source_pages p ON p.batch_id = t.batch_id AND p.page = t.source_page"
        " WHERE t.province_code = '540000' AND t.period_day = %s",
        (date.fromisoformat(day),),
    ).fetchall()
    numeric = {"1e2": "100"}  # what PostgreSQL's numeric input makes of the exponent, in CSV as ever
    assert sorted(stored) == sorted(
        (p.source_object, r["device_id"], int(r["output_units"]), numeric.get(r["energy_kwh"], r["energy_kwh"]))
        for p in pages
        for r in p.rows.to_pylist()
    )


def test_rerunning_a_load_leaves_the_table_identical(services, warehouse):
    stage_telemetry("230000", "2026-10-02", devices=300, malformed_every=500)
    pipeline.load_partition_from_raw(DATASET, "230000", "2026-10-02")
    first = _content(warehouse, "230000", "2026-10-02")
    quarantined = warehouse.execute(
        "SELECT count(*) FROM raw.quarantine WHERE province_code = '350000' AND period = '2026-10-02'"
    ).fetchone()
    pipeline.load_partition_from_raw(DATASET, "230000", "2026-10-02")
    assert _content(warehouse, "230000", "2026-10-02") == first and first[0] > 0
    assert (
        warehouse.execute(
            "SELECT count(*) FROM raw.quarantine WHERE province_code = '350000' AND period = '2026-10-02'"
        ).fetchone()
        == quarantined
    )


def test_too_many_bad_rows_fail_the_load_and_keep_the_previous_partition(services, warehouse):
    stage_telemetry("620000", "2026-10-02", devices=100)
    pipeline.load_partition_from_raw(DATASET, "620000", "2026-10-02")
    before = _content(warehouse, "620000", "2026-10-02")
    stage_telemetry("620000", "2026-10-02", devices=100, malformed_every=50)  # 2% bad, telemetry allows 1%
    with pytest.raises(QuarantineThresholdExceeded, match=r"48 of 2400 records invalid \(2% > 1%\)"):
        pipeline.load_partition_from_raw(DATASET, "620000", "2026-10-02")
    assert _content(warehouse, "620000", "2026-10-02") == before
    outcome = warehouse.execute(
        "SELECT outcome, error FROM raw.load_audit WHERE province_code = '620000' AND period = '2026-10-02'"
        " ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    assert outcome[0] == "failed" and "48 of 2400" in outcome[1]


def test_a_checksum_mismatch_fails_the_load_and_is_audited(services, warehouse):
    manifest, _ = stage_telemetry("410000", "2026-10-02", devices=50)
    key = manifest.objects[0].key
    mc = client()
    # Overwriting the object does not reach the load: the manifest pins the version it committed.
    tampered = put_bytes(mc, services.raw_bucket, key, b"device_id\nDEV-1\n", "text/csv")
    assert pipeline.load_partition_from_raw(DATASET, "410000", "2026-10-02").rows_loaded == 1_200
    # A manifest pointing at bytes that are not the ones it describes (as an unversioned store
    # would serve them) fails the load.
    pinned = manifest.objects[0].model_copy(update={"version_id": tampered.version_id})
    put_bytes(
        mc,
        services.raw_bucket,
        manifest.partition.manifest_key,
        manifest.model_copy(update={"objects": [pinned]}).model_dump_json().encode(),
        "application/json",
    )
    with pytest.raises(raw_zone.ChecksumMismatch, match=key):
        pipeline.load_partition_from_raw(DATASET, "410000", "2026-10-02")
    row = warehouse.execute(
        "SELECT outcome, checksum_verified, error FROM raw.load_audit"
        " WHERE province_code = '410000' AND period = '2026-10-02' ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    assert row[:2] == ("failed", False) and "sha256" in row[2]
    assert _content(warehouse, "410000", "2026-10-02")[0] == 1_200  # the loaded partition is untouched


def test_two_concurrent_loads_of_one_partition_leave_exactly_one_copy(services, warehouse):
    stage_telemetry("650000", "2026-10-02", devices=2000)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def load():
        barrier.wait()
        try:
            results.append(pipeline.load_partition_from_raw(DATASET, "650000", "2026-10-02"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 2
    count, _ = _content(warehouse, "650000", "2026-10-02")
    assert count == 48_000
    assert (
        warehouse.execute(
            "SELECT count(DISTINCT batch_id) FROM raw.equipment_telemetry"
            " WHERE province_code = '650000' AND period_day = '2026-10-02'"
        ).fetchone()[0]
        == 1
    )


def test_a_held_partition_blocks_only_its_own_loads(services):
    stage_telemetry("220000", "2026-10-05", devices=20)
    stage_telemetry("220000", "2026-10-06", devices=20)
    with _partition_held(services, "220000", "2026-10-05") as holder:
        other = threading.Thread(target=pipeline.load_partition_from_raw, args=(DATASET, "220000", "2026-10-06"))
        same = threading.Thread(target=pipeline.load_partition_from_raw, args=(DATASET, "220000", "2026-10-05"))
        other.start()
        same.start()
        other.join(30)
        assert not other.is_alive()  # a different partition is not blocked
        time.sleep(1)
        assert same.is_alive()  # the same partition waits for the holder
        holder.rollback()
    same.join(30)
    assert not same.is_alive()


LOADER = """
import sys
from ibdc_dev.localstack.env import load_local_env
load_local_env()
from ibdc import pipeline
from ibdc.datasets import DATASETS
pipeline.load_partition_from_raw("equipment_telemetry", "650000", "2026-10-03")
"""


def test_a_load_killed_mid_copy_leaves_the_partition_intact_and_a_rerun_completes(services, warehouse):
    stage_telemetry("650000", "2026-10-03", devices=100)
    # Accepted: a rerun of the suite starts again from this small partition after the large one below.
    pipeline.load_partition_from_raw(DATASET, "650000", "2026-10-03", accept_fewer_records=True)
    before = _content(warehouse, "650000", "2026-10-03")
    stage_telemetry("650000", "2026-10-03", devices=25_000)  # 600k rows: a COPY of some seconds
    proc = subprocess.Popen([sys.executable, "-c", LOADER], env=dict(os.environ))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copying = warehouse.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
            " AND query LIKE 'COPY raw.equipment_telemetry%%'"
        ).fetchone()[0]
        if copying or proc.poll() is not None:
            break
        time.sleep(0.05)
    assert copying, "the loader never reached its COPY"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 30
    while warehouse.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND query LIKE 'COPY raw.equipment_telemetry%%' AND state <> 'idle'"
    ).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert _content(warehouse, "650000", "2026-10-03") == before
    interrupted = warehouse.execute(
        "SELECT outcome, batch_id FROM raw.load_audit WHERE province_code = '650000' ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    assert interrupted[0] == "running"  # the audit shows an attempt that never finished
    result = pipeline.load_partition_from_raw(DATASET, "650000", "2026-10-03")
    assert result.rows_loaded == 600_000 == _content(warehouse, "650000", "2026-10-03")[0]
    # The next attempt closed the dead one's row.
    outcome, finished, error = warehouse.execute(
        "SELECT outcome, finished_at, error FROM raw.load_audit WHERE batch_id = %s", (interrupted[1],)
    ).fetchone()
    assert (outcome, finished is not None) == ("abandoned", True)
    assert error.startswith("abandoned: the attempt's session ended") and result.batch_id in error


def test_a_partition_with_far_fewer_records_than_its_last_load_is_refused_unless_accepted(services, warehouse):
    """Gansu's telemetry of 2026-10-08 loaded with 300 devices, then served again with 100 (a third of
    the records: below the dataset's 50%): refused, the audit holding both counts, the partition as it
    was; accepted explicitly, it loads."""
    province, day = "620000", "2026-10-08"
    stage_telemetry(province, day, devices=300)
    first = pipeline.load_partition_from_raw(DATASET, province, day)
    before = _content(warehouse, province, day)
    assert before[0] == first.rows_loaded == 7_200

    stage_telemetry(province, day, devices=100)
    with pytest.raises(FewerRecordsThanLastLoad, match="2400 records, the last successful load had 7200"):
        pipeline.load_partition_from_raw(DATASET, province, day)
    assert _content(warehouse, province, day) == before
    refused = warehouse.execute(
        "SELECT outcome, rows_in, rows_previous, rows_loaded FROM raw.load_audit WHERE dataset = %s"
        " AND province_code = %s AND period = %s ORDER BY started_at DESC LIMIT 1",
        (DATASET, province, day),
    ).fetchone()
    assert refused == ("failed", 2_400, 7_200, None)
    pages = "SELECT count(*) FROM raw.source_pages p JOIN raw.load_audit a USING (batch_id) WHERE a.outcome = %s"
    pages += " AND a.province_code = %s AND a.period = %s"
    assert warehouse.execute(pages, ("failed", province, day)).fetchone() == (0,)  # rolled back with the load
    listed = "SELECT count(*) FROM raw.source_pages WHERE batch_id = %s"
    assert warehouse.execute(listed, (first.batch_id,)).fetchone() == (1,)  # the load before it: its one page

    accepted = pipeline.load_partition_from_raw(DATASET, province, day, accept_fewer_records=True)
    assert accepted.rows_loaded == _content(warehouse, province, day)[0] == 2_400
    assert _audit(warehouse, accepted.batch_id)[:4] == ("succeeded", True, 2_400, 2_400)


@pytest.fixture
def session_settings(monkeypatch):
    """Set ``IBDC_*`` settings for one test (``session_settings(pg_lock_timeout_s=1)``); restored after."""
    from ibdc.settings import reload_settings

    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"IBDC_{name.upper()}", str(value))
        reload_settings()

    yield set_
    monkeypatch.undo()
    reload_settings()


def _start(call):
    """``call()`` started in a thread: the thread, and a dict that gets its result or the exception
    it raised."""
    out = {}

    def run():
        try:
            out["result"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)  # a blocked load never holds up the test run's exit
    thread.start()
    return thread, out


def _bounded(call, seconds=120):
    """``call()`` in a thread: its result, or the exception it raised (a test that would otherwise
    hang on a lock fails instead)."""
    thread, out = _start(call)
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds}s"
    return out


def _wait_for(predicate, what, seconds=60):
    deadline = time.monotonic() + seconds
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return value


def _take_the_lock(holder, province, day) -> None:
    """``holder``'s transaction takes the partition's lock, as a load does (released when it ends)."""
    holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (partition_lock_key(DATASET, province, day),))


@contextlib.contextmanager
def _partition_held(services, province, day):
    """A live session holding the partition's lock for the block (as long as its transaction lasts)."""
    with psycopg.connect(services.warehouse) as holder:
        _take_the_lock(holder, province, day)
        yield holder


def _start_waiting(call, conn, province, day, what, waiting=frozenset()):
    """``call()`` started in a thread (:func:`_start`), returned once its backend waits for the
    partition's lock beside the backends ``waiting``: the thread, its outcome dict and its pid."""
    thread, out = _start(call)
    (pid,) = _wait_for(lambda: _lock_waiters(conn, province, day) - set(waiting), what)
    return thread, out, pid


def _lock_waiters(conn, province, day) -> set[int]:
    """Backends waiting for the partition's advisory lock (a one-key advisory lock: objid holds the
    key's low 32 bits, objsubid 1)."""
    return {
        pid
        for (pid,) in conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND objid::bigint = (hashtext(%s)::bigint & 4294967295)",
            (partition_lock_key(DATASET, province, day),),
        ).fetchall()
    }


def _running(conn, province, day) -> set[str]:
    return {
        str(b)
        for (b,) in conn.execute(
            "SELECT batch_id FROM raw.load_audit WHERE dataset = %s AND province_code = %s AND period = %s"
            " AND outcome = 'running'",
            (DATASET, province, day),
        ).fetchall()
    }


def test_a_silent_session_holding_the_partition_lock_is_cut_off_and_the_next_load_proceeds(
    services, warehouse, session_settings
):
    """A loader's session that took the partition's lock and then went silent inside its transaction
    (a hung or dead client) loses its session after the idle-in-transaction timeout: the partition's
    next load proceeds instead of waiting for hours."""
    province, day = "220000", "2026-10-09"
    stage_telemetry(province, day, devices=20)
    session_settings(pg_idle_in_transaction_timeout_s=2)
    holder = sessions.connect(services.loader)
    _take_the_lock(holder, province, day)
    # ... and the client says nothing more.
    out = _bounded(lambda: pipeline.load_partition_from_raw(DATASET, province, day, accept_fewer_records=True))
    assert "error" not in out, out
    assert out["result"].rows_loaded == 480 == _content(warehouse, province, day)[0]
    with pytest.raises(psycopg.Error, match="idle-in-transaction timeout"):
        holder.execute("SELECT 1")  # the silent session was cut off (IdleInTransactionSessionTimeout)
    holder.close()


def test_a_load_waiting_beyond_the_lock_timeout_fails_as_transient_and_is_audited(
    services, warehouse, session_settings
):
    province, day = "220000", "2026-10-10"
    stage_telemetry(province, day, devices=20)
    session_settings(pg_lock_timeout_s=1)
    with _partition_held(services, province, day) as holder:  # a live session holding the partition
        out = _bounded(lambda: pipeline.load_partition_from_raw(DATASET, province, day))
        holder.rollback()
    error = out.get("error")
    assert isinstance(error, PartitionBusy) and isinstance(error, TransientError), out
    assert kind_of(error) is ErrorKind.TRANSIENT
    assert isinstance(error.__cause__, psycopg.errors.LockNotAvailable)
    outcome, message = warehouse.execute(
        "SELECT outcome, error FROM raw.load_audit WHERE dataset = %s AND province_code = %s AND period = %s"
        " ORDER BY started_at DESC LIMIT 1",
        (DATASET, province, day),
    ).fetchone()
    assert outcome == "failed" and "lock timeout" in message


def test_only_the_running_rows_of_dead_attempts_are_closed_as_abandoned(services, warehouse):
    """Attempt A, waiting for the partition's lock, has its session terminated: its row stays
    ``running``. Attempt C, next, closes it as ``abandoned``; attempt B, started while C still waits
    for the lock (alive, its row ``running`` too), leaves C's row alone. Both then load."""
    province, day = "220000", "2026-10-11"
    stage_telemetry(province, day, devices=20)
    load = functools.partial(pipeline.load_partition_from_raw, DATASET, province, day, accept_fewer_records=True)
    with _partition_held(services, province, day) as holder:
        thread_a, out_a, pid_a = _start_waiting(load, warehouse, province, day, "attempt A waits for the lock")
        (batch_a,) = _running(warehouse, province, day)
        assert warehouse.execute("SELECT pg_terminate_backend(%s, 30000)", (pid_a,)).fetchone()[0]
        thread_a.join(30)
        assert isinstance(out_a.get("error"), psycopg.OperationalError), out_a
        assert _running(warehouse, province, day) == {batch_a}  # nobody could close it

        thread_c, out_c, pid_c = _start_waiting(load, warehouse, province, day, "attempt C waits for the lock")
        (batch_c,) = _running(warehouse, province, day)  # A's row closed by C
        thread_b, out_b, _ = _start_waiting(load, warehouse, province, day, "attempt B waits too", {pid_c})
        batch_b = _running(warehouse, province, day) - {batch_c}
        assert len(batch_b) == 1 and batch_c in _running(warehouse, province, day)  # C, alive, kept
        holder.rollback()
    thread_c.join(60)
    thread_b.join(60)
    assert "result" in out_c and "result" in out_b, (out_c, out_b)
    outcome, finished, error = warehouse.execute(
        "SELECT outcome, finished_at, error FROM raw.load_audit WHERE batch_id = %s", (batch_a,)
    ).fetchone()
    assert (outcome, finished is not None) == ("abandoned", True) and batch_c in error
    outcomes = dict(
        warehouse.execute(
            "SELECT batch_id::text, outcome FROM raw.load_audit WHERE batch_id = ANY(%s::uuid[])",
            ([batch_c, *batch_b],),
        ).fetchall()
    )
    assert outcomes == {batch_c: "succeeded", next(iter(batch_b)): "succeeded"}


def test_a_load_reads_its_manifest_under_the_partition_lock(services, warehouse):
    """Two loads of one partition wait for its lock; a newer extraction is committed between them.
    Both load the newer one: a load reads its manifest once it holds the lock, so the older manifest
    is never committed after the newer."""
    province, day = "220000", "2026-10-12"
    stage_telemetry(province, day, devices=30)
    load = functools.partial(pipeline.load_partition_from_raw, DATASET, province, day, accept_fewer_records=True)
    with _partition_held(services, province, day) as holder:
        # The first load began while the older extraction was the partition's.
        thread_1, out_1, pid_1 = _start_waiting(load, warehouse, province, day, "the first load waits for the lock")
        newer, _ = stage_telemetry(province, day, devices=40)
        thread_2, out_2, _ = _start_waiting(load, warehouse, province, day, "the second load waits too", {pid_1})
        holder.rollback()
    thread_1.join(60)
    thread_2.join(60)
    assert "result" in out_1 and "result" in out_2, (out_1, out_2)
    assert out_1["result"].rows_in == out_2["result"].rows_in == 960 == _content(warehouse, province, day)[0]
    versions = warehouse.execute(
        "SELECT DISTINCT extract_id FROM raw.load_audit WHERE batch_id = ANY(%s::uuid[])",
        ([out_1["result"].batch_id, out_2["result"].batch_id],),
    ).fetchall()
    assert versions == [(newer.extract_id,)]


SETTINGS = "SELECT set_config('ibdc.province_code', %s, true), set_config('ibdc.period', %s, true),"
SETTINGS += " set_config('ibdc.batch_id', gen_random_uuid()::text, true), set_config('ibdc.source_object', 'x', true),"
SETTINGS += " set_config('ibdc.source_version_id', '', true), set_config('ibdc.source_page', '1', true)"
INSERTS = {
    "industrial_output": "INSERT INTO raw.industrial_output (product_code, unit_code, value_cumulative, base_unit,"
    " value_cumulative_base, record_position) VALUES ('x', 'x', 1, 'x', 1, 1)",
    "equipment_telemetry": "INSERT INTO raw.equipment_telemetry (device_id, enterprise_code, ts, runtime_min,"
    " output_units, energy_kwh) VALUES ('x', 'x', '2026-10-02T01:00:00Z', 1, 1, 1)",
}


@pytest.mark.parametrize(
    ("dataset", "period"),
    [
        ("industrial_output", "2022-06\n"),
        ("industrial_output", "２０２２-06"),
        ("industrial_output", "2022-6"),
        ("equipment_telemetry", "2026-10-02\n"),
        ("equipment_telemetry", "20261002"),
        ("equipment_telemetry", "2026-10-02 "),
        ("equipment_telemetry", "Oct 2 2026"),
    ],
)
def test_sql_refuses_a_period_that_does_not_round_trip(warehouse, dataset, period):
    """The column default that turns the loader's ibdc.period into the partition's date (to_date and
    ::date read all of these as the real partition)."""
    with warehouse.transaction(force_rollback=True):
        warehouse.execute(SETTINGS, ("220000", period))
        with pytest.raises(psycopg.errors.InvalidDatetimeFormat, match="period must be"):
            warehouse.execute(INSERTS[dataset])
    good = {"industrial_output": "2022-06", "equipment_telemetry": "2026-10-02"}[dataset]
    day_partition(warehouse, DATASETS[dataset].table, date(2026, 10, 2))  # as a load makes it first
    with warehouse.transaction(force_rollback=True):
        warehouse.execute(SETTINGS, ("220000", good))
        warehouse.execute(INSERTS[dataset])


def test_a_malformed_period_is_refused_before_anything_is_written(services, warehouse):
    from ibdc.periods import InvalidPeriod

    before = warehouse.execute("SELECT count(*) FROM raw.load_audit").fetchone()[0]
    with pytest.raises(InvalidPeriod):
        pipeline.load_partition_from_raw(DATASET, "220000", "2026-10-02\n")
    with pytest.raises(InvalidPeriod):
        pipeline.load_extracted(
            {
                "status": "not_released",
                "dataset": "industrial_output",
                "province_code": "220000",
                "period": "２０２２-06",
                "manifest_key": "k",
                "reason": "r",
            }
        )
    assert warehouse.execute("SELECT count(*) FROM raw.load_audit").fetchone()[0] == before


def test_a_load_session_carries_its_timeouts_and_server_side_keepalives(services):
    """As the server sees them: without its own keepalives a server probes a silent client after 2 h."""
    with sessions.connect(services.loader) as conn:
        shown = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'lock_timeout',"
                " 'idle_in_transaction_session_timeout', 'tcp_keepalives_idle', 'client_connection_check_interval')"
            ).fetchall()
        )
    assert shown == {
        "statement_timeout": "900000",
        "lock_timeout": "600000",
        "idle_in_transaction_session_timeout": "300000",
        "tcp_keepalives_idle": "60",
        "client_connection_check_interval": "10000",
    }
