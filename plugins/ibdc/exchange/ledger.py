"""PLACEHOLDER: the hash-chained ledger (being written)."""

import psycopg


def provision_ledger(conn: psycopg.Connection, writer: str) -> None:
    return None
