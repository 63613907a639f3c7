"""The exchange publishing DAG: scheduled on every mart's asset, one mapped publication per product, under
the DAG policy (owned, documented, retried, timed out, alerting); which marts a run publishes."""

from datetime import timedelta

import pytest
from airflow.sdk import Asset, AssetAlias

from ibdc.alerts import record_failure
from ibdc.exchange import contracts, publish
from ibdc.settings import PROJECT_DIR

DAG_ID = "ibdc_exchange_publish"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_DIR / "dags" / "exchange_publish.py"))


@pytest.fixture(scope="module")
def dag(dagbag):
    assert dagbag.import_errors == {}
    return dagbag.dags[DAG_ID]


def test_it_runs_on_any_marts_asset(dag):
    marts = contracts.marts(contracts.load_manifest())
    assert len(marts) >= 5
    objects = dag.timetable.asset_condition.objects
    assert sorted(a.name for a in objects) == sorted(f"mart.{m}" for m in marts)
    assert sorted(a.uri for a in objects) == sorted(f"ibdc://warehouse/marts/{m}" for m in marts)
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"


def test_it_publishes_one_mapped_task_per_product(dag):
    products, publishing = dag.get_task("products"), dag.get_task("publish")
    assert publishing.upstream_task_ids == {"products"}
    assert type(publishing).__name__.endswith("MappedOperator")  # publish.expand(product=...)
    assert products.downstream_task_ids == {"publish"}


def test_it_follows_the_dag_policy(dag):
    assert dag.doc_md and len(dag.doc_md) > 200
    for kind in ("dataset:", "stage:", "cadence:"):
        assert any(t.startswith(kind) for t in dag.tags), kind
    assert dag.max_active_runs == 1 and dag.catchup is False
    for task in dag.tasks:
        assert task.owner == "ibdc-data-platform", task.task_id
        assert task.retries >= 1, task.task_id
        assert task.execution_timeout and task.execution_timeout <= timedelta(hours=1), task.task_id
        callbacks = task.on_failure_callback
        assert record_failure in (callbacks if isinstance(callbacks, list) else [callbacks]), task.task_id


def test_a_run_publishes_the_marts_its_events_name_and_a_manual_run_every_product():
    events = {
        Asset(
            name="mart.mart_industrial_output_monthly", uri="ibdc://warehouse/marts/mart_industrial_output_monthly"
        ): [],
        Asset(name="mart.dim_enterprise", uri="ibdc://warehouse/marts/dim_enterprise"): [],
        Asset(name="raw.industrial_output", uri="ibdc://warehouse/raw/industrial_output"): [],
        AssetAlias(name="an-alias"): [],
    }
    assert publish.marts_of_events(events) == ["dim_enterprise", "mart_industrial_output_monthly"]
    assert publish.marts_of_events({}) is None and publish.marts_of_events(None) is None
