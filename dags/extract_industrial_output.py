"""Monthly output of major industrial products: provincial sources -> raw zone -> warehouse."""

from datetime import UTC, datetime

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from ibdc import pipeline
from ibdc.assets import RAW_INDUSTRIAL_OUTPUT
from ibdc.orchestration import DEFAULT_ARGS, plan_partitions

DATASET = "industrial_output"

DOC = """
### Monthly output of major industrial products, by province

Each run covers one month (its data interval) for the selected provinces: every provincial source is
called over HTTP, the pages are stored unchanged in the raw zone
(`industrial_output/province=<code>/period=<YYYY-MM>/`), then parsed and loaded into
`raw.industrial_output` (one transaction per province and month; invalid records go to
`raw.quarantine` with their reason). A successful load updates the `raw.industrial_output` asset, which
triggers the dbt transform DAG.

**Backfill**: in the UI choose *Trigger -> Backfill*, give the date range (one run per month), and
optionally restrict `provinces`. Reruns replace partitions: running a month twice leaves the warehouse
identical. `period` (YYYY-MM) overrides the data interval for a one-off manual run.
"""


@dag(
    dag_id="ibdc_extract_industrial_output",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    # The earliest month the sources publish; backfills can reach back to it, scheduled runs do not.
    start_date=datetime(2018, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=3,
    default_args=DEFAULT_ARGS,
    tags=["dataset:industrial_output", "stage:extract-load", "cadence:monthly"],
    doc_md=DOC,
    params={
        "provinces": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": r"^\d{6}$"},
            description="GB/T 2260 codes of the provinces to collect; empty means all 31.",
        ),
        "period": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            description="Month to collect (YYYY-MM) instead of the run's data interval.",
        ),
    },
)
def ibdc_extract_industrial_output():
    @task
    def plan(params=None, data_interval_start=None) -> list[dict]:
        return plan_partitions(DATASET, params, data_interval_start)

    @task(map_index_template="{{ partition_label }}", retries=3)
    def extract(partition: dict) -> dict:
        get_current_context()["partition_label"] = f"{partition['province']} {partition['period']}"
        pipeline.extract_partition(partition["dataset"], partition["province"], partition["period"])
        return partition

    @task(map_index_template="{{ partition_label }}", outlets=[RAW_INDUSTRIAL_OUTPUT])
    def load(partition: dict) -> dict:
        get_current_context()["partition_label"] = f"{partition['province']} {partition['period']}"
        result = pipeline.load_partition_from_raw(partition["dataset"], partition["province"], partition["period"])
        return {**partition, "rows_loaded": result.rows_loaded, "rows_quarantined": result.rows_quarantined}

    load.expand(partition=extract.expand(partition=plan()))


ibdc_extract_industrial_output()
