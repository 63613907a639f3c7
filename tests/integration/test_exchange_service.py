"""The exchange market's REST API as the local stack serves it (``ibdc-dev up``: ``uvicorn
ibdc.exchange.api:app`` on ``IBDC_EXCHANGE_PORT``): it answers, describes itself in OpenAPI, and the
tests' instance, on a port of its own, serves the tests' database as role ``ibdc_exchange`` with no
other service's secret; an instance started for another database is restarted, never taken for it."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import requests
from psycopg.conninfo import conninfo_to_dict

from ibdc.settings import EXCHANGE, Settings
from ibdc_dev.localstack import processes, stack
from ibdc_dev.localstack.env import GENERATED
from tests.conftest import TEST_ENV

pytestmark = pytest.mark.integration


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def test_the_api_answers_and_describes_itself(services):
    health = requests.get(f"{services.exchange_url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = requests.get(f"{services.exchange_url}/openapi.json", timeout=10)
    assert spec.status_code == 200
    doc = spec.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "IBDC industrial data exchange"


def test_the_tests_instance_serves_the_tests_database_as_the_exchange_role(services):
    assert (
        services.exchange_port == int(TEST_ENV["IBDC_EXCHANGE_PORT"]) != Settings.model_fields["exchange_port"].default
    )
    name = stack.exchange_api_name(services)
    pid = processes.read_pid(name)
    assert pid, f"no {name} running"
    env = _environ(pid)
    dsn = conninfo_to_dict(env["IBDC_EXCHANGE_DSN"])
    assert (dsn["dbname"], dsn["user"]) == (services.warehouse_db, EXCHANGE) == ("ibdc_test", "ibdc_exchange")
    assert processes.config_file(name).read_text() == stack.exchange_api_serves(services)
    # Its DSN connects, as the role, to the tests' database.
    with psycopg.connect(env["IBDC_EXCHANGE_DSN"], connect_timeout=10) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == ("ibdc_test", EXCHANGE)
    # No other service's secret: not the administrator's, the pipeline roles', S3's or Airflow's.
    own = {"IBDC_EXCHANGE_PASSWORD", "IBDC_EXCHANGE_S3_ACCESS_KEY", "IBDC_EXCHANGE_S3_SECRET_KEY"}
    held = (set(GENERATED) - own) | {"IBDC_WAREHOUSE_DSN", "IBDC_LOADER_DSN"}
    assert not held & set(env), sorted(held & set(env))
    assert not [k for k in env if k.startswith("AIRFLOW_CONN_")]


def test_health_names_the_tests_database(services):
    """The API's own word: the database its connections reach (``/health``)."""
    health = requests.get(f"{services.exchange_url}/health", timeout=10).json()
    assert health["database"] == services.warehouse_db == "ibdc_test"


def test_an_instance_started_for_another_database_is_restarted(services):
    """Two configurations on one port (a user who moved the stack to another database): the
    running instance is not taken for the new one's."""
    port = processes.free_port()
    # Another database every cluster has (a fresh clone's has no `ibdc` until `make demo`): /health answers there too.
    other = services.model_copy(update={"exchange_port": port, "warehouse_db": "postgres"})
    mine = services.model_copy(update={"exchange_port": port})
    name = stack.exchange_api_name(mine)
    try:
        assert stack.start_exchange_api(other)
        first = processes.read_pid(name)
        assert not stack.start_exchange_api(other)  # the same: left running
        assert stack.start_exchange_api(mine)  # another database: started again
        assert processes.read_pid(name) != first
        assert conninfo_to_dict(_environ(processes.read_pid(name))["IBDC_EXCHANGE_DSN"])["dbname"] == "ibdc_test"
    finally:
        processes.stop(name)
    assert not processes.port_open(port) and not processes.config_file(name).exists()


def test_the_users_instance_and_the_tests_stand_apart(services, user_environ, keep_user_env_file):
    """``ibdc-dev up`` in the user's environment serves the user's database on the user's port (and
    tells the user's shell where: ``IBDC_EXCHANGE_URL``); the tests' instance goes on serving theirs."""
    import subprocess
    import sys

    from ibdc_dev.localstack.env import read_env_file

    tests_pid = processes.read_pid(stack.exchange_api_name(services))
    out = subprocess.run(
        [sys.executable, "-m", "ibdc_dev.cli", "up"], env=user_environ, capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    user_port = int(user_environ.get("IBDC_EXCHANGE_PORT", Settings.model_fields["exchange_port"].default))
    assert user_port != services.exchange_port
    assert f"exchange   started on http://127.0.0.1:{user_port}" in out.stdout or "exchange   running" in out.stdout
    assert read_env_file(keep_user_env_file)["IBDC_EXCHANGE_URL"] == f"http://127.0.0.1:{user_port}"
    user_pid = processes.read_pid(f"exchange-api-{user_port}")
    assert user_pid and user_pid != tests_pid == processes.read_pid(stack.exchange_api_name(services))
    user_db = conninfo_to_dict(_environ(user_pid)["IBDC_EXCHANGE_DSN"])["dbname"]
    assert user_db != "ibdc_test"
    assert requests.get(f"http://127.0.0.1:{user_port}/health", timeout=10).json()["database"] == user_db
    assert requests.get(f"{services.exchange_url}/health", timeout=10).json()["database"] == "ibdc_test"
