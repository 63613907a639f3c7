"""Where the local servers run from and keep their data, and as whom.

PostgreSQL refuses to run as root, and a local S3 server has no reason to. As root, both run as the
unprivileged system user ``ibdc`` (created here when missing, with no login shell and no home): their
data directories live under ``/var/lib/ibdc/<checkout tag>/`` and their binaries are copied from the
wheels into ``/var/lib/ibdc/bin/<distribution>-<version>/``, so that the user reaches both whatever
the permissions of the checkout (a clone under ``/root`` is not traversable by others). ``.local/<name>``
links to each data directory. As any other user, everything stays in the checkout: data under
``.local/<name>``, binaries run from the wheels in the virtual environment.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from ibdc.settings import LOCAL_DIR, PROJECT_DIR

SERVICE_USER = "ibdc"
ROOT_BASE = Path("/var/lib/ibdc")


def as_root() -> bool:
    return os.geteuid() == 0


def run_user() -> str | None:
    """The user the servers run as: ``ibdc`` as root (created when missing), else None (the caller)."""
    if not as_root():
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
    return SERVICE_USER


def command(argv: list[str | Path]) -> list[str]:
    """``argv`` as the run user: wrapped in ``runuser`` as root, unchanged otherwise."""
    argv = [str(a) for a in argv]
    user = run_user()
    return ["runuser", "-u", user, "--", *argv] if user else argv


def give(path: Path) -> None:
    """Hand ``path`` to the run user (as root; nothing otherwise)."""
    user = run_user()
    if user:
        shutil.chown(path, user, user)


def state_dir(name: str) -> Path:
    """The data directory of service ``name``, created and owned by the run user, mode 0700."""
    if as_root():
        tag = hashlib.sha256(str(PROJECT_DIR).encode()).hexdigest()[:12]
        path = ROOT_BASE / tag / name
        link = LOCAL_DIR / name
        path.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o755)  # traversable by the run user whatever root's umask
        LOCAL_DIR.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() != path:
            link.unlink()
        if not link.exists() and not link.is_symlink():
            link.symlink_to(path)
    else:
        path = LOCAL_DIR / name
        path.mkdir(parents=True, exist_ok=True)
    give(path)
    path.chmod(0o700)
    return path


def wheel_file(distribution: str, relative: str) -> Path:
    """A file that the installed ``distribution`` ships, by its path in the wheel's RECORD
    (``../../../bin/weed`` for a script). FileNotFoundError when the distribution does not ship it."""
    dist = metadata.distribution(distribution)
    for entry in dist.files or ():
        if str(entry) == relative:
            return Path(dist.locate_file(entry)).resolve()
    raise FileNotFoundError(f"{distribution} {dist.version} ships no {relative}")


def reachable(distribution: str, base: Path, parts: list[str]) -> Path:
    """``base``, a directory holding ``parts`` (relative paths) of the installed ``distribution``, where
    the run user can reach it: ``base`` itself unless as root, else a copy of those parts under
    ``/var/lib/ibdc/bin/<distribution>-<version>/`` (made once per version, read-only, the layout kept
    so that libraries the binaries find relative to themselves still resolve)."""
    if not as_root():
        return base
    target = ROOT_BASE / "bin" / f"{distribution}-{metadata.version(distribution)}"
    done = target / ".complete"
    if not done.exists():
        shutil.rmtree(target, ignore_errors=True)
        for part in parts:
            source, dest = base / part, target / part
            dest.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, dest)
            else:
                shutil.copy2(source, dest)
        for path in [ROOT_BASE, ROOT_BASE / "bin", target, *target.rglob("*")]:
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
        done.touch()
    return target
