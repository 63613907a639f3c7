"""The warehouse's roles, tables and privileges: provisioned per database by an administrator.

The pipeline never connects as the administrator. Loads connect as ``ibdc_loader``: it may insert
and delete rows in ``raw`` (and close its own audit rows), read there only the columns replacing a
partition reads (:func:`loader_reads`: no personal data), and insert alerts in ``ops``; it owns
nothing and runs no DDL (a telemetry day's partition it has made by the one SECURITY DEFINER function
it may execute, ``raw.equipment_telemetry_day_partition``; the partitions, in schema ``raw_partitions``,
are reached by every role only through ``raw.equipment_telemetry`` and its grants).
dbt connects as ``ibdc_transformer``: it reads ``raw``, records the
loads each build read in ``ops.transformed_loads``, owns the layers it builds (``reference`` seeds,
``staging``, ``intermediate``, ``snapshots``, ``marts``), and grants on the marts from the columns'
meta (``dbt_project/macros/governance``). Neither is a superuser, and neither can create roles,
databases or schemas. The analyst roles (national, one per province from the GB/T 2260 code list,
exchange partner, steward) are group roles without login: people log in as their own users and are
granted one.

``provision`` is idempotent: ``ibdc-dev up`` runs it on the local cluster, ``ibdc provision`` on an
external warehouse (with an administrator's DSN in ``IBDC_WAREHOUSE_DSN``), and it is how the raw
tables' DDL (``loading/ddl.sql``) reaches a database. It also hands over to the transformer the
relations an earlier, administrator-run dbt created in its schemas.

It also keeps, per database, the key of the masked views' keyed hash (``governance.mask_key``: only
the transformer, which owns those views, may read it), and the administrator's reader
(``ibdc_admin_reader``, a national analyst that may also read the load audit): what an administrator's
tool reads of the transformer's relations, it reads through :func:`reader_connection`, never as the
administrator, since a relation's owner decides what code a query of it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from collections.abc import Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ibdc import alerts
from ibdc.datasets import DATASETS
from ibdc.loading.postgres import ensure_schema
from ibdc.reference import provinces
from ibdc.settings import EXCHANGE, EXCHANGE_READER, LOADER, TRANSFORMER, Settings
from ibdc.transform import changes

READERS = ("ibdc_analyst_national", "ibdc_exchange_partner", "ibdc_steward")
PROVINCIAL_PREFIX = "ibdc_analyst_"
TRANSFORMER_SCHEMAS = ("reference", "staging", "intermediate", "snapshots", "marts")
NATIONAL = READERS[0]
# What an administrator's tool (the demo's summary) reads marts and the load audit as: a national
# analyst, logging in only with a password made for one session (reader_connection).
ADMIN_READER = "ibdc_admin_reader"
# The one membership a governance role may hold in another: the administrator's reader is a national analyst.
ALLOWED_MEMBERSHIPS = {ADMIN_READER: {NATIONAL}}
# PostgreSQL 18's predefined roles no governance role may hold, directly or through another role
# (every predefined role but pg_database_owner, which nobody is granted), and why.
DANGEROUS_MEMBERSHIPS = {
    "pg_read_server_files": "reads any file the server can (COPY FROM a file): the cluster's data and keys",
    "pg_write_server_files": "writes any file the server can (COPY TO a file): superuser by configuration",
    "pg_execute_server_program": "runs programs as the server's operating-system user (COPY ... PROGRAM)",
    "pg_read_all_data": "reads every table whatever its grants: raw personal data, the mask key",
    "pg_write_all_data": "writes every table whatever its grants: raw, the audit, the marts",
    "pg_signal_backend": "cancels or ends other sessions: loads and builds cut off",
    "pg_signal_autovacuum_worker": "cancels or ends autovacuum workers",
    "pg_create_subscription": "creates subscriptions: connections out of the server, data pulled in",
    "pg_checkpoint": "forces checkpoints at will (I/O load on the whole cluster)",
    "pg_maintain": "VACUUM, ANALYZE, REINDEX, CLUSTER, REFRESH and LOCK on every relation",
    "pg_use_reserved_connections": "takes the connections reserved for maintenance",
    "pg_monitor": "reads every session's statistics and query text (pg_read_all_stats, below)",
    "pg_read_all_stats": "reads every session's current query (pg_stat_activity): other users' statements",
    "pg_read_all_settings": "reads every setting, file locations and superuser-only ones included",
    "pg_stat_scan_tables": "runs monitoring functions that lock any table (ACCESS SHARE)",
}
# The masked views' keyed hash (dbt_project/macros/governance/apply_governance.sql): HMAC-SHA256 built
# from PostgreSQL's own sha256(), the key stored as the two padded keys HMAC hashes with.
MASK_KEY_DDL = """
CREATE SCHEMA IF NOT EXISTS governance;
CREATE TABLE IF NOT EXISTS governance.mask_key (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    inner_pad  bytea NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad  bytea NOT NULL CHECK (length(outer_pad) = 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE governance.mask_key IS
    'Key of the masked views'' HMAC-SHA256 of personal data (key XOR 0x36 and key XOR 0x5c, zero-padded to '
    'SHA-256''s 64-byte block): made once by the provisioning from 32 random bytes; read by ibdc_transformer only';
"""
SHA256_BLOCK = 64


def provincial_roles() -> list[str]:
    return [PROVINCIAL_PREFIX + code for code in provinces()]


class UnsafeRole(RuntimeError):
    """A governance role exists with powers it must not have: superuser-like attributes, or a membership
    (direct or through other roles) in a predefined role of :data:`DANGEROUS_MEMBERSHIPS`, a role with
    superuser-like attributes, or another governance role."""


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's (inner, outer) padded keys of ``key`` (at most 64 bytes; RFC 2104): the key
    zero-padded to SHA-256's 64-byte block, XOR 0x36 and XOR 0x5c. HMAC(key, m) is
    ``sha256(outer || sha256(inner || m))``."""
    if len(key) > SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    block = key.ljust(SHA256_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def _ensure_role(conn: psycopg.Connection, role: str, password: str | None = None) -> None:
    """Create the role unless it exists (a pipeline role with ``password`` logs in with it; without
    one, an existing role's login is left as it is); refuse a role with superuser-like powers."""
    login = sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password)) if password else None
    if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
        try:
            with conn.transaction():  # a savepoint: a concurrent CREATE must not abort the provisioning
                conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(role), login or sql.SQL("NOLOGIN")))
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass  # created meanwhile by another database's provisioning (roles are cluster-wide)
    elif login is not None:
        conn.execute(sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(role), login))
    powers = conn.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    if any(powers):
        raise UnsafeRole(f"role {role} exists with superuser-like powers; an administrator must remove them")


def governance_roles() -> list[str]:
    """Every role the provisioning makes: the pipeline's, the readers', the provincial analysts', the
    administrator's reader."""
    return [LOADER, TRANSFORMER, EXCHANGE, EXCHANGE_READER, *READERS, *provincial_roles(), ADMIN_READER]


def refuse_dangerous_memberships(conn: psycopg.Connection, roles: list[str] | None = None) -> None:
    """Raise :class:`UnsafeRole` naming the first of ``roles`` (default: every governance role) that is a member,
    directly or through other roles (``pg_has_role(..., 'MEMBER')``: whatever the INHERIT and SET
    options), of a predefined role of :data:`DANGEROUS_MEMBERSHIPS`, of a role with superuser-like
    attributes (a member may SET ROLE to it), or of another governance role (but
    :data:`ALLOWED_MEMBERSHIPS`)."""
    everyone = governance_roles()
    found = conn.execute(
        "SELECT g.rolname, m.rolname, m.rolname = ANY(%(dangerous)s), m.rolname = ANY(%(governance)s)"
        " FROM pg_roles g JOIN pg_roles m ON m.oid <> g.oid AND pg_has_role(g.oid, m.oid, 'MEMBER')"
        " WHERE g.rolname = ANY(%(checked)s) AND (m.rolname = ANY(%(dangerous)s) OR m.rolname = ANY(%(governance)s)"
        "   OR m.rolsuper OR m.rolcreaterole OR m.rolcreatedb OR m.rolreplication OR m.rolbypassrls)"
        " ORDER BY 1, 2",
        {"dangerous": list(DANGEROUS_MEMBERSHIPS), "governance": everyone, "checked": roles or everyone},
    ).fetchall()
    for role, member_of, dangerous, governance in found:
        if member_of in ALLOWED_MEMBERSHIPS.get(role, ()):
            continue
        if dangerous:
            why = f"the predefined role {member_of} ({DANGEROUS_MEMBERSHIPS[member_of]})"
        elif governance:
            why = f"the governance role {member_of}, which would widen its rights"
        else:
            why = f"the role {member_of}, which has superuser-like powers"
        raise UnsafeRole(
            f"role {role} is a member of {why}, directly or through another role; an administrator must"
            f" revoke it (REVOKE {member_of} FROM {role}, or from the role it holds it through)"
        )


def _ensure_mask_key(conn: psycopg.Connection) -> None:
    """The masked views' key, made once per database from 32 random bytes (sent as a parameter, never
    in a statement's text); only the transformer, their owner, may read it."""
    conn.execute(MASK_KEY_DDL)
    inner, outer = hmac_pads(secrets.token_bytes(32))
    conn.execute(
        "INSERT INTO governance.mask_key (inner_pad, outer_pad) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (inner, outer),
    )
    conn.execute(
        sql.SQL(
            "REVOKE ALL ON SCHEMA governance FROM PUBLIC; REVOKE ALL ON governance.mask_key FROM PUBLIC;"
            " GRANT USAGE ON SCHEMA governance TO {t}; GRANT SELECT ON governance.mask_key TO {t}"
        ).format(t=sql.Identifier(TRANSFORMER))
    )


@contextlib.contextmanager
def reader_connection(admin_dsn: str) -> Iterator[psycopg.Connection]:
    """A connection to ``admin_dsn``'s database as :data:`ADMIN_READER` (a national analyst that may
    also read ``raw.load_audit``), for an administrator's tool reading what the transformer owns:
    a query of a relation runs what its owner put there (a view's functions, a policy), with the
    querying session's rights, and ``SET ROLE`` is no boundary (such a function can ``RESET ROLE``).
    The reader's password is made for this one login (random, sent as a SCRAM verifier, valid five
    minutes); logins are serialised on the database. Raises ``RuntimeError`` when the role does not
    exist (an administrator runs ``ibdc provision``), :class:`UnsafeRole` when it holds a membership
    it must not."""
    password = secrets.token_urlsafe(32)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ADMIN_READER,)).fetchone():
            raise RuntimeError(f"role {ADMIN_READER} does not exist: an administrator runs ibdc provision first")
        refuse_dangerous_memberships(admin, [ADMIN_READER])
        admin.execute("SELECT pg_advisory_lock(hashtext('ibdc.governance.admin_reader'))")
        verifier = admin.pgconn.encrypt_password(password.encode(), ADMIN_READER.encode(), b"scram-sha-256")
        until = admin.execute("SELECT (now() + interval '5 minutes')::text").fetchone()[0]
        admin.execute(
            sql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER PASSWORD {} VALID UNTIL {}").format(
                sql.Identifier(ADMIN_READER), sql.Literal(verifier.decode()), sql.Literal(until)
            )
        )
        reader = psycopg.connect(make_conninfo(admin_dsn, user=ADMIN_READER, password=password))
    with reader:
        yield reader


def _hand_over(conn: psycopg.Connection, schema: str, owner: str) -> None:
    """The schema, and every table, view and sequence in it, owned by ``owner``."""
    conn.execute(
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {o}; ALTER SCHEMA {s} OWNER TO {o}").format(
            s=sql.Identifier(schema), o=sql.Identifier(owner)
        )
    )
    rows = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
        " AND pg_get_userbyid(c.relowner) <> %s AND NOT EXISTS"  # sequences owned by a column follow it
        " (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')",
        (schema, owner),
    ).fetchall()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for name, kind in rows:
        conn.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(kinds[kind]), sql.Identifier(schema, name), sql.Identifier(owner)
            )
        )


def provision(
    admin_dsn: str,
    loader_password: str | None,
    transformer_password: str | None,
    exchange_password: str | None = None,
    exchange_reader_password: str | None = None,
) -> None:
    """Roles, raw tables, the exchange market's schema and privileges of the database ``admin_dsn``
    names (as its administrator)."""
    from ibdc.exchange import schema as exchange_schema

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(alerts.DDL)
        conn.execute(changes.DDL)
        with conn.transaction():
            # Roles are cluster-wide: one provisioning at a time on this database.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.governance.provision'))")
            _provision(conn, loader_password, transformer_password, exchange_password, exchange_reader_password)
            exchange_schema.provision(conn)


def provision_warehouse(settings: Settings) -> None:
    """:func:`provision` of ``settings``' warehouse (its DSN an administrator's), the pipeline roles'
    passwords those of their DSNs (none given: an existing role's login is kept)."""
    loader, transformer, exchange, exchange_reader = (
        conninfo_to_dict(dsn).get("password") or None
        for dsn in (settings.loader, settings.transformer, settings.exchange, settings.exchange_reader)
    )
    provision(settings.warehouse, loader, transformer, exchange, exchange_reader)


def _provision(
    conn: psycopg.Connection,
    loader_password: str | None,
    transformer_password: str | None,
    exchange_password: str | None = None,
    exchange_reader_password: str | None = None,
) -> None:
    _ensure_role(conn, LOADER, loader_password)
    _ensure_role(conn, TRANSFORMER, transformer_password)
    _ensure_role(conn, EXCHANGE, exchange_password)
    _ensure_role(conn, EXCHANGE_READER, exchange_reader_password)
    everyone = [LOADER, TRANSFORMER, EXCHANGE, EXCHANGE_READER, *READERS, *provincial_roles()]
    for role in [*everyone[4:], ADMIN_READER]:
        _ensure_role(conn, role)
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(NATIONAL), sql.Identifier(ADMIN_READER)))
    refuse_dangerous_memberships(conn)
    ids = {name: sql.Identifier(name) for name in (LOADER, TRANSFORMER)}
    conn.execute(
        sql.SQL(
            "REVOKE ALL ON DATABASE {d} FROM PUBLIC, {r}; GRANT CONNECT ON DATABASE {d} TO {r};"
            " GRANT TEMPORARY ON DATABASE {d} TO {t}"  # dbt's incremental models stage in temporary tables
        ).format(
            d=sql.Identifier(conn.info.dbname), r=sql.SQL(", ").join(map(sql.Identifier, everyone)), t=ids[TRANSFORMER]
        )
    )
    conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    # raw and ops: the administrator's tables, rows written by the loader (an earlier version of this
    # platform made the loader their owner: handed back).
    admin = conn.info.user
    for schema in ("raw", "ops"):
        _hand_over(conn, schema, admin)
        conn.execute(
            sql.SQL(
                "REVOKE ALL ON SCHEMA {s} FROM {l}, {t}; REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {l}, {t}"
            ).format(s=sql.Identifier(schema), l=ids[LOADER], t=ids[TRANSFORMER])
        )
    conn.execute(
        sql.SQL(
            "GRANT USAGE ON SCHEMA raw, ops TO {l};"
            " GRANT INSERT, DELETE ON ALL TABLES IN SCHEMA raw TO {l};"
            # The audit trail: the loader adds its attempts and closes them, never deletes one.
            " REVOKE DELETE ON raw.load_audit FROM {l};"
            # A batch's pages are its lineage, kept as its audit row is.
            " REVOKE DELETE ON raw.source_pages FROM {l};"
            " GRANT UPDATE (finished_at, outcome, error, rows_in, rows_loaded, rows_quarantined, rows_previous,"
            " checksum_verified, extract_id)"  # the extraction a load read under the partition's lock
            "   ON raw.load_audit TO {l};"
            " GRANT INSERT ON ops.alerts TO {l};"
            # A telemetry day's partition, made before the day's load (SECURITY DEFINER: no DDL right of its own).
            " GRANT EXECUTE ON FUNCTION raw.equipment_telemetry_day_partition(date) TO {l};"
            " GRANT USAGE ON ALL SEQUENCES IN SCHEMA raw, ops TO {l};"
            # dbt reads what the loads write (raw); of ops, not the alerts.
            " GRANT USAGE ON SCHEMA raw TO {t};"
            " GRANT SELECT ON ALL TABLES IN SCHEMA raw TO {t};"
            # The transform records the loads each successful build read (ibdc.transform.changes).
            " GRANT USAGE ON SCHEMA ops TO {t};"
            " GRANT SELECT, INSERT, UPDATE ON ops.transformed_loads TO {t}"
        ).format(l=ids[LOADER], t=ids[TRANSFORMER])
    )
    _grant_loader_reads(conn)
    # The administrator's reader: the load audit (no personal data) beside what a national analyst reads.
    conn.execute(
        sql.SQL(
            "REVOKE ALL ON SCHEMA raw FROM {r}; REVOKE ALL ON ALL TABLES IN SCHEMA raw FROM {r};"
            " GRANT USAGE ON SCHEMA raw TO {r}; GRANT SELECT ON raw.load_audit TO {r}"
        ).format(r=sql.Identifier(ADMIN_READER))
    )
    _ensure_mask_key(conn)
    for schema in TRANSFORMER_SCHEMAS:
        _hand_over(conn, schema, TRANSFORMER)
    _drop_unkeyed_masked_views(conn)


def _drop_unkeyed_masked_views(conn: psycopg.Connection) -> None:
    """Drop the masked views that do not read the mask key: built by an earlier version, they show a
    prefix of each name and phone and its length (or an unkeyed md5). The next build of their mart
    makes them again, keyed; until then analysts read no personal column (fail closed)."""
    stale = conn.execute(
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'marts' AND c.relkind = 'v' AND c.relname LIKE '%\\_masked'"
        " AND NOT EXISTS (SELECT FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass"
        "   AND d.objid = r.oid WHERE r.ev_class = c.oid AND d.refobjid = 'governance.mask_key'::regclass)"
    ).fetchall()
    for (view,) in stale:
        conn.execute(sql.SQL("DROP VIEW {}").format(sql.SQL(view)))  # regclass text: quoted as needed


# What the loader reads of raw (column-level SELECT): the columns its WHERE, SET and RETURNING clauses
# name (ibdc.loading.postgres), nothing else: a partition's key to replace it, the quarantine's
# partition, and of the audit what closes attempts and finds the last successful load. No row content:
# not the registry's personal data (legal_representative, phone), not a quarantined record's text.
LOADER_AUDIT_READS = ("batch_id", "dataset", "province_code", "period", "outcome", "rows_in", "finished_at")
LOADER_AUDIT_READS += ("extract_id",)  # kept when a failed load read no manifest (coalesce)
LOADER_QUARANTINE_READS = ("dataset", "province_code", "period")


def loader_reads() -> dict[str, tuple[str, ...]]:
    """Raw table (``schema.name``) -> the columns the loader may SELECT."""
    reads = {spec.table: ("province_code", spec.calendar.period_column) for spec in DATASETS.values()}
    return {**reads, "raw.quarantine": LOADER_QUARANTINE_READS, "raw.load_audit": LOADER_AUDIT_READS}


def _grant_loader_reads(conn: psycopg.Connection) -> None:
    for table, columns in loader_reads().items():
        conn.execute(
            sql.SQL("GRANT SELECT ({}) ON {} TO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier(*table.split(".")),
                sql.Identifier(LOADER),
            )
        )
