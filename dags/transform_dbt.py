"""dbt transform: staging, intermediate and marts rebuilt when the loads update the raw tables; docs regenerated."""

from datetime import timedelta

from airflow.sdk import AssetAny, dag, task
from cosmos import DbtTaskGroup

from ibdc import orchestration
from ibdc.assets import RAW_ASSETS
from ibdc.orchestration import DEFAULT_ARGS
from ibdc.settings import get_settings
from ibdc.transform import changes, docs
from ibdc.transform.dbt import consumers_after_build, cosmos_configs, emit_mart_assets

project_config, profile_config, execution_config, render_config = cosmos_configs()

DOC = """
### dbt transform: staging -> intermediate -> marts, then docs

Runs whenever an extract DAG updates a raw table (Airflow assets). It first waits (`loads_settled`,
asking Airflow every 2 seconds) until no extract run is queued or running, so one build covers every
run of a backfill and no load lands between a mart's build and its reconciliation tests; a run
waiting for its source's release does not count, and after 50 minutes it builds what has loaded (a
warning in its log: a paused DAG or backfill holds runs). Then `loaded` reads from the warehouse's
load audit the partitions loaded since the last successful build
(`ops.transformed_loads` records the loads each build read) and hands their periods to dbt as the
var `ibdc_loaded_periods`, so incremental models rebuild exactly those periods; with nothing new it
ends skipped. A manual run (not triggered by a load) rebuilds every period. dbt runs once:
`dbt.dbt_producer_watcher` is one `dbt build` of the whole project (astronomer-cosmos' watcher
execution mode), so each model's tests run right after it. Every model, seed and snapshot is still
a task of its own, with a task for the model's tests beside it, rendered from the dbt manifest: they
start when the build has ended and take their node's result from it. Retrying one of them (or
clearing it in the UI) runs that node alone. The warehouse connection comes from the `IBDC_DBT_*`
environment variables (`ibdc.settings` derives them from `IBDC_WAREHOUSE_DSN`). Each mart's
last task (its tests' task) updates the mart's asset (`mart.<model>`, `ibdc://warehouse/marts/<model>`)
when it succeeds: the mart was built and its tests passed (the exchange market publishes a product's
new version on it). After dbt,
`record_build` records the loads the run built, and the docs are regenerated and published to the
docs bucket.

No backfill of its own is needed: backfilling an extract DAG triggers this DAG.
"""


@dag(
    dag_id="ibdc_transform_dbt",
    # Any load of any dataset triggers a run; what it builds is read from the audit (task `loaded`).
    schedule=AssetAny(*RAW_ASSETS.values()),
    start_date=None,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["dataset:all", "stage:transform", "tool:dbt", "cadence:on-asset"],
    doc_md=DOC,
)
def ibdc_transform_dbt():
    # Poke mode: one slot held while loads run, against a process start and a scheduling round per
    # look in reschedule mode. It builds after SETTLE_MAX_WAIT whatever the loads (a warning);
    # the timeouts only bound a sensor that cannot answer.
    @task.sensor(mode="poke", poke_interval=2, timeout=3600, execution_timeout=timedelta(hours=1), retries=1)
    def loads_settled(ti=None) -> bool:
        """True once no extract run has loads to come (:func:`ibdc.orchestration.loads_settled`)."""
        from datetime import UTC, datetime

        return orchestration.loads_settled(ti, datetime.now(UTC) - ti.start_date)

    @task(multiple_outputs=True)
    def loaded(triggering_asset_events=None) -> dict:
        """``periods`` (dataset -> periods, empty for every period) and ``loads`` of the build."""
        from airflow.sdk.exceptions import AirflowSkipException

        # The events trigger the run; what it builds is read from the warehouse (ibdc.transform.changes).
        build = changes.pending_build(get_settings().transformer, full=not triggering_asset_events)
        if build.empty:
            raise AirflowSkipException("nothing loaded since the last successful build")
        return {"periods": build.periods, "loads": [list(load) for load in build.loads]}

    # Watcher mode (ibdc.transform.dbt.cosmos_configs): one dbt process builds every node, instead of
    # one dbt process per node; the nodes' tasks only report what that build did.
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=render_config,
        # Incremental models rebuild exactly these periods (macro ibdc_loaded_periods); an empty
        # mapping (a full build) rebuilds the periods present in raw.
        operator_args={
            "vars": {"ibdc_loaded_periods": "{{ ti.xcom_pull(task_ids='loaded', key='periods') | tojson }}"}
        },
        default_args={**DEFAULT_ARGS, "retries": 1},
    )

    @task
    def record_build(loads: list) -> int:
        """Record the loads this run built (only after every dbt node succeeded)."""
        return changes.record_build(get_settings().transformer, loads)

    @task
    def publish_docs() -> list[str]:
        return docs.generate_and_publish()

    build = loaded()
    loads_settled() >> build
    built = record_build(build["loads"])
    build >> dbt >> [built, publish_docs()]
    consumers_after_build(dbt, upstream=build)
    emit_mart_assets(dbt)


ibdc_transform_dbt()
