"""The local Airflow: its environment (metadata on the local PostgreSQL), and its services."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ibdc.settings import LOCAL_DIR, PROJECT_DIR, Settings
from ibdc_dev.localstack import processes

AIRFLOW_HOME = LOCAL_DIR / "airflow"
PASSWORDS_FILE = AIRFLOW_HOME / "simple_auth_manager_passwords.json"
ADMIN_USER = "admin"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW = Path(sys.executable).parent / "airflow"


def airflow_defaults(settings: Settings) -> dict[str, str]:
    """The Airflow configuration of the local stack (docker-compose sets its own equivalents)."""
    metadata = settings.airflow_metadata.replace("postgresql://", "postgresql+psycopg2://", 1)
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(PASSWORDS_FILE),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": settings.airflow_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{settings.airflow_url}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        # Per checkout, not the shared /tmp/cosmos another user may own.
        "AIRFLOW__COSMOS__CACHE_DIR": str(LOCAL_DIR / "cosmos-cache"),
        # No phoning home: the machines reach only the package registries.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
    }


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment for Airflow commands; ``AIRFLOW__*`` variables already set win."""
    return {**airflow_defaults(settings), **os.environ, **settings.dbt_env()}


def write_passwords(settings: Settings) -> None:
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    PASSWORDS_FILE.write_text(json.dumps({ADMIN_USER: settings.airflow_admin_password}))
    PASSWORDS_FILE.chmod(0o600)


def run(settings: Settings, *args: str, log: Path | None = None) -> None:
    """Run an ``airflow`` CLI command; output to ``log`` when given; raises on failure."""
    write_passwords(settings)
    argv = [str(AIRFLOW), *args]
    if log is None:
        subprocess.run(argv, env=airflow_env(settings), check=True, stdin=subprocess.DEVNULL)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        res = subprocess.run(
            argv, env=airflow_env(settings), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if res.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {res.returncode}); log {log}:\n{tail}")


def start_services(settings: Settings, say=print, prefix: str = "airflow") -> None:
    """Start api-server, scheduler, dag-processor and triggerer (idempotent); pid files ``<prefix>-*``."""
    write_passwords(settings)
    env = airflow_env(settings)
    for service in SERVICES:
        name = f"{prefix}-{service}"
        api = service == "api-server"
        started = processes.start(
            name,
            [str(AIRFLOW), service],
            env,
            settings.airflow_port if api else None,
            (lambda: processes.port_open(settings.airflow_port)) if api else (lambda: True),
            timeout_s=120,
        )
        say(f"{name:22} {'started' if started else 'running'}")


def stop_services(prefix: str = "airflow") -> None:
    for service in SERVICES:
        processes.stop(f"{prefix}-{service}")
