"""dbt transform: staging, intermediate and marts rebuilt when the loads update the raw tables; docs regenerated."""

from airflow.sdk import AssetAny, dag, task
from cosmos import DbtTaskGroup

from ibdc.assets import RAW_ASSETS
from ibdc.orchestration import DEFAULT_ARGS, loaded_periods
from ibdc.transform import docs
from ibdc.transform.dbt import cosmos_configs

project_config, profile_config, execution_config, render_config = cosmos_configs()

DOC = """
### dbt transform: staging -> intermediate -> marts, then docs

Runs whenever an extract DAG updates a raw table (Airflow assets); its first task reads the
triggering asset events (each load records its dataset, province and period) and hands the loaded
periods to dbt as the var `ibdc_loaded_periods`, so incremental models rebuild exactly those
periods. Every dbt model is a task rendered by astronomer-cosmos from the dbt manifest; each runs
`dbt build` for its node, so a model's tests run right after it. The warehouse connection comes
from the `IBDC_DBT_*` environment variables (`ibdc.settings` derives them from
`IBDC_WAREHOUSE_DSN`). The last task regenerates the dbt docs and publishes them to the docs bucket.

No backfill of its own is needed: backfilling an extract DAG triggers this DAG.
"""


@dag(
    dag_id="ibdc_transform_dbt",
    # Any load of any dataset: one run takes every asset event queued since the last.
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["dataset:all", "stage:transform", "tool:dbt", "cadence:on-asset"],
    doc_md=DOC,
)
def ibdc_transform_dbt():
    @task
    def loaded(triggering_asset_events=None) -> dict[str, list[str]]:
        """Dataset -> the periods the triggering loads wrote (empty for a manual run)."""
        return loaded_periods(triggering_asset_events)

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=render_config,
        # Incremental models rebuild exactly these periods (macro ibdc_loaded_periods); an empty
        # mapping (a manual run) rebuilds the periods present in raw.
        operator_args={"vars": {"ibdc_loaded_periods": "{{ ti.xcom_pull(task_ids='loaded') | tojson }}"}},
        default_args={**DEFAULT_ARGS, "retries": 1},
    )

    @task
    def publish_docs() -> list[str]:
        return docs.generate_and_publish()

    loaded() >> dbt >> publish_docs()


ibdc_transform_dbt()
