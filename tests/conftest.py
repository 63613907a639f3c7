"""Shared fixtures and the collection rules. Integration tests run against the real local services in
their own database and buckets (``ibdc_test``, ``ibdc-raw-test``), so a test run never touches the
demo's data; within them each module writes the partitions it declares (``tests/partitions.py``),
checked here at collection. End-to-end tests (``tests/e2e``, the Airflow run) are marked ``e2e``.
``make test-unit`` sets ``IBDC_TEST_UNIT``: then a test that asks for the services fails at once. A
test run leaves the user's ``.local/ibdc.env`` as it found it, or the session fails."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

from ibdc.settings import LOCAL_DIR
from ibdc_dev.localstack.env import USER_ENV_FILE
from tests.partitions import FreshPartitions, claims_of, collisions, fresh_months

# The environment the user ran pytest in, before the tests point it at their own databases: what
# `ibdc-dev up` sees when the user runs it.
USER_ENVIRON = dict(os.environ)
TESTS = Path(__file__).resolve().parent
E2E = [TESTS / "e2e", TESTS / "e2e_celery", TESTS / "integration" / "test_airflow_run.py"]
UNIT_ONLY = "IBDC_TEST_UNIT"  # set by `make test-unit`
FRESH = pytest.StashKey[dict[str, str]]()
USER_ENV_BEFORE = pytest.StashKey[bytes | None]()
# Airflow reads its configuration once per process: give the test process its own home.
os.environ["AIRFLOW_HOME"] = str(LOCAL_DIR / "airflow-test")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__COSMOS__CACHE_DIR", str(LOCAL_DIR / "cosmos-cache-test"))
os.environ.setdefault("DO_NOT_TRACK", "1")

# Every property test is deterministic and reproducible (no example database, no time deadline, slow
# generation tolerated); each module sets only its number of examples.
settings.register_profile(
    "ibdc",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile("ibdc")

TEST_ENV = {
    "IBDC_WAREHOUSE_DB": "ibdc_test",
    "IBDC_AIRFLOW_DB": "airflow_test",
    "IBDC_RAW_BUCKET": "ibdc-raw-test",
    "IBDC_DOCS_BUCKET": "ibdc-docs-test",
    "IBDC_AIRFLOW_PORT": "28180",  # the tests' Airflow never collides with `make airflow`
    # The tests' exchange API serves the tests' database, on a port of its own (ibdc_dev.localstack.stack).
    "IBDC_EXCHANGE_PORT": "28310",
    "IBDC_EXCHANGE_BUCKET": "ibdc-exchange-test",  # published products: never the demo's
    # No scheduled run of the latest month appears on its own while the tests drive Airflow.
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
}


def _point_at_test_databases() -> None:
    os.environ.update(TEST_ENV)
    dsn = os.environ.get("IBDC_WAREHOUSE_DSN")
    if dsn:  # an external warehouse: use a test database on the same server
        os.environ["IBDC_WAREHOUSE_DSN"] = urlsplit(dsn)._replace(path="/ibdc_test").geturl()


def _bytes_or_none(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def pytest_sessionstart(session: pytest.Session) -> None:
    session.stash[USER_ENV_BEFORE] = _bytes_or_none(USER_ENV_FILE)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The user's shell file as it was: put back, and the run failed, when a test changed it."""
    before = session.stash.get(USER_ENV_BEFORE, None)
    if _bytes_or_none(USER_ENV_FILE) == before:
        return
    if before is None:
        USER_ENV_FILE.unlink()
    else:
        USER_ENV_FILE.write_bytes(before)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter:
        reporter.ensure_newline()
        reporter.write_line(f"ERROR: the test run changed the user's {USER_ENV_FILE} (put back)", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    claims: dict[str, list] = {}
    for item in items:
        if any(item.path == p or p in item.path.parents for p in E2E):
            item.add_marker(pytest.mark.e2e)
        if os.environ.get(UNIT_ONLY) and {"integration", "e2e"} & {m.name for m in item.iter_markers()}:
            raise pytest.UsageError(f"{item.nodeid} needs the services, which make test-unit runs without")
        module = item.getparent(pytest.Module)
        if module is not None and module.nodeid not in claims:
            claims[module.nodeid] = [c for m in module.iter_markers("partitions") for c in claims_of(m.args, m.kwargs)]
    found = collisions(claims)
    if found:
        raise pytest.UsageError(
            "test modules claim the same partitions (pytest.mark.partitions, tests/partitions.py):\n  "
            + "\n  ".join(found)
        )
    config.stash[FRESH] = fresh_months(i.nodeid for i in items if "fresh_partitions" in i.fixturenames)


@pytest.fixture
def fresh_partitions(request) -> FreshPartitions:
    """A month (and its days) no module claims and no other test of the run is handed."""
    return FreshPartitions(request.config.stash[FRESH][request.node.nodeid])


@pytest.fixture
def user_environ() -> dict[str, str]:
    """The environment pytest was started in, without the tests' databases and buckets."""
    return dict(USER_ENVIRON)


@pytest.fixture
def keep_user_env_file():
    """For a test that runs a verb writing the user's ``.local/ibdc.env``: the file as it was after."""
    saved = _bytes_or_none(USER_ENV_FILE)
    yield USER_ENV_FILE
    if saved is None:
        USER_ENV_FILE.unlink(missing_ok=True)
    else:
        USER_ENV_FILE.write_bytes(saved)


@pytest.fixture(scope="session")
def services():
    """The local stack, started when not running (idempotent); returns the settings. Under
    ``make test-unit`` (``IBDC_TEST_UNIT``) it fails: a unit test uses no service."""
    if os.environ.get(UNIT_ONLY):
        pytest.fail("make test-unit runs without the services: a test that needs them belongs in tests/integration")
    _point_at_test_databases()
    from ibdc import governance
    from ibdc_dev.localstack import postgres, stack
    from ibdc_dev.localstack.env import load_local_env

    load_local_env()
    settings = stack.up(say=lambda m: None)
    if not settings.manages_postgres:
        postgres.create_databases(settings.warehouse, [settings.warehouse_db, settings.airflow_db])
        governance.provision_warehouse(settings)
    return settings


@pytest.fixture(scope="session")
def s3_admin(services):
    """The S3 endpoint as its administrator (the pipeline's own keys may not delete a version): for
    a test's set-up and clean-up only. Needs ``IBDC_S3_ADMIN_ACCESS_KEY`` for an external endpoint."""
    from ibdc_dev.localstack import seaweedfs

    return seaweedfs.admin_client(services)


@pytest.fixture
def warehouse(services):
    import psycopg

    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def truth(services):
    """The simulator's ground truth for a partition, over HTTP."""
    import requests

    def get(province: str, period: str, dataset: str = "industrial_output") -> dict:
        resp = requests.get(
            f"{services.sources_url}/truth/{dataset}",
            params={"province": province, "period": period},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.json()

    return get


@pytest.fixture
def source_faults(services):
    """Switch simulator faults on for one test (``source_faults([...])``); all cleared afterwards."""
    import requests

    url = f"{services.sources_url}/admin/faults"
    headers = {"X-Admin-Secret": services.simulator_client_secret}

    def add(faults: list[dict]) -> None:
        requests.post(url, json=faults, headers=headers, timeout=10).raise_for_status()

    requests.delete(url, headers=headers, timeout=10).raise_for_status()
    yield add
    requests.delete(url, headers=headers, timeout=10).raise_for_status()
