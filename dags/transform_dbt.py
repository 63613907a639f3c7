"""dbt transform: staging and marts rebuilt when the loads update the raw tables; docs regenerated."""

from airflow.sdk import dag, task
from cosmos import DbtTaskGroup

from ibdc.assets import RAW_INDUSTRIAL_OUTPUT
from ibdc.orchestration import DEFAULT_ARGS
from ibdc.transform import docs
from ibdc.transform.dbt import cosmos_configs

project_config, profile_config, execution_config, render_config = cosmos_configs()

DOC = """
### dbt transform: staging -> marts, then docs

Runs whenever an extract DAG updates a raw table (Airflow assets). Every dbt model is a task rendered
by astronomer-cosmos from the dbt manifest; each runs `dbt build` for its node, so a model's tests
run right after it. The warehouse connection comes from the `IBDC_DBT_*` environment variables
(`ibdc.settings` derives them from `IBDC_WAREHOUSE_DSN`). The last task regenerates the dbt docs
and publishes them to the docs bucket.

No backfill of its own is needed: backfilling an extract DAG triggers this DAG.
"""


@dag(
    dag_id="ibdc_transform_dbt",
    schedule=[RAW_INDUSTRIAL_OUTPUT],
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["dataset:industrial_output", "stage:transform", "tool:dbt", "cadence:on-asset"],
    doc_md=DOC,
)
def ibdc_transform_dbt():
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=render_config,
        default_args={**DEFAULT_ARGS, "retries": 1},
    )

    @task
    def publish_docs() -> list[str]:
        return docs.generate_and_publish()

    dbt >> publish_docs()


ibdc_transform_dbt()
