"""The warehouse's security beyond its grants and row-level security (issue 17, parts 3 and 4).

On a scratch database provisioned as a warehouse (``ibdc_test_security``): enterprises with constructed
personal data are loaded as the loader and the enterprise dimension built as the transformer, then

- masks: an analyst's masked names and phones are an HMAC-SHA256 under a key it cannot read, of one
  length whatever the value: no dictionary of every phone number of the data's shape, hashed by every
  unkeyed function an analyst has (md5, sha-2, the old first-character mask), finds one of them;
- administrator paths: the demo's summary, which reads a transformer-owned mart, runs a function the
  transformer planted there without the administrator's rights; provisioning refuses governance roles
  holding a dangerous membership, directly or through another role;
- the loader reads of raw only what replacing a partition needs (no personal data, no quarantined
  record's text), and its loads still work.

Roles are cluster-wide: the roles this module creates are its own (``ibdc_sectest_*``, dropped after);
a shared governance role is granted a dangerous membership in one test only, revoked in a ``finally``.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from ibdc import governance
from ibdc.parsing.base import PageRows
from ibdc.transform.dbt import run_dbt
from ibdc.uscc import check_digit
from ibdc_dev import cli
from tests.scratch_warehouse import load_page, pointed_at, query_as, refused, scratch_warehouse

pytestmark = pytest.mark.integration
SCRATCH = "ibdc_test_security"
PROVINCE, PERIOD = "110000", "2022-06"
NATIONAL, STEWARD, PARTNER = "ibdc_analyst_national", "ibdc_steward", "ibdc_exchange_partner"
LOADER, TRANSFORMER, ADMIN_READER = "ibdc_loader", "ibdc_transformer", "ibdc_admin_reader"
# PostgreSQL 18's predefined roles that give a holder more than its grants (ibdc.governance says why).
DANGEROUS = [
    *("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_read_all_data"),
    *("pg_write_all_data", "pg_signal_backend", "pg_signal_autovacuum_worker", "pg_create_subscription"),
    *("pg_checkpoint", "pg_maintain", "pg_use_reserved_connections", "pg_monitor", "pg_read_all_stats"),
    *("pg_read_all_settings", "pg_stat_scan_tables"),
]
ANALYSTS = [NATIONAL, f"ibdc_analyst_{PROVINCE}"]
# The constructed registry's phones: mobiles of one shape, 1380000 then 4 digits (10,000 numbers, all
# enumerated below), and landlines of other lengths; names of 1 to 4 characters, Chinese and Latin.
PHONE_SHAPE = [f"1380000{n:04d}" for n in range(10_000)]
PHONES = ["13800000000", "13800001234", "13800009999", "13800004321", "010-1234567", "0755-12345678"]
NAMES = ["王", "李娜", "欧阳娜", "欧阳娜娜", "Li Wei", "王"]  # a name twice: equal values mask alike


def _uscc(n: int) -> str:
    body = f"91110000MA{n:07d}"
    return body + check_digit(body)


def _registry_page(phones: list[str], names: list[str]) -> PageRows:
    """One page of the registry as validation leaves it (the raw table's columns)."""
    n = len(phones)
    rows = pa.table(
        {
            "uscc": [_uscc(i) for i in range(n)],
            "name": [f"测试企业{i}" for i in range(n)],
            "city": ["110100"] * n,
            "division_code": ["13"] * n,
            "size_class": ["small"] * n,
            "legal_representative": names,
            "phone": phones,
            "iot_adopted": [True] * n,
            "fiveg_adopted": [False] * n,
            "registered_on": [date(2020, 1, 1)] * n,
            "updated_on": [date(2022, 1, 1)] * n,
            "status": ["active"] * n,
            "record_position": pa.array(range(n), pa.int32()),
        }
    )
    return PageRows(
        source_object=f"enterprises/province={PROVINCE}/period={PERIOD}/page-0001.json",
        source_version_id=None,
        rows=rows,
    )


def _load_registry(loader_dsn: str, phones: list[str], names: list[str]):
    return load_page(loader_dsn, "enterprises", PROVINCE, PERIOD, _registry_page(phones, names))


@pytest.fixture(scope="module")
def scratch(services, tmp_path_factory):
    """DSNs of a freshly provisioned scratch database (``admin``, ``loader``, ``transformer``), its
    registry loaded as the loader and the enterprise dimension built as the transformer."""
    with scratch_warehouse(services, SCRATCH) as dsns:
        _load_registry(dsns["loader"], PHONES, NAMES)
        with pointed_at(dsns, tmp_path_factory.mktemp("dbt-target")):
            run_dbt("build", "--select", "provinces", "+dim_enterprise", "--exclude", "resource_type:test", "--quiet")
        yield dsns


@pytest.fixture
def admin(scratch):
    with psycopg.connect(scratch["admin"], autocommit=True) as conn:
        yield conn


def _unkeyed_dictionary(values: list[str]) -> dict[str, str]:
    """What an analyst can compute from a guess without a key, as the masked view might show it:
    the guess itself, its first character and asterisks (the former mask), its md5 and SHA-2 digests
    (hex, bare or prefixed as masks were and are), each mapped back to the guess."""
    found: dict[str, str] = {}
    for v in values:
        digests = {name: hashlib.new(name, v.encode()).hexdigest() for name in ("md5", "sha224", "sha256", "sha512")}
        forms = [v, v[:1] + "*" * max(len(v) - 1, 2), *digests.values()]
        forms += [f"{prefix}:{d}" for d in digests.values() for prefix in ("md5", "sha256", "hmac")]
        found.update(dict.fromkeys(forms, v))
    return found


def _masked(admin, role: str = NATIONAL) -> list[tuple[str, str]]:
    return query_as(admin, role, "SELECT legal_representative, phone FROM marts.dim_enterprise_masked ORDER BY uscc")


def test_an_analyst_cannot_reverse_masked_phones_and_names_by_enumerating_them(admin):
    real = admin.execute("SELECT legal_representative, phone FROM marts.dim_enterprise ORDER BY uscc").fetchall()
    assert real == list(zip(NAMES, PHONES, strict=True))
    guesses = _unkeyed_dictionary(PHONE_SHAPE + PHONES + NAMES)
    for role in ANALYSTS:
        masked = _masked(admin, role)
        assert len(masked) == len(real), role
        shown = {v for row in masked for v in row}
        assert None not in shown
        assert not {v: guesses[v] for v in shown if v in guesses}, f"{role} reverses masks by enumeration"
        # Pseudonyms: equal values mask alike, distinct ones differ (joins and distinct counts hold).
        for column in (0, 1):
            pairs = {(r[column], m[column]) for r, m in zip(real, masked, strict=True)}
            assert len({r for r, _ in pairs}) == len({m for _, m in pairs}) == len(pairs), (role, column)


def test_every_masked_value_has_one_length_whatever_the_value(admin):
    assert len({len(v) for v in NAMES}) > 1 and len({len(v) for v in PHONES}) > 1  # lengths that could leak
    lengths = {len(v) for row in _masked(admin) for v in row}
    assert lengths == {len("hmac:") + 64}, lengths


def test_masks_are_hmac_sha256_under_the_databases_own_key(admin, scratch):
    """The view computes HMAC-SHA256 (RFC 2104) with the provisioned key; a load of the same value in
    another database (another key) would mask differently, and the key is 32 random bytes made once."""
    inner, outer = admin.execute("SELECT inner_pad, outer_pad FROM governance.mask_key").fetchone()
    assert bytes(a ^ b for a, b in zip(inner, outer, strict=True)) == bytes([0x36 ^ 0x5C]) * 64  # one key's pads
    key = bytes(b ^ 0x36 for b in inner)
    assert key[32:] == bytes(32) and key[:32] != bytes(32)  # 32 key bytes, zero-padded to the block
    expected = [
        tuple("hmac:" + hashlib.sha256(outer + hashlib.sha256(inner + v.encode()).digest()).hexdigest() for v in row)
        for row in zip(NAMES, PHONES, strict=True)
    ]
    assert _masked(admin) == expected
    governance.provision(scratch["admin"], None, None)  # provisioning again keeps the key (masks stable)
    assert admin.execute("SELECT inner_pad FROM governance.mask_key").fetchone()[0] == inner


def test_no_reader_can_read_the_mask_key(admin):
    """Not the table, not its statistics, not in any view's or function's source."""
    admin.execute("ANALYZE governance.mask_key")
    inner, outer = admin.execute("SELECT inner_pad, outer_pad FROM governance.mask_key").fetchone()
    assert admin.execute("SELECT count(*) FROM pg_stats WHERE schemaname = 'governance'").fetchone()[0] > 0
    for role in [*ANALYSTS, PARTNER, STEWARD, LOADER, ADMIN_READER]:
        assert refused(admin, role, "SELECT inner_pad FROM governance.mask_key"), role
        assert query_as(admin, role, "SELECT count(*) FROM pg_stats WHERE schemaname = 'governance'") == [(0,)], role
        assert query_as(admin, role, "SELECT has_schema_privilege('governance', 'USAGE')") == [(False,)], role
    sources = admin.execute(
        "SELECT string_agg(pg_get_viewdef(c.oid), ' ') FROM pg_class c WHERE c.relkind IN ('v', 'm')"
    ).fetchone()[0] + " ".join(p for (p,) in admin.execute("SELECT prosrc FROM pg_proc").fetchall() if p)
    for pad in (inner, outer):
        assert pad.hex() not in sources and bytes(b ^ 0x36 for b in pad)[:32].hex() not in sources


@pytest.fixture
def scratch_roles(services):
    """Throwaway roles (cluster-wide: uniquely named, dropped afterwards)."""
    made: list[str] = []

    def make(options: str = "NOLOGIN") -> str:
        name = f"ibdc_sectest_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(services.warehouse, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(name)))
        made.append(name)
        return name

    yield make
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        for name in reversed(made):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_the_demo_summary_runs_no_transformer_code_with_the_administrators_rights(
    services, scratch, admin, scratch_roles
):
    """A compromised transformer replaces the mart the summary counts (and its disclosed view) by views calling its own
    function, which (invoked with the querying session's rights) resets any SET ROLE and tries what
    only a superuser may: make a role superuser, write an administrator's table. Run as the summary
    runs it, the function runs (it logs who ran it) and achieves nothing."""
    victim = scratch_roles()
    admin.execute("CREATE TABLE public.escalation_marker (by_user name, session_user_name name)")  # the admin's
    admin.execute(
        "INSERT INTO raw.load_audit (batch_id, dataset, province_code, period, manifest_key, checksum_verified,"
        " rows_in, rows_loaded, rows_quarantined, started_at, finished_at, outcome)"
        " VALUES (%s, 'industrial_output', %s, %s, 'k', true, 2, 2, 0, now(), now(), 'succeeded')",
        (uuid.uuid4(), PROVINCE, PERIOD),
    )
    with psycopg.connect(scratch["transformer"], autocommit=True) as attacker:
        attacker.execute(f"""
            CREATE TABLE marts.attack_log (by_user name, session_user_name name);
            GRANT INSERT ON marts.attack_log TO PUBLIC;
            CREATE FUNCTION marts.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
                RESET ROLE;
                INSERT INTO marts.attack_log VALUES (current_user, session_user);
                BEGIN
                    EXECUTE 'ALTER ROLE {victim} SUPERUSER';
                EXCEPTION WHEN insufficient_privilege THEN NULL;
                END;
                BEGIN
                    INSERT INTO public.escalation_marker VALUES (current_user, session_user);
                EXCEPTION WHEN insufficient_privilege OR invalid_schema_name OR undefined_table THEN NULL;
                END;
                RETURN true;
            END
            $$;
            GRANT EXECUTE ON FUNCTION marts.escalate() TO PUBLIC;
            CREATE VIEW marts.mart_industrial_output_monthly AS
                SELECT DATE '2022-06-01' AS period_month, 'cement'::text AS product_code
                FROM generate_series(1, 2) WHERE marts.escalate();
            GRANT SELECT ON marts.mart_industrial_output_monthly TO PUBLIC;
            CREATE VIEW marts.mart_industrial_output_monthly_disclosed AS
                SELECT 'cement'::text AS product_code, DATE '2022-06-01' AS period_month,
                    NULL::text AS national_suppression
                WHERE marts.escalate();
            GRANT SELECT ON marts.mart_industrial_output_monthly_disclosed TO PUBLIC;
        """)
    settings = services.model_copy(update={"warehouse_dsn": scratch["admin"]})
    cli.summary(settings, [("industrial_output", PERIOD)])  # raises SystemExit when its counts disagree
    ran_as = admin.execute("SELECT DISTINCT by_user, session_user_name FROM marts.attack_log").fetchall()
    assert ran_as and all(
        not admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (who,)).fetchone()[0]
        for row in ran_as
        for who in row
    ), ran_as
    assert admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (victim,)).fetchone() == (False,)
    assert admin.execute("SELECT count(*) FROM public.escalation_marker").fetchone() == (0,)
    assert admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (TRANSFORMER,)).fetchone() == (False,)


def test_every_predefined_role_of_the_server_is_refused_but_pg_database_owner(warehouse):
    """A server that adds predefined roles fails here until each is judged (ibdc.governance)."""
    predefined = {r for (r,) in warehouse.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'pg\\_%'")}
    assert predefined - {"pg_database_owner"} == set(DANGEROUS) == set(governance.DANGEROUS_MEMBERSHIPS)


@pytest.mark.parametrize("predefined", DANGEROUS)
def test_a_role_holding_a_dangerous_membership_is_refused(services, scratch_roles, predefined):
    """Directly and through an intermediate role, for each predefined role judged dangerous (checked on
    a throwaway role: the check is the one provisioning runs on every governance role)."""
    direct, through, via = scratch_roles(), scratch_roles(), scratch_roles()
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}, {}").format(*map(sql.Identifier, (predefined, direct, via))))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(via), sql.Identifier(through)))
        for role in (direct, through):
            with pytest.raises(
                governance.UnsafeRole, match=f"role {role} is a member of the predefined role {predefined}"
            ):
                governance.refuse_dangerous_memberships(conn, [role])


def test_membership_in_a_superuser_or_another_governance_role_is_refused(services, scratch_roles):
    superuser, member, steward_member = scratch_roles("NOLOGIN SUPERUSER"), scratch_roles(), scratch_roles()
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(superuser), sql.Identifier(member)))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(STEWARD), sql.Identifier(steward_member)))
        with pytest.raises(governance.UnsafeRole, match=f"{member} is a member of the role {superuser}"):
            governance.refuse_dangerous_memberships(conn, [member])
        with pytest.raises(
            governance.UnsafeRole, match=f"{steward_member} is a member of the governance role {STEWARD}"
        ):
            governance.refuse_dangerous_memberships(conn, [steward_member])
        governance.refuse_dangerous_memberships(conn)  # the shared governance roles hold none


def test_provisioning_refuses_a_governance_role_holding_a_dangerous_membership(scratch, services, scratch_roles):
    """End to end on the shared roles: the partner role granted, through an intermediate role,
    pg_read_server_files; then the loader made a member of the steward. Each revoked at once."""
    via = scratch_roles()
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT pg_read_server_files TO {}").format(sql.Identifier(via)))
        for granted, to, named in (
            (via, PARTNER, f"role {PARTNER} is a member of the predefined role pg_read_server_files"),
            (STEWARD, LOADER, f"role {LOADER} is a member of the governance role {STEWARD}"),
        ):
            grant = sql.SQL("GRANT {} TO {}").format(sql.Identifier(granted), sql.Identifier(to))
            try:
                conn.execute(grant)
                with pytest.raises(governance.UnsafeRole, match=named):
                    governance.provision(scratch["admin"], None, None)
            finally:
                conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), sql.Identifier(to)))
    governance.provision(scratch["admin"], None, None)  # revoked: provisioning passes again


def test_the_loader_reads_no_personal_or_content_column_of_raw_yet_loads(scratch, admin):
    with psycopg.connect(scratch["loader"], autocommit=True) as loader:
        for query in (
            "SELECT legal_representative FROM raw.enterprises",
            "SELECT phone FROM raw.enterprises",
            "SELECT * FROM raw.enterprises",
            "SELECT raw_text FROM raw.quarantine",  # a rejected registry record, personal data included
            "SELECT error FROM raw.load_audit",
            "SELECT value_cumulative FROM raw.industrial_output",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                loader.execute(query)
        # What replacing a partition reads: its key.
        assert loader.execute(
            "SELECT count(*) FROM raw.enterprises WHERE province_code = %s AND period_month = %s::date",
            (PROVINCE, f"{PERIOD}-01"),
        ).fetchone() == (len(PHONES),)
    # A replacement of the partition, twice (the second deletes the first's rows, reads the audit).
    for phones in (PHONES[:3], PHONES):
        result = _load_registry(scratch["loader"], phones, NAMES[: len(phones)])
        assert (result.rows_loaded, result.rows_quarantined) == (len(phones), 0)
    assert admin.execute("SELECT phone FROM raw.enterprises ORDER BY uscc").fetchall() == [(p,) for p in PHONES]


def test_provisioning_drops_masked_views_an_earlier_version_left_unkeyed(scratch, admin):
    """An upgraded warehouse: a masked view showing first characters (as the earlier masks did) is
    dropped by the provisioning, not left readable until its mart is rebuilt; keyed ones stay."""
    with psycopg.connect(scratch["transformer"], autocommit=True) as transformer:
        transformer.execute(
            "CREATE VIEW marts.dim_enterprise_old_masked AS SELECT uscc, left(phone, 1) || repeat('*', 10) AS phone"
            " FROM marts.dim_enterprise"
        )
    governance.provision(scratch["admin"], None, None)
    assert admin.execute("SELECT to_regclass('marts.dim_enterprise_old_masked')").fetchone() == (None,)
    assert admin.execute("SELECT to_regclass('marts.dim_enterprise_masked')").fetchone() != (None,)
