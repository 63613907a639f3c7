"""A small market made through ``ibdc.exchange.market.Market`` for the tests of the data exchange page:
a provincial centre lists a level-1 product of the monthly output mart, offers it, a buyer (whose name
is markup: the page must show it as text) requests it with a purpose, and the negotiation walks to
FINALIZED. Each call registers participants and a product of its own (random credit codes and ids), so
runs do not meet in the shared test database."""

from __future__ import annotations

import dataclasses
import secrets
import uuid

import psycopg

from ibdc import uscc
from ibdc.exchange import ledger
from ibdc.exchange.market import Market
from ibdc.exchange.models import Agreement, Negotiation, Offer, OfferTerms, Participant, Product, Role
from ibdc.exchange.negotiation import Event, State
from ibdc.exchange.policy import Purpose

MART = "mart_industrial_output_monthly"
LEVEL1 = ["province_code", "period_month", "product_code", "product_name_en", "unit_code", "months_covered"]
HOSTILE = "<script>alert('exchange')</script> & Sons"  # a buyer's name, as a participant may choose it
MAX_READS = 5


def credit_code(kind: str = "9") -> str:
    """A random valid unified social credit code (GB 32100-2015)."""
    first17 = kind + "".join(secrets.choice(uscc.CHARSET) for _ in range(16))
    return first17 + uscc.check_digit(first17)


@dataclasses.dataclass(frozen=True)
class Walk:
    provider: Participant
    consumer: Participant
    product: Product
    offer: Offer
    negotiation: Negotiation
    agreement: Agreement


def finalized_agreement(dsn: str) -> Walk:
    """The walk on the market at ``dsn`` (the service role's): an agreement FINALIZED, and one read
    recorded under it as the delivery records one (its ledger entry and the agreement's count, together)."""
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(dsn, autocommit=True) as conn:
        market = Market(conn)
        provider, _ = market.register(credit_code(), f"test page Guangdong centre {tag}", "440000", [Role.PROVIDER])
        consumer, _ = market.register(credit_code(), f"{HOSTILE} {tag}", "320000", [Role.CONSUMER])
        product = market.list_product(
            provider,
            product_id=f"test-page-{tag}",
            version="1.0.0",
            mart=MART,
            columns=LEVEL1,
            province_code="440000",
        )
        terms = OfferTerms(purposes=[Purpose.ACADEMIC_RESEARCH], use_days=30, max_reads=MAX_READS)
        offer = market.make_offer(provider, product.product_id, product.version, terms)
        negotiation = market.request(consumer, offer.offer_id, Purpose.ACADEMIC_RESEARCH.value)
        for who, event in ((provider, Event.AGREE), (consumer, Event.VERIFY), (provider, Event.FINALIZE)):
            negotiation = market.advance(who, negotiation.negotiation_id, event)
        assert negotiation.state is State.FINALIZED
        (agreement,) = [a for a in market.agreements(consumer) if a.negotiation_id == negotiation.negotiation_id]
        with conn.transaction():
            conn.execute(
                "UPDATE exchange.agreements SET reads = reads + 1 WHERE agreement_id = %s", (agreement.agreement_id,)
            )
            ledger.append(
                conn,
                ledger.EntryKind.READ,
                consumer.participant_id,
                str(agreement.agreement_id),
                {"table": product.product_id, "files": 1, "test": "exchange page"},
            )
        agreement = market.agreement(consumer, agreement.agreement_id)
    return Walk(provider, consumer, product, offer, negotiation, agreement)
