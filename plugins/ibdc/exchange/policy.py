"""Usage policies in ODRL 2.2 (W3C Recommendation, "ODRL Information Model 2.2" and "ODRL Vocabulary &
Expression 2.2"), as JSON-LD with the standard context: an offer (``odrl:Offer``) a provider makes for a
product version, and the agreement (``odrl:Agreement``) a negotiation concludes.

What the market's terms are in ODRL (only the standard's core vocabulary; no profile of our own):

- the use itself: permission ``use`` of the target (the product version, ``urn:ibdc:product:<id>:<version>``);
- the purposes: constraint ``purpose`` ``isAnyOf`` (offer) or ``eq`` (agreement) purposes of the W3C Data
  Privacy Vocabulary (DPV, ``https://w3id.org/dpv#``), the vocabulary ODRL's ``purpose`` points to, as
  IRIs (``{"@id": ...}``: JSON-LD reads a bare string as a literal);
- the period of use: ``elapsedTime`` ``lteq`` an ``xsd:duration`` (offer) and ``dateTime`` ``lteq`` the
  agreement's end (agreement);
- the number of reads: ``count`` ``lteq`` n;
- the recipient: an offer made to one participant names it as the policy's ``assignee`` (an Offer may);
  an agreement's assignee is its consumer;
- the duty to delete after use: duty ``delete`` of the target, due by the end of the period;
- a paid price: duty ``compensate`` with ``payAmount`` ``eq`` the figure in CNY (``unit``: ISO 4217's
  currency as a DBpedia resource, as the ODRL vocabulary's own example does). Free and trial offers
  carry no compensation duty; a trial is a free offer whose reads or period are limited (its price
  model is kept beside the policy).

Participants are named by their unified social credit code: ``urn:uscc:<code>``.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from decimal import Decimal

import rfc8785

from ibdc.exchange.errors import ExchangeError

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
DPV = "https://w3id.org/dpv#"
CNY = "http://dbpedia.org/resource/Renminbi"


class Purpose(enum.StrEnum):
    """The purposes a request may state and an offer may allow: DPV purpose concepts (``dpv:<name>``)."""

    ACADEMIC_RESEARCH = "AcademicResearch"
    COMMERCIAL_RESEARCH = "CommercialResearch"
    NON_COMMERCIAL_RESEARCH = "NonCommercialResearch"
    RESEARCH_AND_DEVELOPMENT = "ResearchAndDevelopment"
    SERVICE_PROVISION = "ServiceProvision"
    SERVICE_OPTIMISATION = "ServiceOptimisation"
    LEGAL_COMPLIANCE = "LegalCompliance"
    MARKETING = "Marketing"

    @property
    def iri(self) -> str:
        return DPV + self.value


class PriceModel(enum.StrEnum):
    FREE = "free"
    TRIAL = "trial"
    PAID = "paid"


def purpose(text: str) -> Purpose:
    """``text`` (a DPV purpose's name, or its IRI) as a :class:`Purpose`; raises :class:`ExchangeError`
    (rule ``purpose_unknown``) naming the purposes there are."""
    name = text.removeprefix(DPV).removeprefix("dpv:").strip()
    try:
        return Purpose(name)
    except ValueError:
        raise ExchangeError(
            f"unknown purpose {text!r}: one of {', '.join(p.value for p in Purpose)} (DPV, {DPV})", "purpose_unknown"
        ) from None


def party(participant_id: str) -> str:
    return f"urn:uscc:{participant_id}"


def target(product_id: str, version: str) -> str:
    return f"urn:ibdc:product:{product_id}:{version}"


def _constraint(left: str, operator: str, right: object) -> dict:
    return {"leftOperand": left, "operator": operator, "rightOperand": right}


def _typed(value: str, xsd: str) -> dict:
    return {"@value": value, "@type": f"xsd:{xsd}"}


def offer(
    *,
    offer_id: str,
    provider_id: str,
    product_id: str,
    version: str,
    purposes: list[Purpose],
    use_days: int,
    max_reads: int | None,
    recipient_id: str | None,
    delete_after_use: bool,
    price_model: PriceModel,
    price_cny: Decimal | None,
) -> dict:
    """The ODRL Offer of these terms (a JSON-LD document, JSON-serialisable)."""
    period = _typed(f"P{use_days}D", "duration")
    constraints = [
        _constraint("purpose", "isAnyOf", [{"@id": p.iri} for p in purposes]),
        _constraint("elapsedTime", "lteq", period),
    ]
    if max_reads is not None:
        constraints.append(_constraint("count", "lteq", max_reads))
    permission = {"target": target(product_id, version), "action": "use", "constraint": constraints}
    duties = _duties(product_id, version, delete_after_use, period, "elapsedTime", price_model, price_cny)
    if duties:
        permission["duty"] = duties
    document = {
        "@context": ODRL_CONTEXT,
        "@type": "Offer",
        "uid": f"urn:uuid:{offer_id}",
        "assigner": party(provider_id),
        "target": target(product_id, version),
        "permission": [permission],
    }
    if recipient_id is not None:
        document["assignee"] = party(recipient_id)
    return document


def agreement(
    *,
    agreement_id: str,
    offer_policy: dict,
    consumer_id: str,
    chosen_purpose: Purpose,
    valid_until: datetime,
    max_reads: int | None,
    delete_after_use: bool,
    price_model: PriceModel,
    price_cny: Decimal | None,
) -> dict:
    """The ODRL Agreement concluding ``offer_policy`` for ``consumer_id``: the offer's terms made
    concrete (the purpose stated, the period's end as a date-time, the assignee)."""
    product = offer_policy["target"]
    _, _, rest = product.partition("urn:ibdc:product:")
    product_id, _, version = rest.rpartition(":")
    end = _typed(valid_until.isoformat(), "dateTime")
    constraints = [_constraint("purpose", "eq", {"@id": chosen_purpose.iri}), _constraint("dateTime", "lteq", end)]
    if max_reads is not None:
        constraints.append(_constraint("count", "lteq", max_reads))
    permission = {"target": product, "action": "use", "constraint": constraints}
    duties = _duties(product_id, version, delete_after_use, end, "dateTime", price_model, price_cny)
    if duties:
        permission["duty"] = duties
    return {
        "@context": ODRL_CONTEXT,
        "@type": "Agreement",
        "uid": f"urn:uuid:{agreement_id}",
        "assigner": offer_policy["assigner"],
        "assignee": party(consumer_id),
        "target": product,
        "permission": [permission],
    }


def _duties(product_id, version, delete_after_use, until, until_operand, price_model, price_cny) -> list[dict]:
    duties = []
    if delete_after_use:
        duties.append(
            {
                "action": "delete",
                "target": target(product_id, version),
                "constraint": [_constraint(until_operand, "lteq", until)],
            }
        )
    if price_model is PriceModel.PAID:
        amount = _typed(f"{price_cny:.2f}", "decimal")
        duties.append({"action": "compensate", "constraint": [{**_constraint("payAmount", "eq", amount), "unit": CNY}]})
    return duties


def canonical(document: dict) -> bytes:
    """``document``'s RFC 8785 canonical JSON (the bytes its digest is taken over)."""
    return rfc8785.dumps(document)


def digest(document: dict) -> str:
    """Hex SHA-256 of ``document``'s RFC 8785 canonical JSON."""
    return hashlib.sha256(canonical(document)).hexdigest()
