"""The project-owned PostgreSQL cluster, from the system's PostgreSQL 15+ server binaries.

PostgreSQL refuses to run as root. As root the cluster runs as the ``postgres`` system user (created
with the Debian packages) and its data directory lives under ``/var/lib/ibdc-postgres/`` where that
user can reach it whatever the permissions of the checkout; ``.local/pgdata`` links to it. As any
other user it lives in ``.local/pgdata``. It listens on 127.0.0.1 only, with password authentication.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import psycopg

from ibdc.settings import LOCAL_DIR, PROJECT_DIR, Settings
from ibdc_dev.localstack.processes import LOG_DIR, RUN_DIR, ServiceError, port_open

MIN_VERSION = 15
ROOT_BASE = Path("/var/lib/ibdc-postgres")
OWNER_MARK = LOCAL_DIR / "pgdata.owner"


def find_bindir() -> Path:
    candidates = [os.environ.get("IBDC_PG_BINDIR", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(re.findall(r"\d+", p)[0]))[::-1]
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for c in filter(None, candidates):
        initdb = Path(c) / "initdb"
        if initdb.exists():
            out = subprocess.run([initdb, "--version"], capture_output=True, text=True, check=True).stdout
            version = re.search(r"\(PostgreSQL\) (\d+)", out)
            if version and int(version.group(1)) >= MIN_VERSION:
                return Path(c)
    raise ServiceError(
        "no PostgreSQL 15+ server binaries found (initdb). Install them: "
        "sudo apt-get install -y postgresql   (or set IBDC_PG_BINDIR)"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _run_user() -> str | None:
    if not _as_root():
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def data_dir() -> Path:
    if _as_root():
        tag = hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:12]
        return ROOT_BASE / tag / "data"
    return LOCAL_DIR / "pgdata"


def log_file() -> Path:
    # The server writes its log itself, so as root it sits beside the data (linked from .local/logs).
    return data_dir().parent / "postgres.log" if _as_root() else LOG_DIR / "postgres.log"


def _pg(bindir: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    argv = [str(bindir / str(args[0])), *map(str, args[1:])]
    user = _run_user()
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL)


def _initdb(bindir: Path, settings: Settings) -> None:
    data = data_dir()
    if data.exists():
        # A data directory this checkout did not create (an earlier clone at the same path): its
        # password is unknown to this checkout's secrets, so start it afresh.
        _pg(bindir, "pg_ctl", "-D", data, "-m", "immediate", "stop", check=False)
        shutil.rmtree(data.parent if _as_root() else data)
    data.parent.mkdir(parents=True, exist_ok=True)
    pwfile = data.parent / ".pwfile"
    pwfile.write_text(settings.pg_password or "")
    user = _run_user()
    if user:
        shutil.chown(data.parent, user)
        shutil.chown(pwfile, user)
        data.parent.chmod(0o700)
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
    if user:
        shutil.chown(data / "postgresql.conf", user)
    OWNER_MARK.parent.mkdir(parents=True, exist_ok=True)
    OWNER_MARK.write_text(str(data) + "\n")
    link = LOCAL_DIR / "pgdata"
    if _as_root() and not link.exists():
        link.symlink_to(data)


def _running(bindir: Path) -> bool:
    return _pg(bindir, "pg_ctl", "-D", data_dir(), "status", check=False).returncode == 0


def ensure_running(settings: Settings) -> bool:
    """Initialise and start the cluster if needed, create the databases; True when started now."""
    bindir = find_bindir()
    if not (OWNER_MARK.exists() and (data_dir() / "PG_VERSION").exists()):
        _initdb(bindir, settings)
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    started = False
    if not _running(bindir):
        if port_open(settings.pg_port):
            raise ServiceError(f"port {settings.pg_port} is taken by another process; set IBDC_PG_PORT")
        res = _pg(bindir, "pg_ctl", "-D", data_dir(), "-l", log_file(), "-w", "-t", "60", "start", check=False)
        if res.returncode:
            raise ServiceError(f"PostgreSQL did not start: {res.stderr.strip()}; see {log_file()}")
        started = True
    status = _pg(bindir, "pg_ctl", "-D", data_dir(), "status", check=False).stdout
    (RUN_DIR / "postgres.pid").write_text(re.search(r"PID: (\d+)", status).group(1) + "\n")
    log_link = LOG_DIR / "postgres.log"
    if _as_root() and not log_link.is_symlink():
        log_link.unlink(missing_ok=True)
        log_link.symlink_to(log_file())
    create_databases(settings.warehouse, [settings.warehouse_db, settings.airflow_db])
    return started


def create_databases(dsn: str, names: list[str]) -> None:
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')


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
    data = data_dir()
    target = data.parent if _as_root() else data
    if target.exists():
        shutil.rmtree(target)
    OWNER_MARK.unlink(missing_ok=True)
