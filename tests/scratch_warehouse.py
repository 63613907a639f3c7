"""A warehouse database of a test module's own, for tests that construct their data or change
privileges (``ibdc_test_security``, ``ibdc_test_disclosure``), and the roles' views of it.

The governance roles are cluster-wide: provisioning the scratch database creates none that the
shared test database has not (their logins are kept), and the database is dropped after.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from ibdc import governance
from ibdc.datasets import DATASETS
from ibdc.loading.postgres import load_partition
from ibdc.parsing.base import PageRows
from ibdc.parsing.industrial_output import SCHEMA as OUTPUT_SCHEMA
from ibdc.reference import products
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


@contextlib.contextmanager
def throwaway_roles(conn: psycopg.Connection, prefix: str) -> Iterator:
    """``make(*member_of)``: a NOLOGIN role named ``<prefix><random>`` in the given roles. Roles are
    cluster-wide: each is named uniquely and dropped after the block."""
    made = []

    def make(*member_of: str) -> str:
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN INHERIT").format(sql.Identifier(name)))
        made.append(name)
        for role in member_of:
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(name)))
        return name

    try:
        yield make
    finally:
        conn.execute("RESET ROLE")
        for name in made:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def output_page(province: str, month: str, values: Mapping[str, Mapping[str, str]], ytd_months: int) -> PageRows:
    """A constructed industrial output page of ``province`` for ``month``, as validation leaves it (raw's
    columns): for each product of ``values`` (product code -> province -> the month's value) that the
    province makes, that value and a year-to-date of ``ytd_months`` times it, in published and base units;
    no record for a province that makes none (its partition is loaded all the same)."""
    rows = []
    for product_code, by_province in values.items():
        if province not in by_province:
            continue
        product = products()[product_code]
        current, ytd = Decimal(by_province[province]), Decimal(by_province[province]) * ytd_months
        rows.append(
            {
                "product_code": product_code,
                "unit_code": product.unit_code,
                "value_current_month": str(current),
                "value_cumulative": str(ytd),
                "base_unit": product.base_unit,
                "value_current_month_base": str(current * product.unit_factor),
                "value_cumulative_base": str(ytd * product.unit_factor),
                "record_position": len(rows),
            }
        )
    return PageRows(
        source_object=f"industrial_output/province={province}/period={month}/page-0001.json",
        source_version_id=None,
        rows=pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMA),
    )


def load_page(loader_dsn: str, dataset: str, province: str, period: str, page: PageRows):
    """One constructed page loaded as the partition (``dataset``, ``province``, ``period``), as the
    pipeline loads an extraction (fewer records than a manifest would list accepted); its LoadResult."""
    return load_partition(
        loader_dsn,
        DATASETS[dataset],
        province,
        period,
        [page],
        manifest_key=f"{dataset}/province={province}/period={period}/_manifest.json",
        extract_id=None,
        max_quarantine_share=1.0,
        accept_fewer_records=True,
    )
