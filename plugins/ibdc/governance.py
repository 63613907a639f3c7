"""The warehouse's roles, tables and privileges: provisioned per database by an administrator.

The pipeline never connects as the administrator. Loads connect as ``ibdc_loader``: it may read,
insert and delete rows in ``raw`` (and close its own audit rows) and insert alerts in ``ops``; it
owns nothing and runs no DDL. dbt connects as ``ibdc_transformer``: it reads ``raw``, records the
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
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from ibdc import alerts
from ibdc.loading.postgres import ensure_schema
from ibdc.reference import provinces
from ibdc.settings import LOADER, TRANSFORMER, Settings
from ibdc.transform import changes

READERS = ("ibdc_analyst_national", "ibdc_exchange_partner", "ibdc_steward")
PROVINCIAL_PREFIX = "ibdc_analyst_"
TRANSFORMER_SCHEMAS = ("reference", "staging", "intermediate", "snapshots", "marts")


def provincial_roles() -> list[str]:
    return [PROVINCIAL_PREFIX + code for code in provinces()]


class UnsafeRole(RuntimeError):
    """A governance role exists with powers it must not have (superuser, creating roles, ...)."""


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


def provision(admin_dsn: str, loader_password: str | None, transformer_password: str | None) -> None:
    """Roles, raw tables and privileges of the database ``admin_dsn`` names (as its administrator)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(alerts.DDL)
        conn.execute(changes.DDL)
        with conn.transaction():
            # Roles are cluster-wide: one provisioning at a time on this database.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.governance.provision'))")
            _provision(conn, loader_password, transformer_password)


def provision_warehouse(settings: Settings) -> None:
    """:func:`provision` of ``settings``' warehouse (its DSN an administrator's), the pipeline roles'
    passwords those of their DSNs (none given: an existing role's login is kept)."""
    loader, transformer = (
        conninfo_to_dict(dsn).get("password") or None for dsn in (settings.loader, settings.transformer)
    )
    provision(settings.warehouse, loader, transformer)


def _provision(conn: psycopg.Connection, loader_password: str | None, transformer_password: str | None) -> None:
    _ensure_role(conn, LOADER, loader_password)
    _ensure_role(conn, TRANSFORMER, transformer_password)
    everyone = [LOADER, TRANSFORMER, *READERS, *provincial_roles()]
    for role in everyone[2:]:
        _ensure_role(conn, role)
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
            " GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA raw TO {l};"
            # The audit trail: the loader adds its attempts and closes them, never deletes one.
            " REVOKE DELETE ON raw.load_audit FROM {l};"
            " GRANT UPDATE (finished_at, outcome, error, rows_in, rows_loaded, rows_quarantined, rows_previous,"
            " checksum_verified, extract_id)"  # the extraction a load read under the partition's lock
            "   ON raw.load_audit TO {l};"
            " GRANT INSERT ON ops.alerts TO {l};"
            " GRANT USAGE ON ALL SEQUENCES IN SCHEMA raw, ops TO {l};"
            # dbt reads what the loads write (raw); of ops, not the alerts.
            " GRANT USAGE ON SCHEMA raw TO {t};"
            " GRANT SELECT ON ALL TABLES IN SCHEMA raw TO {t};"
            # The transform records the loads each successful build read (ibdc.transform.changes).
            " GRANT USAGE ON SCHEMA ops TO {t};"
            " GRANT SELECT, INSERT, UPDATE ON ops.transformed_loads TO {t}"
        ).format(l=ids[LOADER], t=ids[TRANSFORMER])
    )
    for schema in TRANSFORMER_SCHEMAS:
        _hand_over(conn, schema, TRANSFORMER)
