"""Source credentials from Airflow connections, environment-first.

``AIRFLOW_CONN_<CONN_ID>`` is read directly (the same variable Airflow itself reads), so extraction
works identically inside a task, in tests and on the command line; inside Airflow other secrets
backends are consulted too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ibdc.errors import PermanentError


@dataclass(frozen=True)
class Credentials:
    login: str | None
    password: str | None


class MissingCredentials(PermanentError):
    pass


def get_credentials(conn_id: str) -> Credentials:
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw:
        if raw.lstrip().startswith("{"):
            try:
                doc = json.loads(raw)
            except ValueError as exc:  # a configuration error: permanent, like a missing connection
                raise MissingCredentials(f"AIRFLOW_CONN_{conn_id.upper()} is not valid JSON: {exc}") from None
            return Credentials(doc.get("login"), doc.get("password"))
        parts = urlsplit(raw)
        return Credentials(
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        )
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # noqa: BLE001 - any lookup failure means the same to the caller
        raise MissingCredentials(
            f"no credentials for connection {conn_id!r}: set AIRFLOW_CONN_{conn_id.upper()}"
        ) from exc
    return Credentials(conn.login, conn.password)
