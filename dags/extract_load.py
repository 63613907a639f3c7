"""Extract and load, one DAG per dataset: provincial sources -> raw zone -> warehouse.

Declarative: each dataset's DAG is its schedule (the dataset's cadence, on data intervals), its
params, its asset and its task order; the work is done by ``ibdc.pipeline``.
"""

from airflow.providers.standard.sensors.date_time import DateTimeSensor
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from ibdc import pipeline
from ibdc.assets import RAW_ASSETS
from ibdc.datasets import DATASETS
from ibdc.landing.manifest import Partition
from ibdc.orchestration import DEFAULT_ARGS, extract_dag_id, plan_partitions, retry_policy

DOC = """
### {title}

Each run covers one {unit} (its data interval) for the selected provinces: every provincial source
is called over HTTP in its own API style (`plugins/ibdc/sources/registry.yaml`), the pages are stored
unchanged in the raw zone (`{dataset}/province=<code>/period=<{fmt}>/`, with a manifest), then
parsed and loaded into `raw.{dataset}` (one transaction per province and {unit}; invalid records go
to `raw.quarantine` with their reason), in one mapped task per province (`extract_load`, labelled
`<code> <{fmt}>`: retried, cleared and logged per province). A successful load updates the
`raw.{dataset}` asset.

**Backfill**: in the UI choose *Trigger -> Backfill*, give the date range (one run per {unit}), and
optionally restrict `provinces` (tick "Override parameters on existing runs"). Reruns replace
partitions: running a {unit} twice leaves the warehouse identical. Each run of a backfill collects
its own {unit}, whatever `period` says.

**`period`** ({fmt}) is for a one-off manual run without a logical date (so without a data
interval): that run collects the `period` given. A run with a data interval (scheduled, backfill,
manual with a logical date) always collects its interval's {unit}: a `period` naming another one is
ignored (the `plan` task's log says so), since Airflow hands every run of a backfill the same
params.
"""


def extract_load_dag(dataset: str):
    spec = DATASETS[dataset]
    schema, cadence = spec.schema, spec.calendar
    unit = cadence.unit

    @dag(
        dag_id=extract_dag_id(dataset),
        schedule=CronDataIntervalTimetable(cadence.cron, timezone="UTC"),
        # The earliest period the sources publish; backfills can reach back to it, scheduled runs do not.
        start_date=cadence.start_date,
        catchup=False,
        max_active_runs=3,
        default_args=DEFAULT_ARGS,
        tags=[f"dataset:{dataset}", "stage:extract-load", f"cadence:{spec.cadence}"],
        doc_md=DOC.format(title=schema.title, unit=unit, dataset=dataset, fmt=cadence.format),
        params={
            "provinces": Param(
                None,
                type=["null", "array"],
                items={"type": "string", "pattern": r"^[0-9]{6}$", "minLength": 6, "maxLength": 6},
                description="GB/T 2260 codes of the provinces to collect; empty means all 31.",
            ),
            "accept_fewer_records": Param(
                False,
                type="boolean",
                description="Load a partition even when it holds far fewer records than its last successful load"
                " (refused otherwise: a source serving far fewer records is more likely broken).",
            ),
            "period": Param(
                None,
                type=["null", "string"],
                pattern=cadence.pattern,
                minLength=cadence.length,
                maxLength=cadence.length,
                description=(
                    f"The {unit} to collect ({cadence.format}), for a manual run without a logical date. A run"
                    f" with a data interval (scheduled, backfill, logical date given) collects its interval's {unit}"
                    " and ignores this."
                ),
            ),
        },
    )
    def extract_load():
        @task
        def plan(params=None, data_interval_start=None) -> list[dict]:
            with retry_policy():  # a malformed period (InvalidPeriod, permanent) fails at once
                return [p.model_dump() for p in plan_partitions(dataset, params, data_interval_start)]

        # One task per partition: the extraction and its load together, since every task instance costs
        # Airflow's scheduling and a process start (seconds on 2 cores) for about a second of work each.
        # A retry extracts again (the raw zone keeps every extraction; the load reads the latest).
        @task(map_index_template="{{ partition_label }}", retries=3, outlets=[RAW_ASSETS[dataset]])
        def extract_load(partition: dict, params=None, outlet_events=None) -> None:
            partition = Partition.model_validate(partition)  # XCom holds its JSON form
            get_current_context()["partition_label"] = f"{partition.province_code} {partition.period}"
            with retry_policy():
                extracted = pipeline.extract_partition(partition.dataset, partition.province_code, partition.period)
                loaded = pipeline.load_extracted(extracted, bool(params.get("accept_fewer_records")))
            # What the load wrote, shown with the asset event in the UI; the transform reads the audit.
            # Nothing returned: no task reads it, and an XCom is one more write per task instance.
            outlet_events[RAW_ASSETS[dataset]].extra = loaded

        planned = plan()
        if spec.available_after:  # the source has the partition only later: wait (rescheduled, no slot held)
            hours = spec.available_after.total_seconds() / 3600
            (
                DateTimeSensor(
                    task_id="wait_for_release",
                    target_time=f"{{{{ (data_interval_end + macros.timedelta(hours={hours})).isoformat() }}}}",
                    mode="reschedule",
                    poke_interval=600 if hours < 24 else 6 * 3600,
                )
                >> planned
            )
        extract_load.expand(partition=planned)

    return extract_load()


for _dataset in DATASETS:
    extract_load_dag(_dataset)
