"""``ibdc-dev up`` / ``ibdc-dev down``: the local services, each started only when not configured externally."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import requests
from psycopg.conninfo import conninfo_to_dict

from ibdc import governance
from ibdc.settings import EXCHANGE, PROJECT_DIR, Settings, get_settings
from ibdc_dev.localstack import postgres, processes, seaweedfs
from ibdc_dev.localstack.env import GENERATED, USER_ENV_FILE, load_local_env, write_env_file

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
    started = start_exchange_api(settings)
    say(f"exchange   {'started' if started else 'running'} on {settings.exchange_url} (its API, as {EXCHANGE})")
    if write_env:
        write_user_env(settings)
    return settings


def exchange_api_name(settings: Settings) -> str:
    """The exchange API's process name: one per port, so the tests' instance (``IBDC_EXCHANGE_PORT``
    of tests/conftest.py, on the tests' database) and the user's never stand in for each other."""
    return f"exchange-api-{settings.exchange_port}"


def exchange_api_serves(settings: Settings) -> str:
    """What the exchange API serves: the warehouse's host, port and database as role ibdc_exchange (no
    password), the object store and the exchange's S3 identity (its access key id), with the platform's
    code (a digest of plugins/ibdc): an instance running older code is started again too."""
    parts = conninfo_to_dict(settings.exchange)
    digest = hashlib.sha256()
    for path in sorted((PROJECT_DIR / "plugins" / "ibdc").rglob("*")):
        if path.is_file() and path.suffix in (".py", ".sql"):
            digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    served = [f"{key}={parts.get(key) or ''}" for key in ("host", "port", "dbname", "user")]
    served += [f"s3={settings.s3}", f"s3_identity={settings.exchange_s3_access_key or ''}"]
    return " ".join([*served, f"code={digest.hexdigest()[:16]}"])


def exchange_api_env(settings: Settings) -> dict[str, str]:
    """The exchange API's environment: this one without another service's secret (the generated
    local secrets, any DSN, password, key or Airflow connection), with the warehouse as ``ibdc_exchange``
    and the object store as the exchange's own S3 identity."""
    secret = set(GENERATED)
    for key in os.environ:
        if key.endswith(("_DSN", "_KEY")) or "PASSWORD" in key or "SECRET" in key or key.startswith("AIRFLOW_CONN_"):
            secret.add(key)
    env = {k: v for k, v in os.environ.items() if k not in secret}
    env["IBDC_EXCHANGE_DSN"] = settings.exchange
    # Its own S3 identity: it reads the published products' bucket to presign a Delta Sharing query's URLs.
    env["IBDC_S3_ENDPOINT"] = settings.s3
    env["IBDC_EXCHANGE_S3_ACCESS_KEY"] = settings.exchange_s3_access_key or ""
    env["IBDC_EXCHANGE_S3_SECRET_KEY"] = settings.exchange_s3_secret_key or ""
    return env


def start_exchange_api(settings: Settings) -> bool:
    """``uvicorn ibdc.exchange.api:app`` on 127.0.0.1:``exchange_port``, connected to the warehouse
    as ``ibdc_exchange`` (restarted when it serves another database); True when started now."""
    return processes.start(
        exchange_api_name(settings),
        [
            str(BIN / "uvicorn"),
            "ibdc.exchange.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.exchange_port),
            "--log-level",
            "warning",
        ],
        exchange_api_env(settings),
        settings.exchange_port,
        lambda: _http_ok(f"{settings.exchange_url}/health"),
        config=exchange_api_serves(settings),
    )


def write_user_env(settings: Settings) -> None:
    write_env_file(
        USER_ENV_FILE,
        {
            "IBDC_WAREHOUSE_DSN": settings.warehouse,
            "IBDC_S3_ENDPOINT": settings.s3,
            "IBDC_S3_ACCESS_KEY": settings.s3_access_key or "",
            "IBDC_S3_SECRET_KEY": settings.s3_secret_key or "",
            "AIRFLOW_URL": settings.airflow_url,
            "IBDC_EXCHANGE_URL": settings.exchange_url,
            # `ibdc exchange` connects as the market's service role (docs/exchange.md).
            "IBDC_EXCHANGE_PASSWORD": settings.exchange_password or "",
        },
        "where the local IBDC stack is; for your shell: set -a; . .local/ibdc.env; set +a",
    )


def down(say=print) -> None:
    load_local_env()
    settings = get_settings()
    # Every process this checkout started (Airflow's, the tests' Airflow, simulator, the exchange APIs,
    # S3), by pid file.
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
