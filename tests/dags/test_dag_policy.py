"""Policy over the DagBag: every DAG imports cleanly and explains, owns and protects itself."""

import copy
from datetime import timedelta

import pendulum
import pytest

from ibdc.alerts import record_failure
from ibdc.orchestration import SETTLE_MAX_WAIT, period_of
from ibdc.settings import PROJECT_DIR


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_DIR / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    from ibdc.datasets import DATASETS

    assert set(dagbag.dag_ids) == {f"ibdc_extract_{d}" for d in DATASETS} | {
        "ibdc_transform_dbt",
        "ibdc_exchange_publish",
    }


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


def _dbt_nodes():
    """The manifest's models, seeds and snapshots: unique_id -> the ids of those it depends on."""
    import json

    from ibdc.transform.dbt import MANIFEST

    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    built = {n["unique_id"]: n for n in nodes if n["resource_type"] in ("model", "seed", "snapshot")}
    return {uid: set(n["depends_on"].get("nodes", [])) & built.keys() for uid, n in built.items()}


def test_transform_dag_follows_the_load_asset(dagbag):
    from ibdc.datasets import DATASETS

    dag = dagbag.dags["ibdc_transform_dbt"]
    assert sorted(a.name for a in dag.timetable.asset_condition.objects) == sorted(f"raw.{d}" for d in DATASETS)


def test_transform_dag_builds_once_and_shows_every_dbt_node(dagbag):
    """Watcher mode: one producer task runs ``dbt build`` of the project with the run's periods;
    one consumer task per model, seed and snapshot (and one for a model's tests) reports its node,
    in the manifest's order, after the build ended and only when ``loaded`` succeeded; the build's
    record and the docs wait for every dbt task."""
    from cosmos.operators.watcher import DbtProducerWatcherOperator, DbtTestWatcherOperator

    dag = dagbag.dags["ibdc_transform_dbt"]
    nodes = _dbt_nodes()
    dbt_tasks = {t.task_id: t for t in dag.tasks if t.task_id.startswith("dbt.")}
    producer = dag.get_task("dbt.dbt_producer_watcher")
    done = dag.get_task("dbt.dbt_producer_watcher_done")
    assert isinstance(producer, DbtProducerWatcherOperator)
    assert producer.upstream_task_ids == {"loaded"}
    assert done.upstream_task_ids == {producer.task_id}
    # The incremental marts rebuild the periods `loaded` hands over (macro ibdc_loaded_periods).
    assert producer.vars == {"ibdc_loaded_periods": "{{ ti.xcom_pull(task_ids='loaded', key='periods') | tojson }}"}
    assert producer.base_cmd == ["build"] and not producer.select and not producer.exclude

    consumers = [t for t in dbt_tasks.values() if t not in (producer, done)]
    node_task = {t.model_unique_id: t for t in consumers if not isinstance(t, DbtTestWatcherOperator)}
    tests_task = {t.model_unique_id: t for t in consumers if isinstance(t, DbtTestWatcherOperator)}
    assert len(node_task) + len(tests_task) == len(consumers)
    assert sorted(node_task) == sorted(nodes)  # one task per model, seed and snapshot
    assert set(tests_task) <= set(nodes) and tests_task  # the tests of a model beside it
    for uid, tests in tests_task.items():
        assert tests.upstream_task_ids == {node_task[uid].task_id}, uid
    for t in consumers:
        assert t.producer_task_id == producer.task_id and t.vars == producer.vars, t.task_id
        assert t.retries >= 1, t.task_id  # a retry runs the node itself

    def last(uid):
        return tests_task.get(uid, node_task[uid]).task_id

    for uid, parents in nodes.items():
        upstream = node_task[uid].upstream_task_ids
        if parents:
            assert upstream == {last(p) for p in parents}, uid
        else:  # after the build (the gate), and skipped with `loaded`
            assert upstream == {done.task_id, "loaded"}, uid
    # dbt's log is read from a subprocess (see ibdc.transform.dbt.cosmos_configs)
    assert producer.invocation_mode.value == "subprocess"
    assert producer.retries >= 1  # cosmos' retry of a failed build: the producer skips, nodes retry

    for after in ("record_build", "publish_docs"):
        upstream = dag.get_task(after).get_flat_relative_ids(upstream=True)
        assert set(dbt_tasks) <= upstream, after
    assert dag.get_task("loaded").downstream_task_ids >= {producer.task_id, "record_build"}


def test_transform_waits_for_loads_to_settle_before_reading_what_to_build(dagbag):
    """The first task waits, in poke mode (no process start per look), until no extract run is queued
    and no load is active; only then ``loaded`` reads the audit, so one build covers a backfill."""
    from airflow.sdk.bases.sensor import BaseSensorOperator

    dag = dagbag.dags["ibdc_transform_dbt"]
    settled = dag.get_task("loads_settled")
    assert isinstance(settled, BaseSensorOperator)
    assert settled.mode == "poke" and settled.poke_interval <= 5
    # It builds after SETTLE_MAX_WAIT whatever the loads; no timeout cuts that wait short (in poke
    # mode the execution timeout is a timeout too, and the DAG's default is 30 minutes).
    for bound in (timedelta(seconds=settled.timeout), settled.execution_timeout):
        assert bound > SETTLE_MAX_WAIT
    assert not settled.upstream_task_ids
    assert dag.get_task("loaded").upstream_task_ids == {"loads_settled"}


def test_consumers_after_build_refuses_a_group_without_a_watcher_producer():
    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup, ExecutionConfig
    from cosmos.constants import ExecutionMode

    from ibdc.transform.dbt import consumers_after_build, cosmos_configs

    project_config, profile_config, execution_config, render_config = cosmos_configs()
    with DAG("local_mode"):
        group = DbtTaskGroup(
            group_id="dbt",
            project_config=project_config,
            profile_config=profile_config,
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.LOCAL, dbt_executable_path=execution_config.dbt_executable_path
            ),
            render_config=render_config,
        )
    with pytest.raises(ValueError, match="no watcher producer"):
        consumers_after_build(group, upstream=None)


def test_each_mart_emits_its_asset_once_built_and_tested(dagbag):
    """Each mart (a model of dbt_project/models/marts) updates its asset, ``ibdc.assets.mart_asset``,
    when its last task succeeds: the task of its tests (built, and the tests passed), else its own
    run. No other task emits a mart's asset, and cosmos emits none of its own (host-dependent URIs)."""
    import json

    from airflow.sdk import Asset, AssetAlias
    from cosmos.operators.watcher import DbtRunWatcherOperator, DbtTestWatcherOperator

    from ibdc.assets import mart_asset, mart_asset_uri
    from ibdc.transform.dbt import MANIFEST

    nodes = json.loads(MANIFEST.read_text())["nodes"].values()
    marts = {n["unique_id"]: n["name"] for n in nodes if n["resource_type"] == "model" and n["fqn"][1] == "marts"}
    assert "model.ibdc.mart_industrial_output_monthly" in marts and len(marts) >= 5
    dag = dagbag.dags["ibdc_transform_dbt"]
    emitted = {}
    for task in dag.tasks:
        assert not [o for o in task.outlets if isinstance(o, AssetAlias)], task.task_id  # cosmos' emission is off
        assert not getattr(task, "emit_datasets", False), task.task_id
        for outlet in task.outlets:
            if isinstance(outlet, Asset) and outlet.uri.startswith("ibdc://warehouse/marts/"):
                emitted.setdefault(outlet.name, []).append(task)
    assert sorted(emitted) == sorted(f"mart.{m}" for m in marts.values())
    for uid, model in marts.items():
        (task,) = emitted[f"mart.{model}"]
        assert task.outlets == [mart_asset(model)], model
        assert mart_asset(model).uri == mart_asset_uri(model) == f"ibdc://warehouse/marts/{model}"
        assert task.model_unique_id == uid
        run = dag.get_task(f"dbt.{model}.run")
        assert isinstance(run, DbtRunWatcherOperator)
        if isinstance(task, DbtTestWatcherOperator):
            assert task.upstream_task_ids == {run.task_id}, model
        else:  # a mart without tests: its run
            assert task is run and f"dbt.{model}.test" not in dag.task_ids, model
    # The market computes a product's asset from the mart's name alone.
    with pytest.raises(ValueError):
        mart_asset_uri("marts/../raw")
