"""The dbt docs, published to the docs bucket, served inside the Airflow UI and standalone."""

import os
import subprocess
import sys

import pytest
import requests

from ibdc_dev.localstack.env import USER_ENV_FILE
from ibdc_dev.localstack.processes import free_port, port_open, wait_until

pytestmark = pytest.mark.integration

MART = "model.ibdc.mart_industrial_output_monthly"


def _lists_the_marts(get) -> None:
    index = get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert "dbt" in index.text.lower()
    manifest = get("/manifest.json")
    assert manifest.status_code == 200
    nodes = manifest.json()["nodes"]
    assert nodes[MART]["schema"] == "marts" and nodes[MART]["description"]
    # Lineage the docs draw: from the raw source through staging to the mart.
    parents = manifest.json()["parent_map"]
    upstream, frontier = set(), {MART}
    while frontier:
        frontier = {p for n in frontier for p in parents.get(n, [])} - upstream
        upstream |= frontier
    assert {"source.ibdc.raw.industrial_output", "model.ibdc.stg_provincial__industrial_output"} <= upstream
    # And the raw sources' freshness, checked on the same run against their cadence's thresholds.
    freshness = {r["unique_id"]: r["status"] for r in get("/sources.json").json()["results"]}
    raw = {f"source.ibdc.raw.{d}" for d in ("industrial_output", "electricity_consumption", "enterprises")}
    assert raw | {"source.ibdc.raw.equipment_telemetry"} <= set(freshness)
    assert set(freshness.values()) <= {"pass", "warn", "error"}
    assert get("/secrets.env").status_code == 404  # only the docs' own files are served


def test_the_airflow_ui_links_and_serves_the_docs(airflow, published):
    plugins = {p["name"]: p for p in airflow.get("/plugins")["plugins"]}
    views = plugins["ibdc"]["external_views"]
    assert [(v["name"], v["href"], v["destination"]) for v in views] == [
        ("dbt docs", "/ibdc/dbt-docs/", "nav"),
        ("Data exchange", "/ibdc/exchange/", "nav"),  # tests/e2e/test_exchange_page.py
    ]
    _lists_the_marts(lambda path: airflow.session.get(f"{airflow.url}/ibdc/dbt-docs{path}", timeout=30))


def test_make_docs_serves_the_same_docs_standalone(services, published, tmp_path):
    """Run with the tests' environment, ``ibdc-dev docs`` starts the stack it needs; the user's shell
    file (``.local/ibdc.env``) stays as it was (it once came out pointing at the tests' database)."""
    user_env = USER_ENV_FILE.read_bytes() if USER_ENV_FILE.exists() else None
    port = free_port()  # a fixed port could be taken (an outgoing connection's, in the ephemeral range)
    log = tmp_path / "ibdc-docs.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ibdc_dev.cli", "docs", "--port", str(port)],
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: port_open(port) or proc.poll() is not None, "ibdc-dev docs", timeout_s=60, log=log)
        assert proc.poll() is None, f"ibdc-dev docs exited {proc.returncode}: {log.read_text()[-2000:]}"
        _lists_the_marts(lambda path: requests.get(f"http://127.0.0.1:{port}{path}", timeout=30))
    finally:
        proc.terminate()
        proc.wait(10)
    assert (USER_ENV_FILE.read_bytes() if USER_ENV_FILE.exists() else None) == user_env
