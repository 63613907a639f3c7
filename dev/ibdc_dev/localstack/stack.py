"""``ibdc-dev up`` / ``ibdc-dev down``: the local services, each started only when not configured externally."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import requests

from ibdc import governance
from ibdc.settings import PROJECT_DIR, Settings, get_settings
from ibdc_dev.localstack import postgres, processes, seaweedfs
from ibdc_dev.localstack.env import USER_ENV_FILE, load_local_env, write_env_file

BIN = Path(sys.executable).parent


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def up(say=print, write_env: bool = False) -> Settings:
    """Start what is not running; ``write_env``: also tell the user's shell where the stack is
    (``.local/ibdc.env``), which only the user's own verbs do, never a test's or the benchmark's stack."""
    load_local_env()
    settings = get_settings()
    if settings.manages_postgres:
        started = postgres.ensure_running(settings)
        governance.provision_warehouse(settings)
        say(f"postgres   {'started' if started else 'running'} on 127.0.0.1:{settings.pg_port}")
    else:
        say("postgres   external (IBDC_WAREHOUSE_DSN)")
    if settings.manages_s3:
        started = seaweedfs.ensure_running(settings)
        layout = seaweedfs.configured_layout()
        say(f"s3         {'started' if started else 'running'} on {settings.s3} (SeaweedFS, {layout.topology})")
    else:
        say(f"s3         external ({settings.s3})")
    if settings.manages_simulator:
        started = processes.start(
            "simulator",
            [
                str(BIN / "uvicorn"),
                "ibdc_dev.simulator.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(settings.simulator_port),
                "--log-level",
                "warning",
            ],
            dict(os.environ),
            settings.simulator_port,
            lambda: _http_ok(f"{settings.sources_url}/health"),
        )
        say(f"simulator  {'started' if started else 'running'} on {settings.sources_url}")
    else:
        say(f"sources    external ({settings.sources_url})")
    if write_env:
        write_user_env(settings)
    return settings


def write_user_env(settings: Settings) -> None:
    write_env_file(
        USER_ENV_FILE,
        {
            "IBDC_WAREHOUSE_DSN": settings.warehouse,
            "IBDC_S3_ENDPOINT": settings.s3,
            "IBDC_S3_ACCESS_KEY": settings.s3_access_key or "",
            "IBDC_S3_SECRET_KEY": settings.s3_secret_key or "",
            "AIRFLOW_URL": settings.airflow_url,
        },
        "where the local IBDC stack is; for your shell: set -a; . .local/ibdc.env; set +a",
    )


def down(say=print) -> None:
    load_local_env()
    settings = get_settings()
    # Every process this checkout started (Airflow's, the tests' Airflow, simulator, S3), by pid file.
    own_stop = {"postgres", *seaweedfs.process_names()}
    names = sorted(p.stem for p in processes.RUN_DIR.glob("*.pid") if p.stem not in own_stop)
    for name in sorted(names, key=lambda n: not n.startswith("airflow")):
        if processes.stop(name):
            say(f"stopped {name}")
    if seaweedfs.stop():
        say(f"stopped {seaweedfs.NAME} (its data stays in {seaweedfs.data_dir()})")
    if settings.manages_postgres and postgres.stop():
        say("stopped postgres")
    say(f"local stack of {PROJECT_DIR} is down")
