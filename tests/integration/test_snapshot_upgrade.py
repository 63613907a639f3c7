"""A snapshot of a raw table built before the lineage column was renamed (source_version, now
source_version_id) keeps one lineage column: the snapshots' pre-hook (macros/rename_legacy_column.sql)
renames the old one, or, where dbt has already added the new one beside it, moves its values over."""

import pytest
from psycopg import sql

from ibdc import pipeline
from ibdc.transform.dbt import run_dbt

SNAPSHOT = "snap_electricity_consumption"  # no other test reads it
DATASET, PROVINCE, PERIOD = "electricity_consumption", "650000", "2016-05"  # rows for it to hold
pytestmark = [pytest.mark.integration, pytest.mark.partitions(dataset=DATASET, provinces=[PROVINCE], periods=[PERIOD])]


def _snapshot() -> None:
    run_dbt("snapshot", "--select", SNAPSHOT, "--quiet")


def _lineage_columns(conn) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'snapshots'"
            " AND table_name = %s AND column_name LIKE 'source_version%%' ORDER BY 1",
            (SNAPSHOT,),
        ).fetchall()
    ]


def test_a_snapshot_with_the_old_lineage_column_keeps_one_column_and_its_values(services, warehouse):
    pipeline.extract_partition(DATASET, PROVINCE, PERIOD)
    pipeline.load_partition_from_raw(DATASET, PROVINCE, PERIOD)
    _snapshot()  # the snapshot as this version builds it
    table = sql.Identifier("snapshots", SNAPSHOT)
    rows = warehouse.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0]
    assert rows >= 31  # at least this partition's divisions
    upgrades = {
        # As an earlier version left it: the old name only, a value to keep.
        "v-old": [
            "ALTER TABLE {} RENAME COLUMN source_version_id TO source_version",
            "UPDATE {} SET source_version = 'v-old'",
        ],
        # As dbt left it when it ran a version before the hook: both columns, the new one empty.
        "v-older": [
            "ALTER TABLE {} ADD COLUMN source_version text",
            "UPDATE {} SET source_version = 'v-older', source_version_id = NULL",
        ],
    }
    for value, statements in upgrades.items():
        for statement in statements:
            warehouse.execute(sql.SQL(statement).format(table))
        _snapshot()
        assert _lineage_columns(warehouse) == ["source_version_id"], value
        kept = sql.SQL("SELECT count(*) FROM {} WHERE source_version_id = %s").format(table)
        assert warehouse.execute(kept, (value,)).fetchone()[0] == rows, value
