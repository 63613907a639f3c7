"""Running dbt (dbt-core's programmatic runner) and configuring cosmos for the same project."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ibdc.settings import PROJECT_DIR, get_settings

DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
MANIFEST = DBT_TARGET_DIR / "manifest.json"
DBT_EXECUTABLE = Path(sys.executable).parent / "dbt"


class DbtError(RuntimeError):
    pass


def export_dbt_env() -> None:
    """Put the warehouse connection where ``dbt_project/profiles.yml`` reads it."""
    os.environ.update(get_settings().dbt_env())


def run_dbt(*args: str, check: bool = True) -> object:
    """Run one dbt command in-process against the project; raises DbtError when it fails (with
    ``check=False``: only when it could not run at all, not when what it checked failed)."""
    from dbt.cli.main import dbtRunner

    export_dbt_env()
    argv = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    result = dbtRunner().invoke(argv)
    if not result.success and (check or result.exception is not None or result.result is None):
        raise DbtError(f"dbt {' '.join(args)} failed: {result.exception or 'see the dbt log above'}")
    return result.result


def cosmos_configs():
    """ProjectConfig, ProfileConfig, ExecutionConfig and RenderConfig for the transform DAG.

    The graph is read from the dbt manifest (``dbt parse`` writes it), so parsing the DAG file never
    invokes dbt.

    Watcher execution mode: one ``dbt build`` of the whole project (the producer task, with dbt's
    own threads) instead of one dbt process per node, each paying a dbt start and a project load
    (through the scheduler about 2 minutes for a 20-second build on 2 cores). Each model, seed and
    snapshot keeps its own task (a consumer), which takes its node's result from the producer's
    XComs, so per-model state stays in the UI; a model's tests get a task beside it
    (``TestBehavior.AFTER_EACH``: the producer's build still runs each model's tests right after
    it, and skips what a failure precedes). A consumer's retry (automatic, or a clear in the UI)
    runs its node itself, with the run's vars: ``dbt run``, ``seed`` or ``snapshot`` of the node,
    ``dbt test`` of a model for its test task. See :func:`consumers_after_build` for the order of
    the tasks.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

    return (
        ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=MANIFEST, install_dbt_deps=False),
        ProfileConfig(profile_name="ibdc", target_name="local", profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml"),
        # "buildable": a retried node's tests are those whose other parents are upstream of it, so a
        # relationship test runs with its model, never with the seed it points to. A dbt subprocess:
        # in-process (dbtRunner), cosmos handles every dbt event in dbt's own threads, XCom writes
        # included, and the build took twice as long (53 s against 27 s for the whole project here).
        ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER,
            dbt_executable_path=str(DBT_EXECUTABLE),
            invocation_mode=InvocationMode.SUBPROCESS,
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
        ),
        # Watcher mode has no per-node build task (cosmos refuses TestBehavior.BUILD with it).
        # No cosmos assets: their URI (postgres://host:port/database/schema/table, from the profile
        # at run time) changes with where the warehouse runs, and would be emitted when a model is
        # built, before its tests; the marts' assets are ibdc.assets' (emit_mart_assets).
        RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH, emit_datasets=False),
    )


MARTS_FOLDER = "marts"  # dbt_project/models/marts: the models a data product can be built from


def mart_tasks(group) -> dict[str, object]:
    """The marts of ``group`` (a watcher-mode ``DbtTaskGroup``): model name -> the mart's last task,
    the task of its dbt tests (or, for a mart without tests, the task of the model itself)."""
    from cosmos.constants import DbtResourceType
    from cosmos.operators.watcher import DbtRunWatcherOperator, DbtTestWatcherOperator

    marts = {
        uid: node.fqn[-1]
        for uid, node in group.dbt_graph.filtered_nodes.items()
        if node.resource_type == DbtResourceType.MODEL and node.fqn and node.fqn[1:2] == [MARTS_FOLDER]
    }
    last: dict[str, object] = {}
    for task in group.iter_tasks():
        uid = getattr(task, "model_unique_id", None)
        if uid not in marts:
            continue
        if isinstance(task, DbtTestWatcherOperator) or (isinstance(task, DbtRunWatcherOperator) and uid not in last):
            last[uid] = task
    missing = sorted(set(marts) - set(last))
    if missing:
        raise ValueError(f"no task for the marts {missing} in task group {group.group_id!r}")
    return {marts[uid]: task for uid, task in last.items()}


def emit_mart_assets(group) -> dict[str, object]:
    """Make each mart's last task (:func:`mart_tasks`) emit the mart's asset (:func:`ibdc.assets.mart_asset`)
    when it succeeds: the mart was built and its tests passed. Returns model name -> task."""
    from ibdc.assets import mart_asset

    tasks = mart_tasks(group)
    for model, task in tasks.items():
        task.outlets = [*task.outlets, mart_asset(model)]
    return tasks


def consumers_after_build(group, upstream) -> None:
    """Start the consumer tasks of ``group`` (a watcher-mode ``DbtTaskGroup``) once its producer's
    build has ended, and only when ``upstream`` (a task, or a task's XComArg, placed before the
    group) succeeded.

    Cosmos starts the consumers beside the producer, as deferred sensors polling its XComs. Under
    ``airflow dags test`` (the demo) tasks run one at a time, so a consumer that ran before the
    producer would poll forever; and on 2 cores the sensors' processes compete with dbt for the
    CPU. After the build every consumer finds its node's result at once and ends in one process.
    The gate is cosmos' ``dbt_producer_watcher_done`` (it succeeds when the producer succeeded or
    skipped its retry, cosmos' way of retrying a failed build node by node), so a failed build
    still lets each consumer fail or succeed as its node did. ``upstream`` is linked to the
    consumers directly: its skip (nothing to build) then skips them instead of the gate letting
    them run dbt themselves. Raises ``ValueError`` when ``group`` has no watcher producer.
    """
    from cosmos.constants import PRODUCER_WATCHER_DONE_TASK_ID, PRODUCER_WATCHER_TASK_ID

    gates = {f"{group.group_id}.{PRODUCER_WATCHER_TASK_ID}", f"{group.group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"}
    tasks = {task.task_id: task for task in group.iter_tasks()}
    if not gates <= tasks.keys():
        raise ValueError(f"task group {group.group_id!r} has no watcher producer (ExecutionMode.WATCHER)")
    done = tasks[f"{group.group_id}.{PRODUCER_WATCHER_DONE_TASK_ID}"]
    for task_id, task in tasks.items():
        if task_id not in gates and not task.upstream_task_ids & tasks.keys():
            upstream >> task
            done >> task
