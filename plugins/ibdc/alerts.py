"""Failure callbacks: an alert in the task log and in ``ops.alerts`` for a later notifier to read."""

from __future__ import annotations

import logging

import psycopg

from ibdc.loading import sessions
from ibdc.settings import get_settings

log = logging.getLogger("ibdc.alerts")

# Applied by the warehouse's provisioning (ibdc.governance), as its administrator.
DDL = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.alerts (
    alert_id    bigserial   PRIMARY KEY,
    raised_at   timestamptz NOT NULL DEFAULT now(),
    dag_id      text        NOT NULL,
    run_id      text,
    task_id     text,
    map_index   integer,
    try_number  integer,
    error       text,
    notified_at timestamptz
);
"""


def record_failure(context) -> None:
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or context["dag"].dag_id
    error = str(context.get("exception") or "")[:4000]
    row = (
        dag_id,
        getattr(ti, "run_id", None),
        getattr(ti, "task_id", None),
        getattr(ti, "map_index", None),
        getattr(ti, "try_number", None),
        error,
    )
    log.error("ALERT task failed: dag=%s run=%s task=%s map_index=%s try=%s error=%s", *row)
    try:
        with sessions.connect(get_settings().loader, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ops.alerts (dag_id, run_id, task_id, map_index, try_number, error)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                row,
            )
    except psycopg.Error:
        log.exception("could not record the alert in ops.alerts")
