"""Airflow's local settings hook (imported by every Airflow process at start): the modules IBDC's
tasks need, imported once in the processes that run tasks, before they fork them.

The LocalExecutor's workers are forked from the scheduler, and each task process is forked from a
worker (Celery's prefork pool does the same from ``airflow celery worker``); a task process then
parses its DAG file. Imported here, the platform's modules (``ibdc.pipeline`` with pyarrow, minio
and psycopg; cosmos for the transform) are already in every task process, instead of being
imported again by each one: about 0.3 core-seconds a task instance on the reference machine, as
much as a partition's extract and load. Other processes (api-server, dag-processor, triggerer,
CLI) import nothing more.
"""

import sys

__all__: list[str] = []  # no cluster policy here: Airflow reads policies from the names listed

_RUNS_TASKS = ("scheduler", "worker")  # `airflow scheduler` (LocalExecutor), `airflow celery worker`

if any(arg in _RUNS_TASKS for arg in sys.argv[1:3]):
    import airflow.providers.standard.decorators.python  # noqa: F401
    import cosmos  # noqa: F401

    import ibdc.pipeline  # noqa: F401
    import ibdc.transform.dbt  # noqa: F401
