"""``plugins/airflow_local_settings.py``: the platform's modules preloaded in the processes that fork
tasks (scheduler, Celery worker) and in no other; and no cluster policy declared by accident."""

import json
import subprocess
import sys

from ibdc.settings import PROJECT_DIR

PRELOADED = ("ibdc.pipeline", "ibdc.transform.dbt", "cosmos", "pyarrow")


def _imported_after_local_settings(argv: list[str]) -> dict[str, bool]:
    """Import the module as Airflow does (plugins folder on sys.path) in a fresh interpreter whose
    argv is ``argv``; which of :data:`PRELOADED` it imported."""
    code = (
        "import sys, json; sys.argv = json.loads(sys.argv[1]); sys.path.insert(0, sys.argv.pop());"
        "import airflow_local_settings as s; assert s.__all__ == [];"
        f"print(json.dumps({{m: m in sys.modules for m in {list(PRELOADED)!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps([*argv, str(PROJECT_DIR / "plugins")])],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_scheduler_and_celery_workers_preload_the_tasks_modules():
    for argv in (["airflow", "scheduler"], ["airflow", "celery", "worker"]):
        assert all(_imported_after_local_settings(argv).values()), argv


def test_other_airflow_processes_import_nothing_more():
    for argv in (["airflow", "api-server"], ["airflow", "dag-processor"], ["airflow", "dags", "list"]):
        assert not any(_imported_after_local_settings(argv).values()), argv
