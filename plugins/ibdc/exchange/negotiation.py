"""Contract negotiation states and transitions of the Dataspace Protocol (Eclipse Dataspace Protocol
2025-1, "Contract Negotiation Protocol", state machine figure): who may move a negotiation from which
state to which.

    (none)     --request (consumer)-->  REQUESTED        --offer (provider)-->  OFFERED
    REQUESTED  --agree (provider)-->    AGREED           OFFERED --request (consumer)--> REQUESTED
    OFFERED    --accept (consumer)-->   ACCEPTED         ACCEPTED --agree (provider)--> AGREED
    AGREED     --verify (consumer)-->   VERIFIED         VERIFIED --finalize (provider)--> FINALIZED
    any state but FINALIZED and TERMINATED --terminate (either)--> TERMINATED

The protocol also lets a provider start with an offer ((none) -> OFFERED); here a provider's offers are
listed for consumers to request (the catalogue), so every negotiation starts with a consumer's request.
A negotiation has one id (the protocol's providerPid and consumerPid are the same here: both sides are
served by this market). FINALIZED and TERMINATED are final: a finalized negotiation's agreement ends by
the agreement's own termination (``Market.terminate_agreement``), not by a negotiation event.
"""

from __future__ import annotations

import enum

from ibdc.exchange.errors import IllegalTransition


class State(enum.StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class Event(enum.StrEnum):
    """The protocol's messages and events, by the name of what they do."""

    REQUEST = "request"  # ContractRequestMessage (consumer)
    OFFER = "offer"  # ContractOfferMessage (provider)
    ACCEPT = "accept"  # ContractNegotiationEventMessage ACCEPTED (consumer)
    AGREE = "agree"  # ContractAgreementMessage (provider)
    VERIFY = "verify"  # ContractAgreementVerificationMessage (consumer)
    FINALIZE = "finalize"  # ContractNegotiationEventMessage FINALIZED (provider)
    TERMINATE = "terminate"  # ContractNegotiationTerminationMessage (either)


class Party(enum.StrEnum):
    CONSUMER = "consumer"
    PROVIDER = "provider"


FINAL = frozenset({State.FINALIZED, State.TERMINATED})
# (state or None for a new negotiation, event) -> (party allowed, next state)
TRANSITIONS: dict[tuple[State | None, Event], tuple[Party, State]] = {
    (None, Event.REQUEST): (Party.CONSUMER, State.REQUESTED),
    (State.REQUESTED, Event.OFFER): (Party.PROVIDER, State.OFFERED),
    (State.REQUESTED, Event.AGREE): (Party.PROVIDER, State.AGREED),
    (State.OFFERED, Event.REQUEST): (Party.CONSUMER, State.REQUESTED),
    (State.OFFERED, Event.ACCEPT): (Party.CONSUMER, State.ACCEPTED),
    (State.ACCEPTED, Event.AGREE): (Party.PROVIDER, State.AGREED),
    (State.AGREED, Event.VERIFY): (Party.CONSUMER, State.VERIFIED),
    (State.VERIFIED, Event.FINALIZE): (Party.PROVIDER, State.FINALIZED),
}


def next_state(state: State | None, event: Event, party: Party) -> State:
    """The state ``event`` by ``party`` moves a negotiation in ``state`` to. Raises
    :class:`IllegalTransition` for an event the state does not allow, or one the other party sends."""
    if event is Event.TERMINATE:
        if state is None or state in FINAL:
            raise IllegalTransition(f"a negotiation in state {state} cannot be terminated", "illegal_transition")
        return State.TERMINATED
    allowed = TRANSITIONS.get((state, event))
    if allowed is None:
        yours = sorted(e.value for (s, e), (who, _) in TRANSITIONS.items() if s == state and who is party)
        if state is not None and state not in FINAL:
            yours.append(Event.TERMINATE.value)
        raise IllegalTransition(
            f"{event.value!r} is not allowed in state {state}; the {party.value} may: {', '.join(yours) or 'nothing'}",
            "illegal_transition",
        )
    who, then = allowed
    if party is not who:
        raise IllegalTransition(f"only the {who.value} may {event.value} (state {state})", "wrong_party")
    return then
