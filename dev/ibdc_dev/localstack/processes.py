"""Background service processes: pid files in ``.local/run``, logs in ``.local/logs``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ibdc.settings import LOCAL_DIR

RUN_DIR = LOCAL_DIR / "run"
LOG_DIR = LOCAL_DIR / "logs"


class ServiceError(RuntimeError):
    pass


def pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def config_file(name: str) -> Path:
    """What the running service ``name`` was started to serve (see :func:`start`'s ``config``)."""
    return RUN_DIR / f"{name}.serves"


def read_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    with contextlib.suppress(ChildProcessError):  # our own child (a test's fixture started it): reap it
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None  # exited; a zombie would still answer kill(pid, 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick), for a process started on the fly."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    hint = f"; see {log}" if log else ""
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f}s{hint}")


def start(
    name: str,
    argv: list[str],
    env: dict[str, str],
    port: int | None,
    ready: Callable[[], bool],
    timeout_s: float = 60,
    config: str | None = None,
) -> bool:
    """Start a service unless it already runs; returns True when started now. ``config``: what this
    instance is to serve (a database, no secret): one running that was started to serve another, or
    that does not answer, is stopped and started again, never taken for it (two instances of a
    service, each on its own port, have their own names: the user's and the tests')."""
    if read_pid(name):
        if ready() and (config is None or _read(config_file(name)) == config):
            return False
        if config is not None:
            stop(name)
    if port is not None and port_open(port):
        raise ServiceError(f"port {port} is taken by another process; cannot start {name}")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    pid_file(name).write_text(f"{proc.pid}\n")
    if config is None:
        config_file(name).unlink(missing_ok=True)
    else:
        config_file(name).write_text(config)

    def _ready() -> bool:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with {proc.returncode}; see {log}")
        return ready()

    try:
        wait_until(_ready, name, timeout_s, log=log)
    except BaseException:
        stop(name)  # not left running half-started, holding its port and data for the next attempt
        raise
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def signal_group(name: str, signum: int) -> bool:
    """Send ``signum`` to the running service ``name`` (its process group); False when not running."""
    pid = read_pid(name)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)
    return True


def stop(name: str, timeout_s: float = 20) -> bool:
    pid = read_pid(name)
    if pid is None:
        pid_file(name).unlink(missing_ok=True)
        config_file(name).unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and read_pid(name):
        time.sleep(0.2)
    if read_pid(name):
        os.killpg(pid, signal.SIGKILL)
    pid_file(name).unlink(missing_ok=True)
    config_file(name).unlink(missing_ok=True)
    return True
