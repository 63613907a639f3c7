"""What a transform run builds is read from the load audit (``ibdc.transform.changes``), not from the
asset events that triggered it: the partitions whose latest successful load is not the one the last
successful build recorded. On a scratch database provisioned as a warehouse, its audit rows written
as the loader writes them, read and recorded as the transformer."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from ibdc import governance
from ibdc.transform.changes import LoadedPartition, pending_build, record_build

pytestmark = pytest.mark.integration
SCRATCH = "ibdc_test_transform_changes"


@pytest.fixture
def scratch(services):
    """(administrator's DSN, transformer's DSN) of a freshly provisioned scratch database."""
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH}")
        admin.execute(f"CREATE DATABASE {SCRATCH}")
    admin_dsn = make_conninfo(services.warehouse, dbname=SCRATCH)
    governance.provision(admin_dsn, None, None)  # the roles exist: their logins are kept
    yield admin_dsn, make_conninfo(services.transformer, dbname=SCRATCH)
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)")


def _load(conn, dataset: str, province: str, period: str, outcome: str = "succeeded", minutes: int = 0) -> str:
    """An audit row as a load leaves it, finished ``minutes`` after now; its batch id."""
    batch = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key, checksum_verified,"
        " started_at, finished_at, outcome) VALUES (%s, %s, %s, %s, 'k', true, now(),"
        " now() + make_interval(mins => %s), %s)",
        (batch, dataset, province, period, minutes, outcome),
    )
    return batch


def test_a_build_takes_what_was_loaded_since_the_last_recorded_one(scratch):
    admin_dsn, transformer = scratch
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        _load(admin, "industrial_output", "110000", "2024-03")
        march = _load(admin, "industrial_output", "110000", "2024-03", minutes=1)  # its latest load
        april = _load(admin, "industrial_output", "320000", "2024-04")
        _load(admin, "industrial_output", "320000", "2024-05", outcome="failed")
        _load(admin, "industrial_output", "320000", "2024-06", outcome="not_released")

        first = pending_build(transformer)  # nothing recorded yet: every period
        assert first.full and first.periods == {}
        assert sorted(first.loads) == [
            LoadedPartition("industrial_output", "110000", "2024-03", march),
            LoadedPartition("industrial_output", "320000", "2024-04", april),
        ]
        # Recorded as the DAG hands them over: through XCom, as JSON lists.
        assert record_build(transformer, [list(load) for load in first.loads]) == 2
        assert pending_build(transformer).empty

        again = _load(admin, "industrial_output", "320000", "2024-04", minutes=2)
        day = _load(admin, "equipment_telemetry", "110000", "2024-04-02")
        _load(admin, "industrial_output", "110000", "2024-03", outcome="failed", minutes=3)  # changes nothing
        build = pending_build(transformer)
        assert not build.full and not build.empty
        assert build.periods == {"equipment_telemetry": ["2024-04-02"], "industrial_output": ["2024-04"]}
        assert sorted(build.loads) == [
            LoadedPartition("equipment_telemetry", "110000", "2024-04-02", day),
            LoadedPartition("industrial_output", "320000", "2024-04", again),
        ]
        # A manual run builds everything, whatever is recorded.
        assert pending_build(transformer, full=True).full


def test_a_load_committed_after_the_read_is_built_next_time(scratch):
    admin_dsn, transformer = scratch
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        assert record_build(transformer, []) == 0
        _load(admin, "industrial_output", "110000", "2024-03", minutes=-10)
        record_build(transformer, pending_build(transformer).loads)
        assert pending_build(transformer).empty
    # A load whose transaction is open while the build reads (its finished_at already stamped, as the
    # loader stamps it before committing): not in this build, so not recorded by it.
    with psycopg.connect(admin_dsn) as loading:
        late = _load(loading, "industrial_output", "110000", "2024-03", minutes=-1)
        during = pending_build(transformer)
        assert during.empty
        loading.commit()
    record_build(transformer, during.loads)
    after = pending_build(transformer)
    assert after.loads == [LoadedPartition("industrial_output", "110000", "2024-03", late)]
    assert after.periods == {"industrial_output": ["2024-03"]}


def test_a_record_never_steps_back_to_an_older_load(scratch):
    admin_dsn, transformer = scratch
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        old = _load(admin, "industrial_output", "110000", "2024-03")
        record_build(transformer, pending_build(transformer).loads)
        new = _load(admin, "industrial_output", "110000", "2024-03", minutes=1)
        record_build(transformer, pending_build(transformer).loads)
        assert record_build(transformer, [("industrial_output", "110000", "2024-03", old)]) == 0  # a stale build's
        assert record_build(transformer, [("industrial_output", "110000", "2024-03", str(uuid.uuid4()))]) == 0
        recorded = admin.execute("SELECT batch_id::text FROM ops.transformed_loads").fetchall()
        assert recorded == [(new,)]


def test_the_transformer_records_builds_and_nothing_else_of_ops(scratch):
    _, transformer = scratch
    with psycopg.connect(transformer, autocommit=True) as conn:
        conn.execute("SELECT count(*) FROM ops.transformed_loads")
        for statement in ("DELETE FROM ops.transformed_loads", "SELECT count(*) FROM ops.alerts"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE raw.load_audit SET outcome = 'failed'")
