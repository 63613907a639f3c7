"""The pipeline's warehouse sessions carry bounded waits and keepalives (issue 13, point 3); a load
that waited too long for its partition is a transient failure."""

import psycopg

from ibdc.errors import ErrorKind, TransientError, kind_of
from ibdc.loading.postgres import PartitionBusy
from ibdc.loading.sessions import session_params
from ibdc.settings import Settings


def test_sessions_have_connect_statement_lock_and_idle_timeouts_and_keepalives():
    params = session_params("postgresql://u@h/db", Settings())
    assert params["connect_timeout"] == 10
    assert (params["keepalives"], params["keepalives_idle"], params["keepalives_interval"]) == (1, 60, 10)
    assert params["keepalives_count"] == 6
    assert params["options"] == (
        "-c statement_timeout=900000 -c lock_timeout=600000 -c idle_in_transaction_session_timeout=300000"
        " -c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6"
        " -c client_connection_check_interval=10000"
    )


def test_the_timeouts_are_settings_and_a_dsn_keeps_its_own_options():
    s = Settings(pg_statement_timeout_s=1.5, pg_lock_timeout_s=0.2, pg_idle_in_transaction_timeout_s=2)
    params = session_params("host=h dbname=db options='-c search_path=raw'", s)
    assert params["options"].startswith(
        "-c search_path=raw -c statement_timeout=1500 -c lock_timeout=200 -c idle_in_transaction_session_timeout=2000 "
    )


def test_waits_cut_short_by_the_database_are_transient():
    assert kind_of(PartitionBusy("held")) is ErrorKind.TRANSIENT and issubclass(PartitionBusy, TransientError)
    for exc in (
        psycopg.errors.LockNotAvailable("lock timeout"),
        psycopg.errors.QueryCanceled("statement timeout"),
        psycopg.errors.IdleInTransactionSessionTimeout("idle"),
        psycopg.OperationalError("connection lost"),
    ):
        assert kind_of(exc) is ErrorKind.TRANSIENT, exc
