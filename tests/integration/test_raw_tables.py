"""The raw tables a provisioned warehouse holds (ddl.sql) have exactly the columns each dataset's
definition implies: the partition's province and period, the validator's rows, the lineage."""

import pytest

from ibdc.datasets import DATASETS


@pytest.mark.parametrize("spec", DATASETS.values(), ids=list(DATASETS))
def test_each_raw_table_has_exactly_its_datasets_columns(warehouse, spec):
    schema, table = spec.table.split(".")
    columns = warehouse.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    ).fetchall()
    assert sorted(c for (c,) in columns) == sorted(spec.raw_columns)


@pytest.mark.parametrize("spec", DATASETS.values(), ids=list(DATASETS))
def test_the_partition_predicate_names_one_partition_of_the_raw_table(warehouse, spec):
    """The predicate the loader deletes a partition by is valid SQL on the table, for the cadence's period."""
    period = "2025-06" if spec.cadence == "monthly" else "2025-06-03"
    warehouse.execute(f"EXPLAIN SELECT 1 FROM {spec.table} WHERE {spec.partition_predicate}", ("370000", period))
