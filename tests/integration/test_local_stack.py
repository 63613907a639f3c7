"""The local stack verbs: idempotent, and starting nothing for services configured externally."""

import os
import subprocess
import sys

import pytest

from ibdc_dev.localstack.env import USER_ENV_FILE

pytestmark = pytest.mark.integration


def _ibdc(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "ibdc_dev.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def keep_user_env():
    saved = USER_ENV_FILE.read_bytes() if USER_ENV_FILE.exists() else None
    yield
    if saved is not None:
        USER_ENV_FILE.write_bytes(saved)
    else:  # `up` wrote it: absent again, as the test run found it
        USER_ENV_FILE.unlink(missing_ok=True)


def test_up_twice_is_idempotent(services, keep_user_env):
    if not (services.manages_postgres and services.manages_s3 and services.manages_simulator):
        pytest.skip("the services are configured externally: there is no local stack to start twice")
    out = _ibdc("up", env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    for service in ("postgres", "s3 (moto)", "simulator"):
        assert f"{service:<10} running" in out.stdout, out.stdout


def test_existing_services_are_used_and_nothing_is_started(services, keep_user_env):
    env = dict(
        os.environ,
        IBDC_WAREHOUSE_DSN=services.warehouse,
        IBDC_S3_ENDPOINT=services.s3,
        IBDC_SIMULATOR_URL=services.sources_url,
        # Were anything started, it would have to use these ports and fail loudly.
        IBDC_PG_PORT="1",
        IBDC_S3_PORT="1",
        IBDC_SIMULATOR_PORT="1",
    )
    out = _ibdc("up", env=env)
    assert out.returncode == 0, out.stderr
    assert "postgres   external" in out.stdout
    assert f"s3         external ({services.s3})" in out.stdout
    assert f"sources    external ({services.sources_url})" in out.stdout
    assert "started" not in out.stdout
