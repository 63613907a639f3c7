"""The pipeline's warehouse sessions: every wait bounded, a dead peer noticed.

A load holds its partition's advisory lock for a transaction; a client that dies or hangs inside it
must not block the partition for hours. Each session therefore has (settings ``pg_*``, seconds):
a connect timeout; a statement timeout (a partition's COPY included); a lock timeout (a load waiting
for another load of its partition gives up, :class:`~ibdc.loading.postgres.PartitionBusy`, transient);
an idle-in-transaction timeout (a client silent inside a transaction loses its session, so its locks
are released and its transaction rolled back); and TCP keepalives on both ends (the server's default
probes a silent client only after two hours), plus the server checking for a client gone during a
long statement (``client_connection_check_interval``), so a peer gone from the network is noticed.
"""

from __future__ import annotations

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ibdc.settings import Settings, get_settings


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def session_params(dsn: str, settings: Settings | None = None) -> dict[str, str | int]:
    """libpq connection parameters for ``dsn``'s sessions: ``connect_timeout``, the client's
    ``keepalives*`` and ``options`` setting the server's ``statement_timeout``, ``lock_timeout``,
    ``idle_in_transaction_session_timeout`` (milliseconds), ``tcp_keepalives_*`` (seconds, as the
    client's) and ``client_connection_check_interval`` (the keepalive interval), after any
    ``options`` the DSN has."""
    s = settings or get_settings()
    timeouts = (
        f"-c statement_timeout={_ms(s.pg_statement_timeout_s)}"
        f" -c lock_timeout={_ms(s.pg_lock_timeout_s)}"
        f" -c idle_in_transaction_session_timeout={_ms(s.pg_idle_in_transaction_timeout_s)}"
        f" -c tcp_keepalives_idle={s.pg_keepalives_idle_s}"
        f" -c tcp_keepalives_interval={s.pg_keepalives_interval_s}"
        f" -c tcp_keepalives_count={s.pg_keepalives_count}"
        f" -c client_connection_check_interval={_ms(s.pg_keepalives_interval_s)}"
    )
    own = conninfo_to_dict(dsn).get("options")
    return {
        "connect_timeout": s.pg_connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": s.pg_keepalives_idle_s,
        "keepalives_interval": s.pg_keepalives_interval_s,
        "keepalives_count": s.pg_keepalives_count,
        "options": f"{own} {timeouts}" if own else timeouts,
    }


def connect(dsn: str, *, autocommit: bool = False, settings: Settings | None = None) -> psycopg.Connection:
    """A connection to the warehouse at ``dsn`` with the pipeline's timeouts and keepalives
    (:func:`session_params`). Raises ``psycopg.OperationalError`` when it cannot connect in time."""
    return psycopg.connect(dsn, autocommit=autocommit, **session_params(dsn, settings))
