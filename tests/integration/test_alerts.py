"""The failure callback every task carries: an alert in the log and a row in ops.alerts."""

import logging
from types import SimpleNamespace

import pytest

from ibdc.alerts import record_failure

pytestmark = pytest.mark.integration


def test_a_failed_task_leaves_an_alert_for_the_notifier(services, warehouse, caplog):
    # The context Airflow passes to on_failure_callback (its task instance and the exception).
    ti = SimpleNamespace(
        dag_id="ibdc_extract_industrial_output", run_id="manual__test-alert", task_id="load", map_index=7, try_number=3
    )
    with caplog.at_level(logging.ERROR, logger="ibdc.alerts"):
        record_failure({"ti": ti, "exception": RuntimeError("checksum mismatch on page 2")})
    assert "ALERT task failed: dag=ibdc_extract_industrial_output run=manual__test-alert task=load" in caplog.text
    row = warehouse.execute(
        "SELECT dag_id, task_id, map_index, try_number, error, notified_at FROM ops.alerts"
        " WHERE run_id = 'manual__test-alert' ORDER BY alert_id DESC LIMIT 1"
    ).fetchone()
    assert row == ("ibdc_extract_industrial_output", "load", 7, 3, "checksum mismatch on page 2", None)
