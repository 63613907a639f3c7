"""Policy over the DagBag: every DAG imports cleanly and explains, owns and protects itself."""

import copy
from datetime import timedelta

import pendulum
import pytest

from ibdc.alerts import record_failure
from ibdc.orchestration import period_of
from ibdc.settings import PROJECT_DIR


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    from ibdc.datasets import DATASETS

    assert set(dagbag.dag_ids) == {f"ibdc_extract_{d}" for d in DATASETS} | {"ibdc_transform_dbt"}


def _dags(dagbag):
    return list(dagbag.dags.values())


def _rendered_wait(dag, data_interval_end):
    """The DAG's ``wait_for_release`` sensor as a worker runs it in a run whose data interval ends at
    ``data_interval_end``: its ``target_time`` rendered by the DAG's Jinja environment in the context
    Airflow's task runner gives (the interval, the ``macros`` accessor). Returns (sensor, context)."""
    from airflow.sdk.execution_time.context import MacrosAccessor

    wait = copy.copy(dag.get_task("wait_for_release"))  # rendering sets the fields: not the DagBag's task
    context = {"data_interval_end": data_interval_end, "macros": MacrosAccessor()}
    wait.render_template_fields(context)
    return wait, context


def test_every_dag_is_documented_tagged_and_owned(dagbag):
    for dag in _dags(dagbag):
        assert dag.doc_md and len(dag.doc_md) > 200, dag.dag_id
        for kind in ("dataset:", "stage:", "cadence:"):
            assert any(t.startswith(kind) for t in dag.tags), (dag.dag_id, kind)
        assert dag.max_active_runs and dag.max_active_runs <= 3, dag.dag_id
        assert dag.catchup is False, dag.dag_id
        for task in dag.tasks:
            assert task.owner == "ibdc-data-platform", (dag.dag_id, task.task_id)


def test_every_task_retries_times_out_and_alerts_on_failure(dagbag):
    for dag in _dags(dagbag):
        for task in dag.tasks:
            where = (dag.dag_id, task.task_id)
            assert task.retries >= 1, where
            assert task.execution_timeout and task.execution_timeout <= timedelta(hours=1), where
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert record_failure in callbacks, where


def test_extract_dags_run_at_their_cadence_on_data_intervals_with_validated_params(dagbag):
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.timetables.interval import CronDataIntervalTimetable as CoreCronDataIntervalTimetable

    from ibdc.datasets import DATASETS

    for name, spec in DATASETS.items():
        dag = dagbag.dags[f"ibdc_extract_{name}"]
        assert isinstance(dag.timetable, CronDataIntervalTimetable), name
        assert f"cadence:{spec.cadence}" in dag.tags
        assert dag.params.get_param("provinces").schema["items"]["pattern"] == r"^[0-9]{6}$"
        period = dag.params.get_param("period")
        good, bad = ("2025-06", "2025-13") if spec.cadence == "monthly" else ("2025-06-03", "2025-06-32")
        assert period.resolve(good) == good
        with pytest.raises(Exception, match="does not match"):
            period.resolve(bad)
        load = dag.get_task("extract_load")
        assert [o.name for o in load.outlets] == [f"raw.{name}"]
        # A run's data interval is exactly the partition it collects: the month, or the UTC day.
        # ... and, where the source publishes later, the instant it is there: NBS's release on the 17th of
        # the next month, telemetry two hours past its day for late devices.
        run_after, start, end, released = (
            ("2025-07-01", "2025-06-01", "2025-07-01", "2025-07-17T00:00:00Z")
            if spec.cadence == "monthly"
            else ("2025-06-04", "2025-06-03", "2025-06-04", "2025-06-04T02:00:00Z")
        )
        midnight = lambda day: pendulum.parse(f"{day}T00:00:00Z")  # noqa: E731
        scheduler_view = CoreCronDataIntervalTimetable(dag.timetable.expression, dag.timetable.timezone)
        interval = scheduler_view.infer_manual_data_interval(run_after=midnight(run_after))
        assert (interval.start, interval.end) == (midnight(start), midnight(end))
        assert period_of(spec.cadence, interval.start) == (start[:7] if spec.cadence == "monthly" else start)
        # A run waits until its source has the partition, rescheduled, then plans.
        if spec.available_after:
            wait = dag.get_task("wait_for_release")
            assert wait.downstream_task_ids == {"plan"} and wait.mode == "reschedule"
            rendered, context = _rendered_wait(dag, interval.end)
            assert pendulum.parse(rendered.target_time) == pendulum.parse(released), name
            assert rendered.poke(context), name  # that instant has passed: the run goes on
            pending, context = _rendered_wait(dag, pendulum.now("UTC"))
            assert not pending.poke(context), name  # an interval that ends now: the run waits
        else:
            assert "wait_for_release" not in dag.task_ids
    waits = {
        d.dag_id: d.get_task("wait_for_release").target_time
        for d in dagbag.dags.values()
        if "wait_for_release" in d.task_ids
    }
    assert set(waits) == {
        "ibdc_extract_industrial_output",
        "ibdc_extract_electricity_consumption",
        "ibdc_extract_equipment_telemetry",
    }


def test_transform_dag_follows_the_load_asset_and_renders_every_dbt_model(dagbag):
    import json

    from ibdc.transform.dbt import MANIFEST

    dag = dagbag.dags["ibdc_transform_dbt"]
    from ibdc.datasets import DATASETS

    assert sorted(a.name for a in dag.timetable.asset_condition.objects) == sorted(f"raw.{d}" for d in DATASETS)
    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    models = {n["name"] for n in nodes if n["resource_type"] in ("model", "seed", "snapshot")}
    rendered = {t.task_id.removeprefix("dbt.").rsplit("_", 2)[0] for t in dag.tasks if t.task_id.startswith("dbt.")}
    assert rendered == models
    assert dag.get_task("publish_docs").upstream_task_ids
