"""The exchange market's schema in a warehouse database: its tables (``market.sql``), the ledger
(``ibdc.exchange.ledger``) and the service role's privileges. Run by ``ibdc.governance.provision``
as the database's administrator, who owns every table; idempotent."""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from ibdc.exchange import ledger
from ibdc.settings import EXCHANGE

# The market's own tables: the service role reads and writes their rows, never deletes one (a
# product or offer is withdrawn, an agreement terminated).
TABLES = ("participants", "products", "approvals", "offers", "negotiations", "agreements", "sharing_tokens")


def provision(conn: psycopg.Connection) -> None:
    """Create the schema's tables and the ledger, and grant the service role (:data:`ibdc.settings.EXCHANGE`)
    what it needs and no more."""
    for script in ("market.sql", "sharing.sql"):  # sharing.sql: Delta Sharing tokens (ibdc.exchange.sharing)
        conn.execute(resources.files("ibdc.exchange").joinpath(script).read_text(encoding="utf-8"))
    role = sql.Identifier(EXCHANGE)
    conn.execute(
        sql.SQL("REVOKE ALL ON SCHEMA exchange FROM PUBLIC; GRANT USAGE ON SCHEMA exchange TO {}").format(role)
    )
    for table in TABLES:
        name = sql.Identifier("exchange", table)
        conn.execute(
            sql.SQL("REVOKE ALL ON {t} FROM PUBLIC, {r}; GRANT SELECT, INSERT, UPDATE ON {t} TO {r}").format(
                t=name, r=role
            )
        )
    ledger.provision_ledger(conn, writer=EXCHANGE)
