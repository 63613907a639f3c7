"""The Dataspace Protocol's contract negotiation state machine (ibdc.exchange.negotiation) and the ODRL
policies of offers and agreements (ibdc.exchange.policy), without services."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import rfc8785

from ibdc.exchange import policy
from ibdc.exchange.errors import ExchangeError, IllegalTransition
from ibdc.exchange.negotiation import Event, Party, State, next_state

# The protocol's figure, written out edge by edge (Eclipse Dataspace Protocol 2025-1, contract negotiation),
# but its provider-initiated start ((none) -> OFFERED): here a provider's offers are listed for consumers
# to request (the catalogue), so every negotiation starts with a consumer's request.
PROTOCOL = {
    (None, Event.REQUEST, Party.CONSUMER): State.REQUESTED,
    (State.REQUESTED, Event.OFFER, Party.PROVIDER): State.OFFERED,
    (State.REQUESTED, Event.AGREE, Party.PROVIDER): State.AGREED,
    (State.OFFERED, Event.REQUEST, Party.CONSUMER): State.REQUESTED,
    (State.OFFERED, Event.ACCEPT, Party.CONSUMER): State.ACCEPTED,
    (State.ACCEPTED, Event.AGREE, Party.PROVIDER): State.AGREED,
    (State.AGREED, Event.VERIFY, Party.CONSUMER): State.VERIFIED,
    (State.VERIFIED, Event.FINALIZE, Party.PROVIDER): State.FINALIZED,
}
for state in (State.REQUESTED, State.OFFERED, State.ACCEPTED, State.AGREED, State.VERIFIED):
    for party in Party:
        PROTOCOL[(state, Event.TERMINATE, party)] = State.TERMINATED


@pytest.mark.parametrize(
    ("state", "event", "party"), list(itertools.product([None, *State], Event, Party)), ids=lambda v: str(v)
)
def test_every_move_is_the_protocols_or_refused(state, event, party):
    expected = PROTOCOL.get((state, event, party))
    if expected is None:
        with pytest.raises(IllegalTransition) as refused:
            next_state(state, event, party)
        assert refused.value.status == 409
        assert refused.value.rule in {"illegal_transition", "wrong_party"}
    else:
        assert next_state(state, event, party) is expected


def test_the_happy_path_ends_finalized_and_final_states_move_no_more():
    state = None
    walk = [(Event.REQUEST, Party.CONSUMER), (Event.OFFER, Party.PROVIDER), (Event.ACCEPT, Party.CONSUMER)]
    walk += [(Event.AGREE, Party.PROVIDER), (Event.VERIFY, Party.CONSUMER), (Event.FINALIZE, Party.PROVIDER)]
    for event, party in walk:
        state = next_state(state, event, party)
    assert state is State.FINALIZED
    for final, event, party in itertools.product([State.FINALIZED, State.TERMINATED], Event, Party):
        with pytest.raises(IllegalTransition):
            next_state(final, event, party)


def test_the_wrong_side_is_named():
    with pytest.raises(IllegalTransition, match="only the provider may agree") as refused:
        next_state(State.REQUESTED, Event.AGREE, Party.CONSUMER)
    assert refused.value.rule == "wrong_party"


OFFER = dict(
    offer_id="0b7d4a52-6a8e-4c5e-9f43-3f6f0d1f8a11",
    provider_id="12440000MB2C77390X",
    product_id="gd-output",
    version="1.2.0",
    purposes=[policy.Purpose.ACADEMIC_RESEARCH],
    use_days=30,
    max_reads=7,
    recipient_id="91320000MA1MYT8E5R",
    delete_after_use=True,
    price_model=policy.PriceModel.PAID,
    price_cny=Decimal("1200.5"),
)


def test_an_offer_carries_each_term_as_an_odrl_constraint_or_duty():
    document = policy.offer(**OFFER)
    assert document["@type"] == "Offer" and document["target"] == "urn:ibdc:product:gd-output:1.2.0"
    (permission,) = document["permission"]
    assert permission["action"] == "use"
    constraints = {c["leftOperand"]: (c["operator"], c["rightOperand"]) for c in permission["constraint"]}
    assert constraints == {
        "purpose": ("isAnyOf", [{"@id": "https://w3id.org/dpv#AcademicResearch"}]),
        "elapsedTime": ("lteq", {"@value": "P30D", "@type": "xsd:duration"}),
        "count": ("lteq", 7),
    }
    assert document["assignee"] == "urn:uscc:91320000MA1MYT8E5R"  # an offer to one recipient
    delete, pay = permission["duty"]
    assert delete["action"] == "delete" and delete["constraint"][0]["leftOperand"] == "elapsedTime"
    assert pay["action"] == "compensate" and pay["constraint"][0]["unit"] == policy.CNY
    assert pay["constraint"][0]["rightOperand"] == {"@value": "1200.50", "@type": "xsd:decimal"}


def test_a_free_offer_without_limits_has_only_its_purposes_and_period():
    free = {**OFFER, "max_reads": None, "recipient_id": None, "delete_after_use": False}
    document = policy.offer(**{**free, "price_model": policy.PriceModel.FREE, "price_cny": None})
    (permission,) = document["permission"]
    assert [c["leftOperand"] for c in permission["constraint"]] == ["purpose", "elapsedTime"]
    assert "duty" not in permission and "assignee" not in document


def test_an_agreement_makes_the_offer_concrete_and_its_digest_is_of_the_canonical_json():
    offered = policy.offer(**OFFER)
    until = datetime(2027, 1, 1, tzinfo=UTC)
    document = policy.agreement(
        agreement_id="5e0c8e1c-83a1-4b7b-9d55-8bfa1f0e4b21",
        offer_policy=offered,
        consumer_id="91320000MA1MYT8E5R",
        chosen_purpose=policy.Purpose.ACADEMIC_RESEARCH,
        valid_until=until,
        max_reads=7,
        delete_after_use=True,
        price_model=policy.PriceModel.PAID,
        price_cny=Decimal("1200.5"),
    )
    assert document["@type"] == "Agreement" and document["assignee"] == "urn:uscc:91320000MA1MYT8E5R"
    assert document["assigner"] == offered["assigner"] and document["target"] == offered["target"]
    constraints = {c["leftOperand"]: c["rightOperand"] for c in document["permission"][0]["constraint"]}
    assert constraints["purpose"] == {"@id": "https://w3id.org/dpv#AcademicResearch"}
    assert constraints["dateTime"] == {"@value": "2027-01-01T00:00:00+00:00", "@type": "xsd:dateTime"}
    assert document["permission"][0]["duty"][0]["target"] == "urn:ibdc:product:gd-output:1.2.0"
    assert policy.digest(document) == hashlib.sha256(rfc8785.dumps(document)).hexdigest()
    reordered = dict(reversed(list(document.items())))
    assert policy.digest(reordered) == policy.digest(document)  # key order does not change the digest
    assert policy.digest({**document, "assignee": "urn:uscc:X"}) != policy.digest(document)


@pytest.mark.parametrize("text", ["AcademicResearch", "dpv:AcademicResearch", "https://w3id.org/dpv#AcademicResearch"])
def test_a_purpose_is_read_by_its_dpv_name_or_iri(text):
    assert policy.purpose(text) is policy.Purpose.ACADEMIC_RESEARCH


def test_an_unknown_purpose_is_refused_naming_the_known_ones():
    with pytest.raises(ExchangeError, match="AcademicResearch") as refused:
        policy.purpose("Spying")
    assert refused.value.rule == "purpose_unknown"
