"""The local Airflow: its environment (metadata on the local PostgreSQL), and its services, with the
LocalExecutor (``make airflow``) or the CeleryExecutor (``make airflow-celery``: a local
``redis-server`` as the broker and N ``airflow celery worker`` processes, as compose runs them).

Workers on one host would all report the host's name; each local worker is given its own
(``IBDC_AIRFLOW_WORKER_HOSTNAME``, read by ``[core] hostname_callable`` = :func:`worker_hostname`, the
setting the Task SDK reads when a task starts: ``airflow.sdk.api.client.get_hostname``), so a task
instance's ``hostname`` says which worker ran it.

Logins: the FAB auth manager (``apache-airflow-providers-fab``), as compose runs it. ``airflow db
migrate`` also migrates FAB's tables (the provider's ``FABDBManager`` is discovered) and creates its
roles; :func:`start_services` then makes the local admin (``admin``, password
``IBDC_AIRFLOW_ADMIN_PASSWORD`` of ``.local/secrets.env``) with :func:`ensure_user`, which the tests
use for their own viewers and operators too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ibdc import airflow_users
from ibdc.settings import LOCAL_DIR, PROJECT_DIR, Settings
from ibdc_dev.localstack import processes, redis, seaweedfs

AIRFLOW_HOME = LOCAL_DIR / "airflow"
ADMIN_USER = "admin"
ADMIN_PASSWORD_VAR = "IBDC_AIRFLOW_ADMIN_PASSWORD"  # the setting airflow_admin_password
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
AIRFLOW = Path(sys.executable).parent / "airflow"
WORKER_HOSTNAME_VAR = "IBDC_AIRFLOW_WORKER_HOSTNAME"


def worker_hostname() -> str:
    """The ``[core] hostname_callable`` of the local Celery workers: the name the harness gave this
    worker's process (``IBDC_AIRFLOW_WORKER_HOSTNAME``), else the machine's fully qualified name."""
    return os.environ.get(WORKER_HOSTNAME_VAR) or socket.getfqdn()


@dataclass(frozen=True)
class CeleryWorkers:
    """The CeleryExecutor's part of a local Airflow: ``count`` workers of ``concurrency`` task slots
    each, their broker a ``redis-server`` on ``redis_port``."""

    count: int = 2
    concurrency: int = 4
    redis_port: int = redis.PORT


def worker_name(prefix: str, n: int) -> str:
    """The pid-file name of worker ``n`` (from 1), which is also its hostname and Celery node name's host."""
    return f"{prefix}-worker-{n}"


def airflow_defaults(settings: Settings) -> dict[str, str]:
    """The Airflow configuration of the local stack (docker-compose sets its own equivalents)."""
    metadata = settings.airflow_metadata.replace("postgresql://", "postgresql+psycopg2://", 1)
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Measured on 2 cores (make bench, backfill_year_vs_direct): the tasks wait on HTTP and
        # PostgreSQL as much as they compute, so 6 slots keep both cores busy.
        "AIRFLOW__CORE__PARALLELISM": "6",
        # Airflow's default (1 s) is slept after every scheduler loop that queued nothing, and a loop
        # queues nothing while the executor's slots are full: each freed slot waited up to a second,
        # which halved a backfill's throughput (3 months of 31 provinces: 52 s, 22 s at 0.1 s).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
        # The task supervisor's longest wait between looks at its task process: the default (5 s)
        # left a worker slot idle up to 5 s after about one task in five had ended.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        # Plugins loaded as each Airflow process starts, so the scheduler has them before it forks its
        # executor's workers: lazily loaded, every task process loaded them again when parsing its DAG
        # file (about 0.9 s a task of the transform DAG).
        "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
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


def celery_env(settings: Settings, celery: CeleryWorkers) -> dict[str, str]:
    """The CeleryExecutor's configuration: broker (the local redis), results in the metadata database,
    as many task slots in the scheduler as the workers hold, and each worker's own hostname."""
    metadata = settings.airflow_metadata.replace("postgresql://", "postgresql+psycopg2://", 1)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(celery.count * celery.concurrency),
        "AIRFLOW__CELERY__BROKER_URL": redis.broker_url(celery.redis_port),
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(celery.concurrency),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.{worker_hostname.__name__}",
    }


def airflow_env(
    settings: Settings, celery: CeleryWorkers | None = None, env: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for Airflow commands; ``AIRFLOW__*`` variables already set win over the defaults,
    the executor's settings (``celery``) and ``env`` (a caller's own, e.g. a test's) over both."""
    executor = celery_env(settings, celery) if celery else {}
    return {**airflow_defaults(settings), **os.environ, **settings.dbt_env(), **executor, **(env or {})}


def ensure_user(settings: Settings, username: str, role: str, password: str, env: dict[str, str] | None = None) -> None:
    """Make ``username`` an Airflow (FAB) user with ``role`` alone (``Admin``, ``Op``, ``Viewer``...)
    and ``password``, creating or updating it (idempotent), on the metadata database of ``settings``
    (``env`` over :func:`airflow_env`'s), as compose's airflow-init does (:mod:`ibdc.airflow_users`,
    which also gives the docs view to the roles that read it). Needs ``airflow db migrate`` first. RuntimeError
    with the output when it fails."""
    child_env = {**airflow_env(settings, env=env), airflow_users.PASSWORD_VAR: password}
    done = subprocess.run(
        [sys.executable, "-m", "ibdc.airflow_users", username, role],
        env=child_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode:
        raise RuntimeError(f"creating the Airflow user {username!r} failed: {(done.stdout + done.stderr)[-3000:]}")


def ensure_admin(settings: Settings, env: dict[str, str] | None = None) -> None:
    """The local stack's admin: ``admin``, role Admin, password ``settings.airflow_admin_password``."""
    if not settings.airflow_admin_password:
        raise RuntimeError(f"{ADMIN_PASSWORD_VAR} is not set (the local stack generates it into .local/secrets.env)")
    ensure_user(settings, ADMIN_USER, "Admin", settings.airflow_admin_password, env)


def run(settings: Settings, *args: str, log: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run an ``airflow`` CLI command (``env``: variables over :func:`airflow_env`'s); output to ``log``
    when given; raises on failure."""
    argv = [str(AIRFLOW), *args]
    if log is None:
        subprocess.run(argv, env=airflow_env(settings, env=env), check=True, stdin=subprocess.DEVNULL)
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        res = subprocess.run(
            argv, env=airflow_env(settings, env=env), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if res.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"airflow {' '.join(args)} failed (exit {res.returncode}); log {log}:\n{tail}")


def api_server_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for the api-server: its object store key is the docs reader's (``IBDC_S3_DOCS_READER_*``,
    when set), as in compose; it runs no task (the scheduler's LocalExecutor, or the workers, do)."""
    reader = seaweedfs.Keys.optional(seaweedfs.DOCS_READER_KEYS)
    if reader is None:
        return env
    return {**env, "IBDC_S3_ACCESS_KEY": reader.access_key, "IBDC_S3_SECRET_KEY": reader.secret_key}


def start_services(
    settings: Settings,
    say=print,
    prefix: str = "airflow",
    celery: CeleryWorkers | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Start api-server, scheduler, dag-processor and triggerer (idempotent); pid files ``<prefix>-*``.
    With ``celery``: the CeleryExecutor, its redis-server (``<prefix>-redis``) first and its workers
    (``<prefix>-worker-<n>``) last. ``env``: variables over :func:`airflow_env`'s, for every process.
    ServiceError when one does not become ready. The admin user is created or updated first
    (:func:`ensure_admin`): the metadata must be migrated."""
    ensure_admin(settings, env)
    if celery:
        started = redis.start(f"{prefix}-redis", celery.redis_port)
        say(f"{prefix + '-redis':22} {'started' if started else 'running'} on 127.0.0.1:{celery.redis_port}")
    base = airflow_env(settings, celery, env)
    for service in SERVICES:
        name = f"{prefix}-{service}"
        api = service == "api-server"
        started = processes.start(
            name,
            [str(AIRFLOW), service],
            api_server_env(base) if api else base,
            settings.airflow_port if api else None,
            (lambda: processes.port_open(settings.airflow_port)) if api else (lambda: True),
            timeout_s=120,
        )
        say(f"{name:22} {'started' if started else 'running'}")
    for n in range(1, celery.count + 1) if celery else ():
        started = start_worker(prefix, n, base, celery)
        say(f"{worker_name(prefix, n):22} {'started' if started else 'running'}")


def start_worker(prefix: str, n: int, env: dict[str, str], celery: CeleryWorkers) -> bool:
    """Start Celery worker ``n`` (``airflow celery worker``) unless it runs; True when started now.
    Ready when its Celery node answers a ping through the broker."""
    name = worker_name(prefix, n)
    node = f"celery@{name}"
    own = {
        WORKER_HOSTNAME_VAR: name,
        # Each worker serves its task logs on a port of its own (compose: one container each).
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(processes.free_port()),
    }
    argv = [str(AIRFLOW), "celery", "worker", "--celery-hostname", node, "--concurrency", str(celery.concurrency)]
    return processes.start(
        name, argv, {**env, **own}, None, lambda: _pings(env["AIRFLOW__CELERY__BROKER_URL"], node), timeout_s=120
    )


def _pings(broker: str, node: str) -> bool:
    from celery import Celery

    app = Celery(broker=broker)
    try:
        return bool(app.control.ping(destination=[node], timeout=1.0))
    except OSError:
        return False
    finally:
        app.close()


def stop_services(prefix: str = "airflow") -> None:
    """Stop what :func:`start_services` started under ``prefix``: the workers, then the services
    together (each may take ``processes.stop``'s whole grace period), the broker last."""
    workers = [p.stem for p in sorted(processes.RUN_DIR.glob(f"{prefix}-worker-*.pid"))]
    services = [f"{prefix}-{service}" for service in SERVICES]
    for group in (workers, services):
        with ThreadPoolExecutor(max_workers=max(len(group), 1)) as pool:
            list(pool.map(processes.stop, group))
    redis.stop(f"{prefix}-redis")


def kill_worker(prefix: str, n: int) -> list[int]:
    """SIGKILL worker ``n`` as a lost machine would lose it: its Celery process and every process under
    it (the Task SDK runs each task in a process group of its own, so the worker's group is not all).
    Returns the pids killed; ProcessLookupError when the worker does not run."""
    import psutil

    pid = processes.read_pid(worker_name(prefix, n))
    if pid is None:
        raise ProcessLookupError(f"{worker_name(prefix, n)} does not run")
    worker = psutil.Process(pid)
    tree = [worker, *worker.children(recursive=True)]
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    return [proc.pid for proc in tree]
