"""The exchange market's schema in a warehouse database: its tables (``market.sql``), the ledger
(``ibdc.exchange.ledger``) and the service role's privileges. Run by ``ibdc.governance.provision``
as the database's administrator, who owns every table; idempotent."""

from __future__ import annotations

from importlib import resources

import psycopg
from psycopg import sql

from ibdc.exchange import ledger
from ibdc.settings import EXCHANGE, EXCHANGE_READER

# The market's own tables: the service role reads and writes their rows, never deletes one (a
# product or offer is withdrawn, an agreement terminated).
TABLES = ("participants", "products", "approvals", "offers", "negotiations", "agreements", "sharing_tokens")
# The columns the service role may change (a row's state, its end, its decision); the rest of a row,
# a participant's roles and key, a product's contract, an offer's terms, never.
UPDATABLE = {
    "participants": (),
    "products": ("withdrawn_at",),
    "approvals": ("decision", "decided_by", "decided_at", "reason"),
    "offers": ("withdrawn_at",),
    "negotiations": ("state", "updated_at"),
    "agreements": ("terminated_at", "terminated_by", "termination_reason", "reads"),
    "sharing_tokens": ("revoked_at",),
}
# What reads a product's rows for its publication (publication.sql): a NOLOGIN national analyst, through
# SECURITY DEFINER functions it owns, two of which the service role may execute.
PUBLISHER = "ibdc_exchange_publisher"
PUBLISHER_MEMBER_OF = "ibdc_analyst_national"
PUBLICATION_FUNCTIONS = (
    "exchange.publication_relation(text, text)",
    "exchange.publication_columns(text, text)",
    "exchange.publication_rows(text, text)",
)


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
            sql.SQL("REVOKE ALL ON {t} FROM PUBLIC, {r}; GRANT SELECT, INSERT ON {t} TO {r}").format(t=name, r=role)
        )
        if UPDATABLE[table]:
            columns = sql.SQL(", ").join(map(sql.Identifier, UPDATABLE[table]))
            conn.execute(sql.SQL("GRANT UPDATE ({}) ON {} TO {}").format(columns, name, role))
    ledger.provision_ledger(conn, writer=EXCHANGE)
    provision_publications(conn)
    _grant_reader(conn)


def _grant_reader(conn: psycopg.Connection) -> None:
    """The operator's page's role (:data:`ibdc.settings.EXCHANGE_READER`): reads the market's tables, the
    ledger and the publications; no token, no write, no function."""
    reader = sql.Identifier(EXCHANGE_READER)
    tables = [t for t in TABLES if t != "sharing_tokens"] + ["ledger", "publications"]
    names = sql.SQL(", ").join(sql.Identifier("exchange", t) for t in tables)
    conn.execute(
        sql.SQL(
            "REVOKE ALL ON ALL TABLES IN SCHEMA exchange FROM {r}; GRANT USAGE ON SCHEMA exchange TO {r};"
            " GRANT SELECT ON {t} TO {r}"
        ).format(r=reader, t=names)
    )


def provision_publications(conn: psycopg.Connection) -> None:
    """``exchange.publications`` (the service role may read and add rows, never change one) and the
    publisher: :data:`PUBLISHER`, a member of the national analyst and of nothing else, no role its
    member, owning the functions that read a product's rows (the service role executes them)."""
    from ibdc import governance  # governance runs this provisioning: imported when it does

    conn.execute(resources.files("ibdc.exchange").joinpath("publication.sql").read_text(encoding="utf-8"))
    role, publisher = sql.Identifier(EXCHANGE), sql.Identifier(PUBLISHER)
    conn.execute(
        sql.SQL(
            "REVOKE ALL ON exchange.publications FROM PUBLIC, {r}, {p};"
            " GRANT SELECT, INSERT ON exchange.publications TO {r}"
        ).format(r=role, p=publisher)
    )
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(PUBLISHER_MEMBER_OF), publisher))
    conn.execute(
        # The products it reads, and what its functions check them against: the ledger's listings and
        # decisions, the providers' provinces, the operator's approvals (publication.sql).
        sql.SQL(
            "GRANT USAGE ON SCHEMA exchange TO {p};"
            " GRANT SELECT ON exchange.products, exchange.participants, exchange.approvals, exchange.ledger TO {p}"
        ).format(p=publisher)
    )
    for function in PUBLICATION_FUNCTIONS:
        name = sql.SQL(function)
        conn.execute(sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(name, publisher))
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC, {}").format(name, role))
    for function in PUBLICATION_FUNCTIONS[1:]:
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), role))
    wider = conn.execute(
        "SELECT m.rolname, g.rolname FROM pg_roles g JOIN pg_roles m ON m.oid <> g.oid"
        " WHERE (g.rolname = %(p)s AND m.rolname <> %(n)s AND pg_has_role(g.oid, m.oid, 'MEMBER'))"
        "    OR (m.rolname = %(p)s AND NOT g.rolsuper AND pg_has_role(g.oid, m.oid, 'MEMBER'))"
        " ORDER BY 1, 2",
        {"p": PUBLISHER, "n": PUBLISHER_MEMBER_OF},
    ).fetchall()
    if wider:
        held, holder = wider[0]
        raise governance.UnsafeRole(
            f"role {holder} is a member of {held}: {PUBLISHER} may hold {PUBLISHER_MEMBER_OF} alone and nobody"
            f" may hold {PUBLISHER} (REVOKE {held} FROM {holder})"
        )
