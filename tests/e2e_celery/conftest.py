"""Isolated Airflows for comparing executors (``ibdc_dev.localstack.airflow_runs``): each run its own
warehouse and metadata databases, buckets, ports and processes, so the runs of one window can be
compared table by table. A package of its own: it runs after ``tests/e2e``, whose LocalExecutor
Airflow has stopped by then, so no other scheduler shares the machine's two cores with these."""

from __future__ import annotations

import pytest

from ibdc_dev.localstack import airflow_runs
from tests.e2e_celery.warehouse import snapshot

# The window every run backfills: 2 months x 31 provinces of industrial output.
PERIODS = ["2019-05", "2019-06"]


@pytest.fixture(scope="package")
def local_executor_run(services) -> dict:
    """The LocalExecutor's backfill of ``PERIODS`` in its own Airflow and warehouse: the warehouse's
    business content (``warehouse.snapshot``) the Celery runs must equal."""
    with airflow_runs.isolated_airflow(services, "local_executor_test") as run:
        airflow_runs.backfill(run.api, PERIODS)
        return snapshot(run.settings)
