"""A warehouse's business content, for comparing two runs of the same window: every table and view
of ``raw`` and ``marts`` on its business columns, rows sorted.

Excluded, because they name a run rather than what it loaded:

- lineage columns, in every table: ``batch_id``, ``loaded_at``, ``source_object``,
  ``source_version_id`` (``source_version`` in warehouses built before its rename), ``source_page``;
  and ``raw.source_pages``, all lineage (a lost attempt's committed pages stay listed under its batch);
- build and load times: ``raw.quarantine.quarantined_at``, ``raw.load_audit.started_at`` /
  ``finished_at``, the scorecard's ``load_lag_days_*`` (days from a period's end to its load);
- ``raw.quarantine.quarantine_id``: a sequence, numbered in the order the loads happened to run;
- ``raw.load_audit``: every attempt but each partition's last (a retried attempt leaves its own row),
  and of the last its run's identifiers (``extract_id``, ``manifest_key``), its ``error`` text and
  ``rows_previous`` (what an earlier, lost attempt of the same run had already loaded).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from ibdc.settings import Settings

SCHEMAS = ("raw", "marts")
LINEAGE = {"batch_id", "loaded_at", "source_object", "source_version_id", "source_version", "source_page"}
EXCLUDED = {
    "raw.quarantine": {"quarantine_id", "quarantined_at"},
    "raw.source_pages": {"page"},  # with the lineage columns: nothing of the table compared
    "raw.load_audit": {"started_at", "finished_at", "extract_id", "manifest_key", "error", "rows_previous"},
    "marts.mart_digital_scorecard_monthly": {
        "load_lag_days_industrial_output",
        "load_lag_days_electricity_consumption",
        "load_lag_days_enterprises",
        "load_lag_days_equipment_telemetry",
    },
}
# Rows compared: the last attempt of each partition only.
ROWS = {
    "raw.load_audit": sql.SQL(
        "SELECT DISTINCT ON (dataset, province_code, period) * FROM raw.load_audit"
        " ORDER BY dataset, province_code, period, started_at DESC"
    )
}


def compared_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Each ``schema.table`` of ``SCHEMAS`` and its columns compared (declared order)."""
    rows = conn.execute(
        "SELECT c.table_schema || '.' || c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = ANY(%s) ORDER BY 1, c.ordinal_position",
        (list(SCHEMAS),),
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        if column not in LINEAGE and column not in EXCLUDED.get(table, ()):
            tables.setdefault(table, []).append(column)
    return tables


def snapshot(settings: Settings) -> dict[str, list[tuple]]:
    """``schema.table`` -> its rows on the compared columns, sorted (as the administrator of the
    run's warehouse ``settings.warehouse``)."""
    with psycopg.connect(settings.warehouse) as conn:
        found = {}
        for table, columns in compared_columns(conn).items():
            schema, name = table.split(".")
            source = ROWS.get(table, sql.Identifier(schema, name))
            if table in ROWS:
                source = sql.SQL("({}) AS last_attempts").format(source)
            query = sql.SQL("SELECT {cols} FROM {src} ORDER BY {cols}").format(
                cols=sql.SQL(", ").join(map(sql.Identifier, columns)), src=source
            )
            found[table] = conn.execute(query).fetchall()
    return found


def differing_tables(ours: dict[str, list[tuple]], theirs: dict[str, list[tuple]]) -> list[str]:
    """The tables whose compared rows differ between two snapshots (or that only one holds), each
    with its row counts: ``"<table>: <n> rows vs <m>"``."""
    return [
        f"{table}: {len(ours.get(table, []))} rows vs {len(theirs.get(table, []))}"
        for table in sorted(ours.keys() | theirs.keys())
        if ours.get(table) != theirs.get(table)
    ]
