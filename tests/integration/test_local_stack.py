"""The local stack: its verbs idempotent, nothing started for services configured externally, its
servers the pinned wheels' (PostgreSQL, SeaweedFS; no moto), and the raw zone kept across
``make down`` / ``make up``."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Partition
from ibdc.landing.object_store import client
from ibdc.settings import PROJECT_DIR
from ibdc_dev.localstack import postgres, processes, seaweedfs, service_user, stack
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
    for service in ("postgres", "s3", "simulator"):
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


def _local_stack(services) -> None:
    if not (services.manages_postgres and services.manages_s3 and services.manages_simulator):
        pytest.skip("the services are configured externally: there is no local stack here")


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _server_process(name: str) -> psutil.Process:
    """The server behind a pid file (as root the file names ``runuser``, whose child is the server)."""
    process = psutil.Process(processes.read_pid(name))
    return process.children()[0] if process.name() == "runuser" else process


def test_the_servers_are_the_pinned_wheels_and_no_moto_runs(services, warehouse):
    _local_stack(services)
    postmaster = _server_process("postgres")
    assert _sha256(postmaster.exe()) == _sha256(postgres.wheel_bindir() / "postgres")
    assert warehouse.execute("SHOW server_version").fetchone()[0].startswith(f"{postgres.MAJOR}.")
    weed = _server_process(seaweedfs.NAME)
    assert _sha256(weed.exe()) == _sha256(service_user.wheel_file(seaweedfs.DISTRIBUTION, "../../../bin/weed"))
    assert weed.cmdline()[1] == "server"
    if os.geteuid() == 0:  # as root the servers run as the unprivileged service user
        assert postmaster.username() == weed.username() == service_user.SERVICE_USER
    # No moto server runs (an upgraded venv may still hold the package: make venv installs, never removes).
    servers = [
        p.info for p in psutil.process_iter(["pid", "cmdline"]) if "moto_server" in " ".join(p.info["cmdline"] or [])
    ]
    assert not servers
    for lock in ("requirements.lock", "requirements-dev.lock"):  # nor does the harness install it
        assert not [line for line in (PROJECT_DIR / lock).read_text().splitlines() if line.startswith("moto")]


def _versions_of(services, partition: Partition) -> set[tuple[str, str]]:
    found = client().list_objects(services.raw_bucket, prefix=partition.prefix, recursive=True, include_version=True)
    return {(o.object_name, o.version_id) for o in found}


def test_down_and_up_keep_the_raw_zone_and_the_load_needs_no_source(services, fresh_partitions, keep_user_env):
    """The user's `make down` and `make up` in between: the partition extracted before is loaded from
    the raw zone after, with the simulator stopped (its port closed), the same objects and versions."""
    _local_stack(services)
    partition = Partition(dataset="industrial_output", province_code="440000", period=fresh_partitions.month)
    extracted = pipeline.extract_partition(partition.dataset, partition.province_code, partition.period)
    assert extracted["status"] == "extracted", extracted
    before = raw_zone.read_manifest(partition)
    versions_before = _versions_of(services, partition)
    try:  # the stack back up whatever fails in between: the tests after this one need it
        for verb in ("down", "up"):
            out = _ibdc(verb, env=dict(os.environ))
            assert out.returncode == 0, out.stderr
        assert "s3         started" in out.stdout and "postgres   started" in out.stdout, out.stdout
        processes.stop("simulator")
        assert not processes.port_open(services.simulator_port)
        assert raw_zone.read_manifest(partition) == before
        assert _versions_of(services, partition) == versions_before
        loaded = pipeline.load_partition_from_raw(partition.dataset, partition.province_code, partition.period)
        assert loaded.rows_in == before.records_received > 0 and loaded.rows_loaded > 0
    finally:
        stack.up(say=lambda m: None)
