"""A connection per source: each registry source names its own; the simulator's stands in only for a
source the simulator serves, never for a source elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ibdc.errors import ErrorKind, kind_of
from ibdc.sources.credentials import MissingCredentials, get_credentials
from ibdc.sources.registry import (
    SIMULATOR_CONN,
    connections_needed,
    load_registry,
    simulator_default,
    source_for,
)

SIM_VAR = f"AIRFLOW_CONN_{SIMULATOR_CONN.upper()}"


@pytest.fixture
def only_the_simulators_connection(monkeypatch):
    """The local stack's environment: the simulator's connection, no source's own."""
    for code in load_registry():
        monkeypatch.delenv(f"AIRFLOW_CONN_IBDC_SOURCE_{code}", raising=False)
    monkeypatch.setenv(SIM_VAR, json.dumps({"conn_type": "http", "password": "simulator-secret"}))


def test_every_source_has_a_connection_of_its_own():
    registry = load_registry()
    assert registry["110000"].conn_id == "ibdc_source_110000"
    assert registry["120000"].conn_id == "ibdc_source_120000"
    assert len({s.conn_id for s in registry.values()}) == len(registry) == 31
    assert SIMULATOR_CONN not in {s.conn_id for s in registry.values()}
    assert source_for("460000", "industrial_output").conn_id is None  # NBS needs none


def test_two_sources_resolve_to_their_own_connections(only_the_simulators_connection, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SOURCE_110000", json.dumps({"login": "bj", "password": "bj-secret"}))
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SOURCE_120000", json.dumps({"login": "tj", "password": "tj-secret"}))
    beijing = get_credentials(load_registry()["110000"].conn_id)
    tianjin = get_credentials(load_registry()["120000"].conn_id)
    assert (beijing.login, beijing.password) == ("bj", "bj-secret")
    assert (tianjin.login, tianjin.password) == ("tj", "tj-secret")


def test_a_source_the_simulator_serves_falls_back_to_the_simulators_connection(only_the_simulators_connection):
    assert simulator_default("ibdc_source_310000") == SIMULATOR_CONN
    assert get_credentials("ibdc_source_310000").password == "simulator-secret"
    assert connections_needed() == {SIMULATOR_CONN}  # what the local stack and compose define


def _registry_elsewhere(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(
        "defaults: {conn_id: 'ibdc_source_{code}', datasets: {industrial_output: monthly}}\n"
        "provinces:\n"
        "  - {code: '110000', style: rest_json, base_url: 'https://data.beijing.example/api'}\n"
        "  - {code: '130000', style: app_key, base_url: '{sources_url}/p/{code}'}\n",
        encoding="utf-8",
    )
    return path


def test_a_source_elsewhere_without_its_connection_is_a_clear_permanent_error(only_the_simulators_connection, tmp_path):
    path = _registry_elsewhere(tmp_path)
    assert simulator_default("ibdc_source_110000", path) is None
    with pytest.raises(MissingCredentials, match="AIRFLOW_CONN_IBDC_SOURCE_110000") as err:
        get_credentials("ibdc_source_110000", path)
    assert kind_of(err.value) is ErrorKind.PERMANENT
    assert "simulator-secret" not in str(err.value)
    # In the same registry, the source the simulator serves still gets the simulator's.
    assert get_credentials("ibdc_source_130000", path).password == "simulator-secret"
    assert connections_needed(path) == {"ibdc_source_110000", SIMULATOR_CONN}


def test_a_connection_outside_the_registry_has_no_fallback(only_the_simulators_connection):
    with pytest.raises(MissingCredentials, match="AIRFLOW_CONN_SOMETHING_ELSE"):
        get_credentials("something_else")


def test_outside_airflow_a_lookup_never_imports_airflow():
    """The CLI, the tests and the bench read connections from the environment alone: importing Airflow
    for a lookup cost seconds and ~80 MB a process and replaced its logging with Airflow's (the
    urllib3 retry lines a test counted went missing)."""
    import os
    import subprocess
    import sys

    code = (
        "import sys; from ibdc.sources.credentials import get_credentials; "
        "c = get_credentials('ibdc_source_110000'); "
        "assert c.password == 'simulator-secret', c; "
        "assert not any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules), 'airflow imported'"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env[SIM_VAR] = json.dumps({"conn_type": "http", "password": "simulator-secret"})
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
