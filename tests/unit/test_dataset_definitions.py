"""Each dataset's one definition (ibdc.datasets) is what the rest reads: the validator writes exactly
its columns, the dbt sources declare exactly its raw table's columns, the simulator serves its record
schema, and each cadence's param pattern is the period rule. (The raw tables themselves:
tests/integration/test_raw_tables.py.)"""

import re

import pytest
import yaml

from ibdc.datasets import DATASETS, LINEAGE_COLUMNS
from ibdc.formats.base import table_from_records
from ibdc.parsing.base import Records
from ibdc.periods import CADENCES, Cadence, InvalidPeriod, check_period
from ibdc.schemas import SCHEMAS
from ibdc.transform.dbt import DBT_PROJECT_DIR
from ibdc_dev.simulator.datasets import DATASETS as SIMULATED
from tests.manifests import manifest_of

SOURCES_YAML = DBT_PROJECT_DIR / "models" / "staging" / "_provincial__sources.yml"
PERIODS = {Cadence.MONTHLY: "2025-06", Cadence.DAILY: "2025-06-03"}


@pytest.mark.parametrize("spec", DATASETS.values(), ids=list(DATASETS))
def test_the_validator_writes_exactly_the_datasets_columns(spec):
    empty = Records(table_from_records(spec.schema, []), [], lambda i: "")
    manifest = manifest_of(spec.name, "370000", PERIODS[spec.cadence], key="k/page-0001.json")
    page = spec.validate(manifest, manifest.objects[0], empty)
    assert tuple(page.rows.column_names) == spec.columns


@pytest.mark.parametrize("spec", DATASETS.values(), ids=list(DATASETS))
def test_the_raw_table_is_partition_validator_rows_and_lineage(spec):
    assert spec.table == f"raw.{spec.name}" and SCHEMAS[spec.name] is spec.schema
    assert set(spec.raw_columns) - set(spec.columns) == {
        "province_code",
        spec.calendar.period_column,
        *LINEAGE_COLUMNS[spec.lineage],
    }
    assert len(set(spec.raw_columns)) == len(spec.raw_columns)


def test_the_dbt_sources_declare_exactly_each_raw_tables_columns():
    (raw,) = [s for s in yaml.safe_load(SOURCES_YAML.read_text(encoding="utf-8"))["sources"] if s["name"] == "raw"]
    declared = {t["name"]: [c["name"] for c in t.get("columns", [])] for t in raw["tables"]}
    for name, spec in DATASETS.items():
        assert sorted(declared[name]) == sorted(spec.raw_columns), name


def test_the_simulator_serves_the_platforms_record_schemas():
    assert SIMULATED.keys() == DATASETS.keys()
    assert all(SIMULATED[name].schema is spec.schema for name, spec in DATASETS.items())


@pytest.mark.parametrize("cadence", list(Cadence))
def test_each_cadences_param_pattern_is_the_period_rule(cadence):
    calendar, good = CADENCES[cadence], PERIODS[cadence]
    assert re.search(calendar.pattern, good) and len(good) == calendar.length == len(calendar.format)
    check_period(cadence, good)
    for bad in (good + "\n", "２" + good[1:], good[:-1]):
        assert not (re.search(calendar.pattern, bad) and len(bad) == calendar.length)
        with pytest.raises(InvalidPeriod):
            check_period(cadence, bad)
