"""The governance roles against real marts: what each role can and cannot see or change.

The marts are built (dbt build) on 2022 data of three provinces -- the module claims their 2022 -- and then
every mart found in the manifest is checked, so new marts are covered without naming them here.
Grants, row-level security and masking are generated from the columns' meta by
dbt_project/macros/governance/ (a post-hook of every mart). The analyst roles are NOLOGIN group roles,
used here with SET ROLE from the administrator's connection; the pipeline's two roles log in, and the
fixture's loads and dbt build run as them (settings.loader, settings.transformer).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ibdc import pipeline
from ibdc.datasets import DATASETS
from ibdc.transform.dbt import DBT_PROJECT_DIR, run_dbt
from tests.partitions import ANY
from tests.scratch_warehouse import throwaway_roles

PROVINCES = ["110000", "320000", "650000"]
NO_DATA_PROVINCE = "440000"  # its 2022 claimed, loaded by none: its analyst must still see only its own rows
PERIODS = ["2022-05", "2022-06"]
ENTERPRISE_PERIOD = "2022-06"
TELEMETRY_DAY = "2022-06-15"
pytestmark = [
    pytest.mark.integration,
    # Marts over the year: every dataset of 2022 for these provinces.
    pytest.mark.partitions(dataset=ANY, provinces=[*PROVINCES, NO_DATA_PROVINCE], periods=["2022"]),
]

NATIONAL = "ibdc_analyst_national"
PARTNER = "ibdc_exchange_partner"
STEWARD = "ibdc_steward"
LOADER = "ibdc_loader"
TRANSFORMER = "ibdc_transformer"
FIXED_ROLES = [NATIONAL, PARTNER, STEWARD, LOADER, TRANSFORMER]
HMAC_MASK = re.compile("hmac:[0-9a-f]{64}")  # a personal value in a masked view


def provincial(code: str) -> str:
    return f"ibdc_analyst_{code}"


def _manifest() -> dict:
    target = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    path = (target if target.is_absolute() else DBT_PROJECT_DIR / target) / "manifest.json"
    return json.loads(path.read_text())


class Mart:
    def __init__(self, node: dict):
        self.name = node["alias"]
        self.schema = node["schema"]
        self.columns = {
            name: {**(c.get("meta") or {}), **((c.get("config") or {}).get("meta") or {})}
            for name, c in node["columns"].items()
        }

    @property
    def table(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)

    @property
    def masked(self) -> sql.Composable:
        return sql.Identifier(self.schema, f"{self.name}_masked")

    @property
    def personal(self) -> list[str]:
        return [c for c, m in self.columns.items() if m.get("personal_data")]

    def level(self, n: int) -> list[str]:
        return [c for c, m in self.columns.items() if m.get("security_level") == n and not m.get("personal_data")]

    @property
    def readable(self) -> sql.Composable:
        """What an analyst reads: the masked view when the mart holds personal data."""
        return self.masked if self.personal else self.table

    def __repr__(self) -> str:
        return self.name


@pytest.fixture(scope="module")
def marts(services) -> list[Mart]:
    for period in PERIODS:
        for code in PROVINCES:
            pipeline.extract_partition("industrial_output", code, period)
            pipeline.load_partition_from_raw("industrial_output", code, period)
    if "enterprises" in DATASETS:
        for code in PROVINCES:
            pipeline.extract_partition("enterprises", code, ENTERPRISE_PERIOD)
            pipeline.load_partition_from_raw("enterprises", code, ENTERPRISE_PERIOD)
    if "equipment_telemetry" in DATASETS:  # the OEE marts: rows for the row-level checks too
        for code in PROVINCES:
            pipeline.extract_partition("equipment_telemetry", code, TELEMETRY_DAY)
            pipeline.load_partition_from_raw("equipment_telemetry", code, TELEMETRY_DAY)
    # Seeds, snapshots and models up to the marts; their data tests are other tests' business (and
    # would make this one fail on whatever other tests leave in the shared test database).
    run_dbt("build", "--select", "+marts", "--exclude", "resource_type:test", "--quiet")
    manifest = _manifest()
    found = [
        Mart(n)
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["package_name"] == "ibdc" and n["fqn"][1:2] == ["marts"]
    ]
    assert found, "no marts in the manifest"
    return sorted(found, key=lambda m: m.name)


@contextlib.contextmanager
def as_role(conn: psycopg.Connection, role: str):
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        yield conn
    finally:
        conn.execute("RESET ROLE")


def denied(conn: psycopg.Connection, statement: sql.Composable) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def count(conn, relation, where: sql.Composable | None = None, params=()) -> int:
    where = where or sql.SQL("true")
    return conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(relation, where), params).fetchone()[0]


def by_province(conn, relation) -> dict[str, int]:
    rows = conn.execute(sql.SQL("SELECT province_code, count(*) FROM {} GROUP BY 1").format(relation)).fetchall()
    return dict(rows)


@pytest.fixture
def temp_role(warehouse):
    """A throwaway role in the given roles (cluster-wide, so uniquely named and dropped afterwards)."""
    with throwaway_roles(warehouse, "ibdc_govtest_") as make:
        yield make


def test_roles_one_per_province_from_the_seed_and_only_the_pipeline_logs_in(marts, warehouse):
    codes = [r[0] for r in warehouse.execute("SELECT adcode FROM reference.provinces").fetchall()]
    assert len(codes) == 31
    wanted = FIXED_ROLES + [provincial(c) for c in codes]
    roles = {
        name: rest
        for name, *rest in warehouse.execute(
            "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
            " WHERE rolname = ANY(%s)",
            (wanted,),
        ).fetchall()
    }
    assert sorted(roles) == sorted(wanted)
    assert sorted(r for r, (login, *_) in roles.items() if login) == sorted([LOADER, TRANSFORMER])
    assert not any(any(powers) for _, *powers in roles.values()), "no governance role has superuser-like powers"


def test_the_pipeline_connects_as_its_least_privilege_roles(marts, services):
    """Loads and dbt (the fixture's) use these DSNs; neither role may create a schema or a role."""
    assert services.dbt_env()["IBDC_DBT_USER"] == TRANSFORMER
    for dsn, role in ((services.loader, LOADER), (services.transformer, TRANSFORMER)):
        with psycopg.connect(dsn, autocommit=True) as conn:
            user, is_super = conn.execute(
                "SELECT current_user, usesuper FROM pg_user WHERE usename = current_user"
            ).fetchone()
            assert (user, is_super) == (role, False)
            assert denied(conn, sql.SQL("CREATE SCHEMA governance_probe"))
            assert denied(conn, sql.SQL("CREATE ROLE governance_probe"))
            assert denied(conn, sql.SQL("CREATE TABLE raw.governance_probe (x int)"))
    audit = "SELECT count(*) FROM raw.load_audit WHERE period = %s AND outcome = 'succeeded'"
    with psycopg.connect(services.loader) as conn:
        assert conn.execute(audit, (ENTERPRISE_PERIOD,)).fetchone()[0] > 0  # the fixture's loads, as the loader


def test_every_mart_has_forced_row_security_and_belongs_to_the_transformer(marts, warehouse):
    for mart in marts:
        owner, enabled, forced = warehouse.execute(
            "SELECT pg_get_userbyid(relowner), relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE oid = to_regclass(%s)",
            (f"{mart.schema}.{mart.name}",),
        ).fetchone()
        assert (owner, enabled, forced) == (TRANSFORMER, True, True), mart


def test_provincial_analyst_sees_only_its_province_in_every_mart(marts, warehouse):
    seen_rows = 0
    for mart in marts:
        truth = by_province(warehouse, mart.table)
        for code in [*PROVINCES, NO_DATA_PROVINCE]:
            with as_role(warehouse, provincial(code)):
                visible = by_province(warehouse, mart.readable)
            assert set(visible) <= {code}, (mart, code, visible)
            assert visible.get(code, 0) == truth.get(code, 0), (mart, code)
            seen_rows += visible.get(code, 0)
    assert seen_rows > 0, "the provinces' rows reached no mart"


def test_a_login_user_granted_a_provincial_role_sees_its_province(marts, services, warehouse):
    """Without SET ROLE: a LOGIN user inheriting ibdc_analyst_650000 reads as that analyst."""
    name, password = f"ibdc_govtest_login_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    warehouse.execute(
        sql.SQL("CREATE ROLE {} LOGIN INHERIT PASSWORD {} IN ROLE {}").format(
            sql.Identifier(name), sql.Literal(password), sql.Identifier(provincial("650000"))
        )
    )
    try:
        dsn = psycopg.conninfo.make_conninfo(services.warehouse, user=name, password=password)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for mart in marts:
                truth = by_province(warehouse, mart.table)
                visible = by_province(conn, mart.readable)
                assert set(visible) <= {"650000"}, (mart, visible)
                assert visible.get("650000", 0) == truth.get("650000", 0), mart
    finally:
        warehouse.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_the_owner_role_does_not_bypass_row_security(marts, services, warehouse, temp_role):
    """FORCE ROW LEVEL SECURITY: the owner sees no row by ownership. The transformer reads and writes
    every row only through its own explicit policy, for itself alone; without that policy it sees
    nothing, and a member of the owner role does not gain it."""
    for mart in marts:
        policies = dict(
            warehouse.execute(
                "SELECT policyname, roles::text[] FROM pg_policies WHERE schemaname = %s AND tablename = %s",
                (mart.schema, mart.name),
            ).fetchall()
        )
        assert policies["ibdc_pipeline_rows"] == [TRANSFORMER], mart
        truth = count(warehouse, mart.table)
        with psycopg.connect(services.transformer) as conn:  # one transaction, rolled back
            assert count(conn, mart.table) == truth, mart
            conn.execute(sql.SQL("DROP POLICY ibdc_pipeline_rows ON {}").format(mart.table))
            assert count(conn, mart.table) == 0, mart
            conn.rollback()
    # An analyst who also holds the owner role: the owner's privileges (the unmasked table), yet only
    # its province's rows, through the table and through the masked view.
    owner_analyst = temp_role(TRANSFORMER, provincial("320000"))
    for mart in marts:
        truth = by_province(warehouse, mart.table)
        with as_role(warehouse, owner_analyst):
            assert warehouse.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (TRANSFORMER,)).fetchone()[0]
            visible = [by_province(warehouse, mart.table), by_province(warehouse, mart.readable)]
        for seen in visible:
            assert set(seen) <= {"320000"} and seen.get("320000", 0) == truth.get("320000", 0), mart


def test_national_analyst_and_steward_see_every_row(marts, warehouse):
    for mart in marts:
        total = count(warehouse, mart.table)
        with as_role(warehouse, NATIONAL):
            assert count(warehouse, mart.readable) == total, mart
        with as_role(warehouse, STEWARD):
            assert count(warehouse, mart.table) == total, mart
    assert any(count(warehouse, m.table, sql.SQL("province_code = ANY(%s)"), (PROVINCES,)) for m in marts)


def test_exchange_partner_reads_level_1_columns_only(marts, warehouse):
    checked_above_1 = 0
    for mart in marts:
        level1 = mart.level(1)
        total = count(warehouse, mart.table)
        with as_role(warehouse, PARTNER):
            if level1:
                cols = sql.SQL(", ").join(map(sql.Identifier, level1))
                rows = warehouse.execute(sql.SQL("SELECT {} FROM {}").format(cols, mart.table)).fetchall()
                assert len(rows) == total, mart
            for column in [c for c in mart.columns if c not in level1]:
                stmt = sql.SQL("SELECT {} FROM {} LIMIT 1").format(sql.Identifier(column), mart.table)
                assert denied(warehouse, stmt), (mart, column)
                checked_above_1 += 1
            if len(level1) < len(mart.columns):
                assert denied(warehouse, sql.SQL("SELECT * FROM {} LIMIT 1").format(mart.table)), mart
            if mart.personal:  # level 3, even masked, is not shared
                assert denied(warehouse, sql.SQL("SELECT * FROM {} LIMIT 1").format(mart.masked)), mart
    assert checked_above_1, "no level-2/3 column was checked"


def test_personal_data_is_masked_for_everyone_but_the_steward(marts, warehouse):
    personal_marts = [m for m in marts if m.personal]
    assert personal_marts, "no mart declares personal_data columns"
    others = [NATIONAL, *map(provincial, PROVINCES), PARTNER, LOADER]
    for mart in personal_marts:
        cols = sql.SQL(", ").join(map(sql.Identifier, mart.personal))
        real = warehouse.execute(sql.SQL("SELECT {} FROM {}").format(cols, mart.table)).fetchall()
        assert real, f"{mart} has no rows to mask"
        with as_role(warehouse, STEWARD):
            unmasked = warehouse.execute(sql.SQL("SELECT {} FROM {}").format(cols, mart.table)).fetchall()
        assert sorted(unmasked, key=repr) == sorted(real, key=repr), mart
        real_values = {v for row in real for v in row if v is not None}
        for role in others:
            with as_role(warehouse, role):
                for column in mart.personal:
                    stmt = sql.SQL("SELECT {} FROM {} LIMIT 1").format(sql.Identifier(column), mart.table)
                    assert denied(warehouse, stmt), (mart, column, role)
        for role in [NATIONAL, *map(provincial, PROVINCES)]:
            with as_role(warehouse, role):
                masked = warehouse.execute(sql.SQL("SELECT {} FROM {}").format(cols, mart.masked)).fetchall()
            shown = {v for row in masked for v in row if v is not None}
            assert not shown & real_values, (mart, role)
        with as_role(warehouse, NATIONAL):
            masked = warehouse.execute(sql.SQL("SELECT {} FROM {}").format(cols, mart.masked)).fetchall()
        assert len(masked) == len(real) and any(v is not None for row in masked for v in row), mart
        # A keyed hash of one length (tests/integration/test_security.py: that it reveals nothing).
        assert all(HMAC_MASK.fullmatch(v) for row in masked for v in row if v is not None), (mart, masked[:3])


def test_no_reader_can_change_a_mart(marts, warehouse):
    roles = [NATIONAL, *map(provincial, PROVINCES), PARTNER, STEWARD, LOADER]
    for mart in marts:
        first = sql.Identifier(next(iter(mart.columns)))
        statements = [
            sql.SQL("INSERT INTO {} ({}) VALUES (NULL)").format(mart.table, first),
            sql.SQL("UPDATE {} SET {} = {} WHERE false").format(mart.table, first, first),
            sql.SQL("DELETE FROM {} WHERE false").format(mart.table),
            sql.SQL("TRUNCATE {}").format(mart.table),
        ]
        if mart.personal:
            statements.append(sql.SQL("DELETE FROM {} WHERE false").format(mart.masked))
        for role in roles:
            with as_role(warehouse, role):
                for stmt in statements:
                    assert denied(warehouse, stmt), (mart, role, stmt.as_string(warehouse))


def test_loader_writes_raw_but_cannot_read_marts(marts, services):
    with psycopg.connect(services.warehouse) as conn:  # one transaction, rolled back
        with as_role(conn, LOADER):
            batch = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key,"
                " checksum_verified, started_at, outcome) VALUES (%s, 'governance_test', '110000', '2022-06',"
                " 'test', false, now(), 'running')",
                (batch,),
            )
            conn.execute(
                "INSERT INTO raw.quarantine (dataset, province_code, period, batch_id, source_object,"
                " record_position, raw_text, reason) VALUES ('governance_test', '110000', '2022-06', %s, 't', 0,"
                " 'x', 'governance test')",
                (batch,),
            )
            # As a load replaces a partition's quarantine: by the partition, the one key it may read.
            partition = "dataset = 'governance_test' AND province_code = '110000' AND period = '2022-06'"
            assert conn.execute(f"SELECT count(*) FROM raw.quarantine WHERE {partition}").fetchone()[0] == 1
            assert conn.execute(f"DELETE FROM raw.quarantine WHERE {partition}").rowcount == 1
            assert conn.execute("SELECT count(*) FROM raw.industrial_output").fetchone()[0] > 0
        conn.rollback()
    with psycopg.connect(services.warehouse, autocommit=True) as conn, as_role(conn, LOADER):
        assert denied(conn, sql.SQL("UPDATE raw.industrial_output SET unit_code = unit_code WHERE false"))
        assert denied(conn, sql.SQL("DROP TABLE raw.quarantine"))
        assert denied(conn, sql.SQL("DELETE FROM raw.load_audit WHERE false"))  # the audit trail stays
        assert denied(conn, sql.SQL("DELETE FROM raw.source_pages WHERE false"))  # so do a batch's pages
        conn.execute("BEGIN")  # it adds a batch's pages (rolled back: nothing left)
        conn.execute("INSERT INTO raw.source_pages VALUES (gen_random_uuid(), 1, 'governance/page-0001.json', NULL)")
        conn.execute("ROLLBACK")
        assert denied(conn, sql.SQL("CREATE TEMPORARY TABLE governance_probe (x int)"))
        assert denied(conn, sql.SQL("SELECT count(*) FROM staging.stg_provincial__industrial_output"))
        assert denied(conn, sql.SQL("SELECT count(*) FROM intermediate.int_enterprises_latest"))  # personal data
        for mart in marts:
            assert denied(conn, sql.SQL("SELECT count(*) FROM {}").format(mart.table)), mart
        assert denied(conn, sql.SQL("CREATE TABLE marts.governance_loader_probe (x int)"))
        assert denied(conn, sql.SQL("SELECT count(*) FROM reference.provinces"))


def test_transformer_reads_raw_and_reference_and_owns_the_dbt_layers(marts, services, warehouse):
    layers = ["reference", "staging", "intermediate", "marts", "snapshots"]
    owner_of = "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname::text = ANY(%s)"
    assert dict(warehouse.execute(owner_of, (layers,)).fetchall()) == dict.fromkeys(layers, TRANSFORMER)
    with psycopg.connect(services.warehouse) as conn:
        with as_role(conn, TRANSFORMER):
            assert conn.execute("SELECT count(*) FROM raw.industrial_output").fetchone()[0] > 0
            assert conn.execute("SELECT count(*) FROM reference.provinces").fetchone()[0] == 31
            conn.execute("CREATE TABLE marts.governance_transformer_probe (x int)")
        conn.rollback()
    with psycopg.connect(services.warehouse, autocommit=True) as conn, as_role(conn, TRANSFORMER):
        assert denied(conn, sql.SQL("DELETE FROM raw.industrial_output WHERE false"))


def test_analysts_cannot_read_raw_staging_or_intermediate(marts, warehouse):
    for role in [NATIONAL, provincial("110000"), PARTNER]:
        with as_role(warehouse, role):
            assert denied(warehouse, sql.SQL("SELECT count(*) FROM raw.industrial_output")), role
            assert denied(warehouse, sql.SQL("SELECT count(*) FROM raw.enterprises")), role
            stg = sql.SQL("SELECT count(*) FROM staging.stg_provincial__industrial_output")
            assert denied(warehouse, stg), role
            # The registry's latest records, personal data unmasked: the marts' masked views only.
            assert denied(warehouse, sql.SQL("SELECT count(*) FROM intermediate.int_enterprises_latest")), role


def _aggregates(mart: Mart) -> dict[str, dict]:
    return {c: m["disclosure"] for c, m in mart.columns.items() if isinstance(m.get("disclosure"), dict)}


def test_provincial_analysts_read_no_aggregate_over_other_provinces_and_every_contributor_of_theirs(marts, warehouse):
    """Disclosure control in every mart of the manifest (tests/integration/test_disclosure.py is the
    attack on the values): an aggregate whose cell spans provinces (``within`` without province_code)
    is not granted to a provincial analyst in the mart, only counts excepted, and is readable through
    ``<mart>_disclosed``; an aggregate within its province is granted only where the analyst reads the
    contributors' value in their model (so it sees every contributor)."""
    models = {m.name: m for m in marts}
    checked = {"spanning": 0, "within": 0}
    for mart in marts:
        for column, d in _aggregates(mart).items():
            for code in PROVINCES:
                role = provincial(code)
                granted = warehouse.execute(
                    "SELECT has_column_privilege(%s, %s, %s, 'SELECT')", (role, f"{mart.schema}.{mart.name}", column)
                ).fetchone()[0]
                if "province_code" not in d["within"]:
                    if d["aggregate"] == "count":
                        assert granted, (mart, column, role)
                        continue
                    assert not granted, (mart, column, role, "an aggregate over other provinces, granted")
                    disclosed = f"{mart.schema}.{mart.name}_disclosed"
                    assert warehouse.execute(
                        "SELECT has_table_privilege(%s, %s, 'SELECT')", (role, disclosed)
                    ).fetchone()[0], (mart, role)
                    checked["spanning"] += 1
                elif granted and d.get("of"):
                    source = models[d.get("contributors") or mart.name]
                    assert warehouse.execute(
                        "SELECT has_column_privilege(%s, %s, %s, 'SELECT')",
                        (role, f"{source.schema}.{source.name}", d["of"]),
                    ).fetchone()[0], (mart, column, role, "contributors it cannot read")
                    checked["within"] += 1
    assert checked["spanning"] and checked["within"], checked
