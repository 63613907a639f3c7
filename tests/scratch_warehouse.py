"""A warehouse database of a test module's own, for tests that construct their data or change
privileges (``ibdc_test_security``, ``ibdc_test_disclosure``), and the roles' views of it.

The governance roles are cluster-wide: provisioning the scratch database creates none that the
shared test database has not (their logins are kept), and the database is dropped after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ibdc import governance
from ibdc.settings import Settings, reload_settings


@contextlib.contextmanager
def scratch_warehouse(services: Settings, name: str) -> Iterator[dict[str, str]]:
    """Database ``name`` made anew and provisioned; yields its DSNs as ``admin``, ``loader`` and
    ``transformer``; dropped after (connections forced off)."""
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsns = {
        "admin": make_conninfo(services.warehouse, dbname=name),
        "loader": make_conninfo(services.loader, dbname=name),
        "transformer": make_conninfo(services.transformer, dbname=name),
    }
    governance.provision(dsns["admin"], None, None)
    try:
        yield dsns
    finally:
        with psycopg.connect(services.warehouse, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def pointed_at(dsns: dict[str, str], dbt_target: Path) -> Iterator[Settings]:
    """The platform's settings pointed at the scratch database (its administrator, loader and
    transformer; dbt's target directory ``dbt_target``) for the block: the pipeline functions and
    ``run_dbt`` work on it; the settings are as before after."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IBDC_WAREHOUSE_DSN", dsns["admin"])
        env.setenv("IBDC_LOADER_DSN", dsns["loader"])
        env.setenv("IBDC_TRANSFORMER_DSN", dsns["transformer"])
        env.setenv("DBT_TARGET_PATH", str(dbt_target))
        try:
            yield reload_settings()
        finally:
            env.undo()
            reload_settings()


def query_as(conn: psycopg.Connection, role: str, query: str, params=()) -> list[tuple]:
    """``query``'s rows as ``role`` (SET ROLE on ``conn``, reset after)."""
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.execute("RESET ROLE")


def refused(conn: psycopg.Connection, role: str, query: str) -> bool:
    """True when ``role`` may not run ``query`` (InsufficientPrivilege)."""
    try:
        query_as(conn, role, query)
    except psycopg.errors.InsufficientPrivilege:
        conn.execute("RESET ROLE")
        return True
    return False
