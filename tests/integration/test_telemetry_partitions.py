"""Raw telemetry partitioned by day (issue 20, point 4), on a scratch database provisioned as a warehouse
(``ibdc_test_partitions``): a province-day's replacement touches its day's partition only; the loader
makes a missing day's partition through the one function it may execute, without DDL rights of its
own; a warehouse whose telemetry table is not partitioned is upgraded by the provisioning with every
row and grant; retention drops whole days before a cutoff, records them, and is refused to the loader.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from ibdc import cli, governance
from ibdc.datasets import DATASETS
from ibdc.loading import retention
from ibdc.loading.postgres import _replace_partition, ensure_schema
from ibdc.parsing.base import PageRows
from ibdc.transform.dbt import DbtError, run_dbt
from tests.scratch_warehouse import load_page, pointed_at, query_as, scratch_warehouse

pytestmark = pytest.mark.integration
SCRATCH = "ibdc_test_partitions"
DATASET = "equipment_telemetry"
SPEC = DATASETS[DATASET]
LOADER, TRANSFORMER = "ibdc_loader", "ibdc_transformer"
FIRST = date(2025, 3, 1)
DAYS = [FIRST + timedelta(days=i) for i in range(4)]
PROVINCES = ("410000", "420000")
DEVICES = 5
BUSINESS = "province_code, period_day, device_id, enterprise_code, ts, runtime_min, output_units, energy_kwh"


def _page(day: date, devices: int = DEVICES, output: int = 1) -> PageRows:
    """A province-day's page: ``devices`` devices x 24 hours, canonical text as the validator gives it."""
    rows = [
        (f"d{d}", "e1", f"{day}T{h:02d}:00:00Z", "60", str(output), "1.5") for d in range(devices) for h in range(24)
    ]
    names = ["device_id", "enterprise_code", "ts", "runtime_min", "output_units", "energy_kwh"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    return PageRows(f"{DATASET}/test/{day}.csv", None, table)


def _load(dsn: str, province: str, day: date, **kw):
    return load_page(dsn, DATASET, province, day.isoformat(), _page(day, **kw))


def _partitions(conn) -> dict[date, str]:
    return retention.telemetry_days(conn)


@pytest.fixture(scope="module")
def scratch(services):
    with scratch_warehouse(services, SCRATCH) as dsns:
        yield dsns


@pytest.fixture
def admin(scratch):
    with psycopg.connect(scratch["admin"], autocommit=True) as conn:
        conn.execute("TRUNCATE raw.equipment_telemetry")
        for partition in _partitions(conn).values():
            conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(partition)))
        yield conn


def test_the_loader_makes_a_missing_days_partition_without_ddl_rights(scratch, admin):
    """The day's partition is made by the function the loader may execute; the loader itself can create
    no table, attach none, and reach no partition but through the parent."""
    assert _partitions(admin) == {}
    result = _load(scratch["loader"], PROVINCES[0], DAYS[0])
    assert result.rows_loaded == DEVICES * 24
    assert list(_partitions(admin)) == [DAYS[0]]
    partition = _partitions(admin)[DAYS[0]]
    owner = admin.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", (partition,))
    assert owner.fetchone()[0] == admin.info.user  # the function's owner, the schema's: not the loader
    with psycopg.connect(scratch["loader"], autocommit=True) as loader:
        assert loader.execute(f"SELECT {SPEC.table}_day_partition(%s)::text", (DAYS[0],)).fetchone() == (partition,)
        for statement in (
            f"CREATE TABLE raw_partitions.probe (LIKE {SPEC.table})",
            "CREATE TABLE raw.probe (x int)",
            f"ALTER TABLE {SPEC.table} DETACH PARTITION {partition}",
            f"SELECT count(*) FROM {partition}",
            f"DELETE FROM {partition}",
            f"DROP TABLE {partition}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                loader.execute(statement)
    # Only the loader is granted the function (EXECUTE revoked from PUBLIC).
    for role in (TRANSFORMER, "ibdc_analyst_national"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            query_as(admin, role, "SELECT raw.equipment_telemetry_day_partition(%s)", (DAYS[1],))
        admin.execute("RESET ROLE")
    secdef = admin.execute(
        "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = 'raw.equipment_telemetry_day_partition'::regproc"
    ).fetchone()
    assert secdef == (True, ["search_path=pg_catalog, pg_temp"])


def test_two_loads_of_one_new_day_make_one_partition(scratch, admin):
    """Two provinces' first loads of the same day, at once: one partition, both loads in it."""
    errors = []

    def load(province):
        try:
            _load(scratch["loader"], province, DAYS[1])
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(p,)) for p in PROVINCES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert list(_partitions(admin)) == [DAYS[1]]
    assert admin.execute("SELECT count(*) FROM raw.equipment_telemetry").fetchone()[0] == 2 * DEVICES * 24


def test_a_province_day_replacement_locks_and_writes_only_its_days_partition(scratch, admin):
    """The replacement's DELETE and COPY, as the loader runs them, in a transaction held open: the
    only partition the session has locked is the day's (planning a DELETE by to_date(period) would lock
    every one), and the other days' rows are untouched (same xmin)."""
    for day in DAYS:
        for province in PROVINCES:
            _load(scratch["loader"], province, day)
    before = dict(admin.execute("SELECT period_day, max(xmin::text::bigint) FROM raw.equipment_telemetry GROUP BY 1"))
    target = DAYS[2]
    with psycopg.connect(scratch["loader"]) as loader:
        plan = loader.execute(
            f"EXPLAIN DELETE FROM {SPEC.table} WHERE province_code = %s AND period_day = %s", (PROVINCES[0], target)
        ).fetchall()
        scanned = {m for (line,) in plan for m in re.findall(r"equipment_telemetry_\d{8}", line)}
        assert scanned == {_partitions(admin)[target].split(".")[1]}, plan
        loader.rollback()
        batch = "00000000-0000-0000-0000-000000000001"
        rows_in, rows_loaded, _ = _replace_partition(
            loader, SPEC, PROVINCES[0], target.isoformat(), [_page(target, output=7)], batch
        )
        assert rows_loaded == DEVICES * 24
        locked = admin.execute(
            "SELECT l.relation::regclass::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE l.pid = %s AND l.locktype = 'relation' AND n.nspname = 'raw_partitions' AND c.relkind = 'r'",
            (loader.info.backend_pid,),
        ).fetchall()
        assert locked == [(_partitions(admin)[target],)]
        loader.commit()
    after = dict(admin.execute("SELECT period_day, max(xmin::text::bigint) FROM raw.equipment_telemetry GROUP BY 1"))
    assert {d: x for d, x in after.items() if d != target} == {d: x for d, x in before.items() if d != target}
    assert after[target] != before[target]
    outputs = admin.execute(
        "SELECT province_code, period_day, sum(output_units) FROM raw.equipment_telemetry GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert outputs == [
        (p, d, 7 * DEVICES * 24 if (p, d) == (PROVINCES[0], target) else DEVICES * 24) for p in PROVINCES for d in DAYS
    ]


def _scans(conn, partition: str) -> tuple[int, int]:
    """(sequential scans, index scans) of ``partition`` counted so far (every session's, as flushed)."""
    return conn.execute(
        "SELECT seq_scan, coalesce(idx_scan, 0) FROM pg_stat_all_tables WHERE relid = %s::regclass", (partition,)
    ).fetchone()


def test_a_province_day_replacement_reads_its_rows_through_the_key_not_the_whole_day(scratch, admin):
    day = FIRST + timedelta(days=20)
    for province in PROVINCES:
        _load(scratch["loader"], province, day)
    partition = _partitions(admin)[day]
    admin.execute(f"ANALYZE {partition}")  # the planner knows half the day is the other province's
    # The counters settled: the loads' sessions report theirs as they end, after the client returned.
    settled = None
    while (counted := _scans(admin, partition)) != settled:
        settled = counted
        time.sleep(1.5)
    seq_before, idx_before = settled
    _load(scratch["loader"], PROVINCES[0], day, output=2)  # replaces its rows of the day
    deadline = time.monotonic() + 15
    while _scans(admin, partition)[1] == idx_before:  # the loader's statistics flushed (at most ~1 s after)
        assert time.monotonic() < deadline, "the replacement's DELETE never scanned the key"
        time.sleep(0.2)
    assert _scans(admin, partition)[0] == seq_before, "the replacement read the whole day's partition"
    assert admin.execute(
        "SELECT province_code, min(output_units), count(*) FROM raw.equipment_telemetry WHERE period_day = %s"
        " GROUP BY 1 ORDER BY 1",
        (day,),
    ).fetchall() == [(PROVINCES[0], 2, DEVICES * 24), (PROVINCES[1], 1, DEVICES * 24)]


def test_readers_keep_the_tables_grants_through_the_parent_only(scratch, admin):
    """The transformer reads every day through raw.equipment_telemetry (its grant), no partition
    directly; the loader reads only the key columns it is granted there."""
    _load(scratch["loader"], PROVINCES[0], DAYS[0])
    governance.provision(scratch["admin"], None, None)  # provisioning again grants nothing on partitions
    _load(scratch["loader"], PROVINCES[0], DAYS[1])  # a partition made after the provisioning
    partition = _partitions(admin)[DAYS[0]]
    assert query_as(admin, TRANSFORMER, "SELECT count(*) FROM raw.equipment_telemetry") == [(2 * DEVICES * 24,)]
    with (
        psycopg.connect(scratch["transformer"], autocommit=True) as transformer,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        transformer.execute(f"SELECT count(*) FROM {partition}")
    with (
        psycopg.connect(scratch["loader"], autocommit=True) as loader,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        loader.execute("SELECT output_units FROM raw.equipment_telemetry")
    acl = admin.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'raw_partitions' AND c.relacl IS NOT NULL"
    ).fetchall()
    assert acl == []


def _unpartition(conn) -> None:
    """The telemetry table as the previous version made it: a plain table (same columns, key, checks,
    its day index), the provisioning's grants on it, and the partitioned one's rows."""
    conn.execute("CREATE TABLE raw.equipment_telemetry_plain (LIKE raw.equipment_telemetry INCLUDING ALL)")
    conn.execute("INSERT INTO raw.equipment_telemetry_plain SELECT * FROM raw.equipment_telemetry")
    for partition in _partitions(conn).values():
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(partition)))
    conn.execute("DROP TABLE raw.equipment_telemetry")
    conn.execute("ALTER TABLE raw.equipment_telemetry_plain RENAME TO equipment_telemetry")
    conn.execute("ALTER INDEX raw.equipment_telemetry_plain_pkey RENAME TO equipment_telemetry_pkey")
    conn.execute("CREATE INDEX equipment_telemetry_day ON raw.equipment_telemetry (period_day)")
    conn.execute(
        sql.SQL(
            "GRANT INSERT, DELETE ON raw.equipment_telemetry TO {l}; GRANT SELECT ON raw.equipment_telemetry TO {t};"
            " GRANT SELECT (province_code, period_day) ON raw.equipment_telemetry TO {l}"
        ).format(l=sql.Identifier(LOADER), t=sql.Identifier(TRANSFORMER))
    )


def _shape(conn) -> dict:
    """What readers and writers of raw.equipment_telemetry depend on: columns (type, default, not null),
    constraints, grants."""
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), pg_get_expr(d.adbin, d.adrelid), attnotnull,"
        " (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(attacl) x)"
        " FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE attrelid = 'raw.equipment_telemetry'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    ).fetchall()
    constraints = conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'raw.equipment_telemetry'::regclass ORDER BY 1"
    ).fetchall()
    table = conn.execute(
        "SELECT relkind, (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(relacl) x), pg_get_partkeydef(oid)"
        " FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass"
    ).fetchone()
    return {"columns": columns, "constraints": constraints, "table": table}


def test_a_table_not_partitioned_is_upgraded_with_every_row_and_grant(scratch, admin):
    for day in DAYS:
        _load(scratch["loader"], PROVINCES[0], day, output=day.day)
    fresh = _shape(admin)
    content = "SELECT md5(string_agg(t::text, '|' ORDER BY province_code, period_day, device_id, ts)), count(*) FROM"
    content += f" (SELECT {BUSINESS}, batch_id, loaded_at FROM raw.equipment_telemetry) t"
    rows = admin.execute(content).fetchone()
    _unpartition(admin)
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass").fetchone() == (
        "r",
    )
    assert admin.execute(content).fetchone() == rows
    ensure_schema(admin)  # as the provisioning runs it (before it grants anything)
    assert _shape(admin) == fresh
    assert admin.execute(content).fetchone() == rows and rows[1] == len(DAYS) * DEVICES * 24
    assert sorted(_partitions(admin)) == DAYS
    assert admin.execute("SELECT to_regclass('raw_partitions.equipment_telemetry_unpartitioned')").fetchone() == (None,)
    assert admin.execute("SELECT to_regclass('raw.equipment_telemetry_day')").fetchone() == (None,)
    ensure_schema(admin)  # idempotent: nothing left to do
    assert _shape(admin) == fresh and admin.execute(content).fetchone() == rows
    # The loads go on, as the loader, into the days moved and new ones.
    _load(scratch["loader"], PROVINCES[0], DAYS[0], output=9)
    _load(scratch["loader"], PROVINCES[1], DAYS[-1] + timedelta(days=1))
    assert admin.execute("SELECT count(*) FROM raw.equipment_telemetry").fetchone()[0] == (len(DAYS) + 1) * DEVICES * 24


def test_an_upgrade_that_fails_leaves_the_table_as_it_was(scratch, admin):
    """All or nothing: a row the partitioned table refuses (none of the previous version's checks would
    let it in; here put in by hand) rolls the whole upgrade back."""
    _load(scratch["loader"], PROVINCES[0], DAYS[0])
    _unpartition(admin)
    admin.execute("ALTER TABLE raw.equipment_telemetry DROP CONSTRAINT equipment_telemetry_runtime_min_check")
    admin.execute("UPDATE raw.equipment_telemetry SET runtime_min = 61 WHERE device_id = 'd0'")
    with pytest.raises(psycopg.errors.CheckViolation):
        ensure_schema(admin)
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass").fetchone() == (
        "r",
    )
    assert admin.execute("SELECT count(*) FROM raw.equipment_telemetry").fetchone()[0] == DEVICES * 24
    # Put back for the next tests: the value checked again, then the upgrade.
    admin.execute("UPDATE raw.equipment_telemetry SET runtime_min = 60 WHERE device_id = 'd0'")
    admin.execute(
        "ALTER TABLE raw.equipment_telemetry ADD CONSTRAINT equipment_telemetry_runtime_min_check"
        " CHECK (runtime_min BETWEEN 0 AND 60)"
    )
    ensure_schema(admin)
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass").fetchone() == (
        "p",
    )


# Each reading with its page's object and version, through raw.source_pages.
LINEAGE = (
    "SELECT t.province_code, t.period_day, t.device_id, t.ts, t.batch_id, p.source_object, p.source_version_id"
    " FROM raw.equipment_telemetry t JOIN raw.source_pages p ON p.batch_id = t.batch_id AND p.page = t.source_page"
)


def _object_lineage(conn) -> None:
    """The telemetry rows as the previous version stored them: each carrying its object's key and
    version (source_object, source_version_id), with no page number and no page of theirs listed."""
    conn.execute("ALTER TABLE raw.equipment_telemetry ADD COLUMN source_object text, ADD COLUMN source_version_id text")
    conn.execute(
        "UPDATE raw.equipment_telemetry t SET source_object = p.source_object, source_version_id = p.source_version_id"
        " FROM raw.source_pages p WHERE p.batch_id = t.batch_id AND p.page = t.source_page"
    )
    conn.execute(
        "ALTER TABLE raw.equipment_telemetry ALTER COLUMN source_object SET NOT NULL,"
        " ALTER COLUMN source_object SET DEFAULT current_setting('ibdc.source_object'),"
        " ALTER COLUMN source_version_id SET DEFAULT nullif(current_setting('ibdc.source_version_id'), ''),"
        " DROP COLUMN source_page"
    )
    conn.execute("DELETE FROM raw.source_pages")


def test_rows_carrying_their_objects_key_are_upgraded_to_name_their_page(scratch, admin):
    for day in DAYS[:2]:
        _load(scratch["loader"], PROVINCES[0], day)
    _load(scratch["loader"], PROVINCES[1], DAYS[0])
    # One batch read two pages, one of them versioned.
    (batch,) = admin.execute(
        "SELECT DISTINCT batch_id FROM raw.equipment_telemetry WHERE province_code = %s AND period_day = %s",
        (PROVINCES[1], DAYS[0]),
    ).fetchone()
    admin.execute(
        "INSERT INTO raw.source_pages VALUES (%s, 2, 'equipment_telemetry/test/zz-page-0002.json', 'v2')", (batch,)
    )
    admin.execute(
        "UPDATE raw.equipment_telemetry SET source_page = 2 WHERE batch_id = %s AND device_id = 'd0'", (batch,)
    )
    fresh = _shape(admin)
    before = sorted(admin.execute(LINEAGE).fetchall())
    mine = {(PROVINCES[0], DAYS[0]), (PROVINCES[0], DAYS[1]), (PROVINCES[1], DAYS[0])}
    assert {r[:2] for r in before} >= mine
    _object_lineage(admin)
    carried = admin.execute(
        "SELECT province_code, period_day, device_id, ts, batch_id, source_object, source_version_id"
        " FROM raw.equipment_telemetry"
    ).fetchall()
    assert sorted(carried) == before and sum(r[:2] in mine for r in before) == 3 * DEVICES * 24
    ensure_schema(admin)  # as the provisioning runs it
    assert sorted(admin.execute(LINEAGE).fetchall()) == before
    upgraded = _shape(admin)  # the same columns, defaults and checks; source_page now last
    assert sorted(upgraded["columns"]) == sorted(fresh["columns"]) and upgraded["constraints"] == fresh["constraints"]
    pages = admin.execute("SELECT page, source_object FROM raw.source_pages WHERE batch_id = %s ORDER BY 1", (batch,))
    assert pages.fetchall() == [(1, f"{DATASET}/test/{DAYS[0]}.csv"), (2, f"{DATASET}/test/zz-page-0002.json")]
    ensure_schema(admin)  # idempotent
    assert sorted(admin.execute(LINEAGE).fetchall()) == before
    result = _load(scratch["loader"], PROVINCES[0], DAYS[2])  # the loads go on
    loaded = admin.execute(LINEAGE + " WHERE t.batch_id = %s", (result.batch_id,)).fetchall()
    key = f"{DATASET}/test/{DAYS[2]}.csv"
    start = datetime.combine(DAYS[2], datetime.min.time(), UTC)
    expected = [(PROVINCES[0], DAYS[2], f"d{d}", start + timedelta(hours=h)) for d in range(DEVICES) for h in range(24)]
    assert sorted(r[:4] for r in loaded) == sorted(expected)
    assert {r[4:] for r in loaded} == {(uuid.UUID(result.batch_id), key, None)}


def test_an_unpartitioned_table_carrying_objects_keys_is_partitioned_and_names_its_pages(scratch, admin):
    for day in DAYS[:2]:
        _load(scratch["loader"], PROVINCES[1], day)
    before = sorted(admin.execute(LINEAGE).fetchall())
    _object_lineage(admin)
    _unpartition(admin)  # the oldest shape: a plain table whose rows carry their object's key
    ensure_schema(admin)
    assert admin.execute("SELECT relkind FROM pg_class WHERE oid = 'raw.equipment_telemetry'::regclass").fetchone() == (
        "p",
    )
    assert sorted(admin.execute(LINEAGE).fetchall()) == before and len(before) >= 2 * DEVICES * 24
    assert admin.execute("SELECT to_regclass('raw_partitions.equipment_telemetry_unpartitioned')").fetchone() == (None,)


def test_retention_drops_whole_days_before_the_cutoff_and_records_them(scratch, admin):
    for day in DAYS:
        for province in PROVINCES:
            _load(scratch["loader"], province, day)
    cutoff = DAYS[2]
    with (
        psycopg.connect(scratch["loader"], autocommit=True) as loader,  # the loader may not
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        retention.drop_telemetry_days_before(loader, cutoff)
    assert sorted(_partitions(admin)) == DAYS
    assert retention.drop_telemetry_days_before(admin, cutoff) == DAYS[:2]
    assert sorted(_partitions(admin)) == DAYS[2:]
    kept = admin.execute("SELECT period_day, count(*) FROM raw.equipment_telemetry GROUP BY 1 ORDER BY 1").fetchall()
    assert kept == [(d, len(PROVINCES) * DEVICES * 24) for d in DAYS[2:]]
    recorded = admin.execute(
        "SELECT province_code, period, rows_dropped, error FROM raw.load_audit WHERE outcome = 'dropped'"
        " AND dataset = %s ORDER BY period, province_code",
        (DATASET,),
    ).fetchall()
    assert [r[:3] for r in recorded] == [(p, d.isoformat(), DEVICES * 24) for d in DAYS[:2] for p in PROVINCES]
    assert all("before 2025-03-03" in r[3] for r in recorded)
    assert retention.drop_telemetry_days_before(admin, cutoff) == []  # nothing older left
    # A dropped day can be loaded again (the raw zone keeps its extraction): its partition is made anew.
    _load(scratch["loader"], PROVINCES[0], DAYS[0])
    assert sorted(_partitions(admin)) == [DAYS[0], *DAYS[2:]]


def test_the_cli_verb_drops_by_the_retention_setting_and_keeps_everything_without_it(scratch, admin, tmp_path, capsys):
    today = datetime.now(UTC).date()
    days = [today - timedelta(days=n) for n in (40, 31, 30, 1)]
    for day in days:
        _load(scratch["loader"], PROVINCES[0], day)
    with pointed_at(scratch, tmp_path):
        assert cli.main(["expire-telemetry"]) == 0
    assert "nothing dropped" in capsys.readouterr().out
    assert sorted(_partitions(admin)) == sorted(days)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IBDC_TELEMETRY_RETENTION_DAYS", "30")
        with pointed_at(scratch, tmp_path):
            assert cli.main(["expire-telemetry"]) == 0
    assert "dropped 2 telemetry days" in capsys.readouterr().out
    assert sorted(_partitions(admin)) == sorted(days[2:])


def test_the_oee_reconciliation_passes_over_days_retention_dropped_and_fails_over_rows_lost(scratch, admin, tmp_path):
    """After retention the marts hold days raw does not: recorded as dropped, the dbt reconciliation
    leaves them out; the same rows gone from raw without a record still fail it."""
    for day in DAYS:
        _load(scratch["loader"], PROVINCES[0], day)
    with pointed_at(scratch, tmp_path):
        run_dbt(
            "build",
            "--select",
            "resource_type:seed",
            "+mart_equipment_oee_province_daily",
            "--exclude",
            "resource_type:test",
            "--full-refresh",
            "--quiet",
        )
        run_dbt("test", "--select", "assert_oee_reconciles_with_telemetry", "--quiet")
        assert retention.drop_telemetry_days_before(admin, DAYS[1]) == [DAYS[0]]
        run_dbt("test", "--select", "assert_oee_reconciles_with_telemetry", "--quiet")
        admin.execute("DELETE FROM raw.equipment_telemetry WHERE period_day = %s", (DAYS[1],))  # no record
        with pytest.raises(DbtError):
            run_dbt("test", "--select", "assert_oee_reconciles_with_telemetry", "--quiet")
