"""The data exchange page's data on the local stack's test database (``ibdc.exchange.page.gather``, as
the market's service role): after a walk to a FINALIZED agreement with one read (tests/exchange_walk.py),
every count equals the table's, counted here as the warehouse's administrator; the agreement is shown
with its state, consumer, validity and reads of the limit; the read is among the reads; the latest
ledger entries are the ledger's last; the verification is ``ledger.verify``'s; the page renders the
buyer's markup name as text. The snapshot is read-only."""

from __future__ import annotations

from html import escape as html_text

import psycopg
import pytest

from ibdc.exchange import ledger, page
from tests.exchange_walk import HOSTILE, MAX_READS, finalized_agreement

pytestmark = pytest.mark.integration

COUNTS = {
    "participants": "SELECT count(*) FROM exchange.participants",
    "products": "SELECT count(*) FROM exchange.products",
    "offers": "SELECT count(*) FROM exchange.offers",
    "approvals_pending": "SELECT count(*) FROM exchange.approvals WHERE decision = 'pending'",
    "negotiations": "SELECT count(*) FROM exchange.negotiations",
    "agreements": "SELECT count(*) FROM exchange.agreements",
    "ledger": "SELECT count(*) FROM exchange.ledger",
    "reads": "SELECT count(*) FROM exchange.ledger WHERE kind = 'read'",
    "reads_refused": "SELECT count(*) FROM exchange.ledger WHERE kind = 'read_refused'",
}


@pytest.fixture(scope="module")
def walk(services):
    return finalized_agreement(services.exchange)


def test_the_page_shows_the_market_as_its_tables_say(services, walk):
    with psycopg.connect(services.exchange) as conn:
        snap = page.gather(conn)
        assert conn.read_only  # the page's session may not write
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        counts = {name: admin.execute(query).fetchone()[0] for name, query in COUNTS.items()}
        last = admin.execute("SELECT max(seq) FROM exchange.ledger").fetchone()[0]
        verified = ledger.verify(admin)
    assert snap.counts == counts
    assert snap.verification == verified and verified.ok
    assert [e.seq for e in snap.ledger] == list(range(last, max(last - page.LEDGER_LATEST, 0), -1))

    (row,) = [r for r in snap.agreements if r.agreement.agreement_id == walk.agreement.agreement_id]
    assert row.status == "active" and row.negotiation_state.value == "FINALIZED"
    assert (row.agreement.reads, row.max_reads) == (1, MAX_READS)
    assert row.agreement.consumer_id == walk.consumer.participant_id
    assert snap.names[walk.consumer.participant_id] == walk.consumer.name
    (product,) = [p for p in snap.products if p.product.product_id == walk.product.product_id]
    assert {level for _, level, _ in product.levels} == {1} and len(product.levels) == len(walk.product.columns)
    assert walk.offer.offer_id in {o.offer_id for o in snap.offers}
    reads = [e for e in snap.reads if e.subject == str(walk.agreement.agreement_id)]
    assert [e.kind for e in reads] == ["read"]

    html = page.render(snap)
    assert "<script" not in html.lower() and html_text(walk.consumer.name) in html and HOSTILE in walk.consumer.name
    assert str(walk.agreement.agreement_id) in html and f"1 of {MAX_READS}" in html
    assert f"Ledger verified: {verified.reason}" in html


def test_the_snapshot_cannot_write(services):
    with psycopg.connect(services.exchange) as conn:
        page.gather(conn)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
            conn.execute("UPDATE exchange.participants SET name = name WHERE false")
