"""``ibdc.orchestration.loads_under_way`` and ``loads_settled``: what the transform waits for, asked of
Airflow through the task instance's Task SDK calls (``get_dr_count``, ``get_ti_count``). Airflow's
answers are given by a stand-in here that filters a list of runs and task instances as the execution
API does (by DAG, task ids and states); the real API answers in the end-to-end backfills (tests/e2e,
tests/e2e_celery) and in the demo."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from ibdc.datasets import DATASETS
from ibdc.orchestration import SETTLE_MAX_WAIT, extract_dag_id, loads_settled, loads_under_way


@dataclass
class AirflowState:
    runs: list[tuple[str, str]] = field(default_factory=list)  # (dag_id, state)
    tis: list[tuple[str, str, str | None]] = field(default_factory=list)  # (dag_id, task_id, state)

    def get_dr_count(self, dag_id, states=None, **_):
        return sum(1 for d, s in self.runs if d == dag_id and (states is None or s in states))

    def get_ti_count(self, dag_id, task_ids=None, states=None, **_):
        return sum(
            1
            for d, t, s in self.tis
            if d == dag_id and (task_ids is None or t in task_ids) and (states is None or s in states)
        )


OUTPUT = extract_dag_id("industrial_output")
TELEMETRY = extract_dag_id("equipment_telemetry")


def test_nothing_under_way_when_every_run_ended():
    state = AirflowState(
        runs=[(OUTPUT, "success"), (OUTPUT, "failed"), (TELEMETRY, "failed")],
        tis=[(OUTPUT, "extract_load", "success"), (OUTPUT, "extract_load", "failed")],
    )
    assert loads_under_way(state) == {}


def test_queued_and_running_runs_are_under_way_per_dag():
    state = AirflowState(runs=[(OUTPUT, "queued"), (OUTPUT, "queued"), (OUTPUT, "running"), (TELEMETRY, "running")])
    assert loads_under_way(state) == {OUTPUT: 3, TELEMETRY: 1}


def test_a_run_between_its_tasks_is_under_way():
    """``plan`` done, its mapped loads not created yet: no task is active, the run has loads to come."""
    state = AirflowState(
        runs=[(OUTPUT, "running")], tis=[(OUTPUT, "wait_for_release", "success"), (OUTPUT, "plan", "success")]
    )
    assert loads_under_way(state) == {OUTPUT: 1}


def test_a_run_waiting_for_its_sources_release_is_not_a_load_under_way():
    """Between pokes the release wait is up_for_reschedule, for days: the transform must not wait on it."""
    state = AirflowState(
        runs=[(OUTPUT, "running"), (OUTPUT, "running")],
        tis=[(OUTPUT, "wait_for_release", "up_for_reschedule"), (OUTPUT, "wait_for_release", "running")],
    )
    assert loads_under_way(state) == {OUTPUT: 1}  # the other one is poking: it may release now


def test_every_datasets_extract_dag_is_asked():
    asked = []

    class Recording(AirflowState):
        def get_dr_count(self, dag_id, **kw):
            asked.append(dag_id)
            return 0

    loads_under_way(Recording())
    assert asked == [extract_dag_id(d) for d in DATASETS]


def test_the_transform_builds_after_the_longest_wait_with_a_warning(caplog):
    held = AirflowState(runs=[(OUTPUT, "queued")])  # a paused backfill's run: queued for good
    assert not loads_settled(held, timedelta(minutes=5))
    with caplog.at_level(logging.WARNING, logger="ibdc.orchestration"):
        assert loads_settled(held, SETTLE_MAX_WAIT)
    assert OUTPUT in caplog.text and "building what has loaded" in caplog.text
    assert loads_settled(AirflowState(), timedelta(0))
