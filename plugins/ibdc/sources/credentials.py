"""Source credentials from Airflow connections, environment-first.

``AIRFLOW_CONN_<CONN_ID>`` is read directly (the same variable Airflow itself reads), so extraction
works identically inside a task, in tests and on the command line; inside Airflow (a task, where
``airflow.sdk`` is loaded already) other secrets backends are consulted too. Outside Airflow it is
never imported for a lookup: importing it costs seconds and ~80 MB and configures the process's
logging as Airflow's.

Each source of the registry has a connection of its own (``ibdc_source_<code>``). When it is not
defined and the simulator serves that source, the simulator's connection (``ibdc_simulator``) stands
in: the local stack, the tests and the demo define that one alone. A source anywhere else gets its
own connection or :class:`MissingCredentials`, never another source's secret.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ibdc.errors import PermanentError
from ibdc.sources.registry import REGISTRY_FILE, simulator_default

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    login: str | None
    password: str | None


class MissingCredentials(PermanentError):
    pass


def _variable(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _lookup(conn_id: str) -> tuple[Credentials | None, Exception | None]:
    """The connection's credentials, or None and why (the secrets backend's error) when undefined.
    ``MissingCredentials`` for a variable that is not valid JSON."""
    raw = os.environ.get(_variable(conn_id))
    if raw:
        if raw.lstrip().startswith("{"):
            try:
                doc = json.loads(raw)
            except ValueError as exc:  # a configuration error: permanent, like a missing connection
                raise MissingCredentials(f"{_variable(conn_id)} is not valid JSON: {exc}") from None
            return Credentials(doc.get("login"), doc.get("password")), None
        parts = urlsplit(raw)
        return Credentials(
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        ), None
    if "airflow.sdk" not in sys.modules:  # not in an Airflow process: the environment is all there is
        return None, LookupError(f"{_variable(conn_id)} is not set")
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - any lookup failure means the same to the caller
        return None, exc
    return Credentials(conn.login, conn.password), None


def get_credentials(conn_id: str, registry: Path = REGISTRY_FILE) -> Credentials:
    """Connection ``conn_id``'s login and password; for a source's connection that is not defined,
    the simulator's when the simulator serves every source of ``registry`` using ``conn_id``.
    Raises :class:`MissingCredentials` (permanent) naming the variable to set."""
    found, why = _lookup(conn_id)
    if found is not None:
        return found
    fallback = simulator_default(conn_id, registry)
    if fallback is not None and fallback != conn_id:
        found, _ = _lookup(fallback)
        if found is not None:
            log.info("connection %r not defined: the simulator serves its source, using %r", conn_id, fallback)
            return found
        raise MissingCredentials(
            f"no credentials for connection {conn_id!r} nor the simulator's {fallback!r}: set "
            f"{_variable(conn_id)} (or {_variable(fallback)})"
        ) from why
    raise MissingCredentials(
        f"no credentials for connection {conn_id!r}: set {_variable(conn_id)} (no source the simulator "
        "serves uses it, so no other connection stands in)"
    ) from why
