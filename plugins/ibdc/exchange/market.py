"""The market's rules and operations: who may list, offer, request, agree, approve and terminate what.

:class:`Market` works on one connection to the warehouse as the service role ``ibdc_exchange``
(``ibdc.settings.Settings.exchange``), in autocommit mode: each operation is one transaction in which
its change and its ledger entry commit together. A refusal (:class:`ibdc.exchange.errors.Refused`) is
recorded in the ledger in a transaction of its own, then raised: nothing else of the refused
operation is kept (but the approval it asks for, when the refusal is a level-2 column's). So is an
invalid request (an unknown column or purpose); an unknown subject (404) is not.

The gate (what may be listed; issue 21):

- only a participant with the provider role lists, and only a mart's columns (``ibdc.exchange.contracts``);
- a provincial centre (a provider with a province) lists only its own province's rows; the national
  centre any province's or every province's;
- level-1 columns by default; a level-2 column only with the operator's recorded approval (asking
  records a pending approval); level 3 and personal data never; a column no level is declared for never;
- aggregates follow the governance layer's disclosure control: a figure over other units is served from
  the mart's ``_disclosed`` view (cells under the threshold or dominance rule suppressed), and ranks are
  never listed (order statistics pin values even in safe cells).

A request states a DPV purpose among the offer's; a restricted offer goes to its recipient only; a
provider does not buy its own product; an offer that requires approval is agreed only after the
operator's approval of the negotiation.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ibdc import uscc
from ibdc.asset_uris import mart_asset_uri
from ibdc.exchange import contracts, ledger, policy
from ibdc.exchange.errors import ExchangeError, NotFound, Refused, Unauthenticated
from ibdc.exchange.models import (
    Agreement,
    Approval,
    Negotiation,
    Offer,
    OfferTerms,
    Participant,
    Product,
    Role,
)
from ibdc.exchange.negotiation import Event, Party, State, next_state
from ibdc.reference import provinces

PROVINCE_COLUMN = "province_code"
# A product's id and version (as exchange.products' CHECKs): checked before anything is recorded of a listing.
PRODUCT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{2,99}")
VERSION = re.compile(r"[0-9]{1,6}\.[0-9]{1,6}\.[0-9]{1,6}")


def _product_subject(product_id: str, version: str) -> str:
    """``<id>@<version>``, what the ledger's entries about a product version name; raises
    :class:`ExchangeError` (nothing recorded) for an id or version the market does not take."""
    if not (PRODUCT_ID.fullmatch(product_id) and VERSION.fullmatch(version)):
        raise ExchangeError(
            "a product id is 3-100 of a-z, 0-9, '_', '-' (a Delta Sharing table name: no dot) and a version"
            f" major.minor.patch; got {product_id[:120]!r} {version[:40]!r}",
            "invalid",
        )
    return f"{product_id}@{version}"


def key_digest(api_key: str) -> bytes:
    """What the market keeps of an API key: its SHA-256 (a 256-bit random key needs no slow hash)."""
    return hashlib.sha256(api_key.encode()).digest()


class Market:
    """The market's operations on ``conn`` (autocommit; rows as dicts). ``manifest``: the dbt manifest
    products are generated from (default: the project's, ``contracts.load_manifest``)."""

    def __init__(self, conn: psycopg.Connection, manifest: dict | None = None) -> None:
        if not conn.autocommit:
            raise ValueError("the market needs an autocommit connection: each operation is its own transaction")
        self.conn = conn
        self._manifest = manifest

    @property
    def manifest(self) -> dict:
        return self._manifest if self._manifest is not None else contracts.load_manifest()

    # --- participants -----------------------------------------------------------------------------

    def register(
        self, participant_id: str, name: str, province_code: str | None, roles: list[Role], by: str = "operator"
    ) -> tuple[Participant, str]:
        """Register an organisation; returns it and its API key (shown once: only its digest is kept).
        Raises :class:`ExchangeError` for an invalid credit code or province, or one registered already."""
        if not uscc.is_valid(participant_id):
            raise ExchangeError(f"{participant_id!r} is not a unified social credit code (GB 32100-2015)", "uscc")
        if province_code is not None and province_code not in provinces():
            raise ExchangeError(f"{province_code!r} is not a GB/T 2260 province code", "province")
        if not roles:
            raise ExchangeError("a participant has at least one role", "roles")
        api_key = secrets.token_urlsafe(32)
        with self._write():
            try:
                row = self._execute(
                    "INSERT INTO exchange.participants (participant_id, name, province_code, roles, api_key_sha256)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                    (participant_id, name, province_code, [Role(r).value for r in roles], key_digest(api_key)),
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                raise ExchangeError(f"participant {participant_id} is registered already", "duplicate") from None
            participant = Participant.from_row(row)
            self._record(
                "participant_registered",
                by,
                participant_id,
                {"name": name, "province_code": province_code, "roles": participant.roles},
            )
        return participant, api_key

    def authenticate(self, api_key: str | None) -> Participant:
        """The participant holding ``api_key``; raises :class:`Unauthenticated`."""
        if not api_key:
            raise Unauthenticated("no API key: send it as 'Authorization: Bearer <key>'", "no_credentials")
        row = self._execute(
            "SELECT * FROM exchange.participants WHERE api_key_sha256 = %s", (key_digest(api_key),)
        ).fetchone()
        if row is None:
            raise Unauthenticated("no participant holds this API key", "bad_credentials")
        return Participant.from_row(row)

    def participant(self, participant_id: str) -> Participant:
        row = self._execute("SELECT * FROM exchange.participants WHERE participant_id = %s", (participant_id,))
        found = row.fetchone()
        if found is None:
            raise NotFound(f"no participant {participant_id}", "participant")
        return Participant.from_row(found)

    def participants(self) -> list[Participant]:
        rows = self._execute("SELECT * FROM exchange.participants ORDER BY participant_id").fetchall()
        return [Participant.from_row(r) for r in rows]

    # --- products (the gate) ------------------------------------------------------------------------

    def list_product(
        self,
        provider: Participant,
        *,
        product_id: str,
        version: str,
        mart: str,
        columns: list[str],
        province_code: str | None,
    ) -> Product:
        """List a product version of ``mart``'s ``columns`` (rows of ``province_code``, or every province's
        for None) with its ODCS contract, through the gate (module docstring). Raises :class:`Refused`
        (recorded, rule named), :class:`NotFound` for an unknown mart, :class:`ExchangeError` for an
        unknown column or a version listed already."""
        subject = _product_subject(product_id, version)
        asked = {"mart": mart[:200], "columns": [c[:200] for c in columns[:500]], "province_code": province_code}
        with self._refusals_recorded("product_refused", provider.participant_id, subject, asked):
            self._require(provider, Role.PROVIDER)
            classes = contracts.mart_columns(self.manifest, mart)
            unknown = [c for c in columns if c not in classes]
            if unknown or not columns or len(set(columns)) != len(columns):
                raise ExchangeError(f"columns {unknown or columns} are not {mart}'s columns, once each", "columns")
            self._check_row_scope(provider, mart, classes, province_code)
            approved = self._check_columns(provider, mart, [classes[c] for c in columns])
            document = contracts.contract(
                self.manifest,
                mart,
                product_id=product_id,
                version=version,
                provider_id=provider.participant_id,
                provider_name=provider.name,
                columns=columns,
                province_code=province_code,
                approved_level2=frozenset(approved),
            )
            contracts.validate(document)
            relation = contracts.served_relation(self.manifest, mart, columns)
            with self._write():
                try:
                    row = self._execute(
                        "INSERT INTO exchange.products (product_id, version, provider_id, mart, relation, columns,"
                        " province_code, contract, asset_uri) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                        (
                            product_id,
                            version,
                            provider.participant_id,
                            mart,
                            relation,
                            columns,
                            province_code,
                            Jsonb(document),
                            mart_asset_uri(mart),
                        ),
                    ).fetchone()
                except psycopg.errors.UniqueViolation:
                    raise ExchangeError(f"{subject} is listed already: list a new version", "duplicate") from None
                except psycopg.errors.CheckViolation as error:
                    raise ExchangeError(f"{subject}: {error.diag.message_primary}", "invalid") from None
                self._record(
                    "product_listed",
                    provider.participant_id,
                    subject,
                    {**asked, "relation": relation, "contract_sha256": policy.digest(document), "level2": approved},
                )
        return Product.from_row(row)

    def _check_row_scope(self, provider: Participant, mart: str, classes: dict, province_code: str | None) -> None:
        if province_code is not None and province_code not in provinces():
            raise ExchangeError(f"{province_code!r} is not a GB/T 2260 province code", "province")
        if provider.province_code is not None and province_code != provider.province_code:
            raise Refused(
                f"a provincial centre lists only its own province's rows: {provider.participant_id} is"
                f" {provider.province_code}'s, the product asked for "
                + (f"{province_code}'s" if province_code else "every province's"),
                "other_province",
            )
        if province_code is not None and PROVINCE_COLUMN not in classes:
            raise Refused(f"{mart} has no {PROVINCE_COLUMN}: its rows cannot be limited to a province", "row_scope")

    def _check_columns(self, provider: Participant, mart: str, chosen: list) -> list[str]:
        """Refuse what the gate refuses; the level-2 columns approved (a pending approval asked for the others)."""
        for column in chosen:
            if column.personal:
                raise Refused(f"{mart}.{column.name} is personal data: never listed", "personal_data")
            if column.level is None:
                raise Refused(f"{mart}.{column.name} declares no security level: never listed", "unclassified")
            if column.level >= 3:
                raise Refused(f"{mart}.{column.name} is security level 3: never listed", "level3")
            if column.never_disclosed:
                raise Refused(
                    f"{mart}.{column.name} is a {column.aggregate} over other units: disclosure control never"
                    " shows it to the exchange",
                    "disclosure",
                )
        level2 = [c.name for c in chosen if c.level == 2]
        approved = {
            r["column_name"]
            for r in self._execute(
                "SELECT column_name FROM exchange.approvals WHERE kind = 'level2_column' AND provider_id = %s"
                " AND mart = %s AND column_name = ANY(%s) AND decision = 'approved'",
                (provider.participant_id, mart, level2),
            )
        }
        missing = [name for name in level2 if name not in approved]
        if missing:
            asked = self._ask_column_approvals(provider, mart, missing)
            raise Refused(
                f"level-2 columns {', '.join(missing)} of {mart} need the operator's approval; approvals "
                + ", ".join(f"{a.approval_id} ({a.column_name}: {a.decision})" for a in asked),
                "level2_not_approved",
            )
        return sorted(approved)

    def _ask_column_approvals(self, provider: Participant, mart: str, names: list[str]) -> list[Approval]:
        """A pending approval for each column without one (kept although the listing is refused)."""
        asked = []
        with self._write():
            for name in names:
                row = self._execute(
                    "INSERT INTO exchange.approvals (approval_id, kind, provider_id, mart, column_name)"
                    " VALUES (%s, 'level2_column', %s, %s, %s) ON CONFLICT DO NOTHING RETURNING *",
                    (uuid.uuid4(), provider.participant_id, mart, name),
                ).fetchone()
                if row is not None:
                    self._record(
                        "approval_requested",
                        provider.participant_id,
                        str(row["approval_id"]),
                        {"kind": "level2_column", "mart": mart, "column": name},
                    )
                else:
                    row = self._execute(
                        "SELECT * FROM exchange.approvals WHERE kind = 'level2_column' AND provider_id = %s"
                        " AND mart = %s AND column_name = %s",
                        (provider.participant_id, mart, name),
                    ).fetchone()
                asked.append(Approval.from_row(row))
        return asked

    def product(self, product_id: str, version: str | None = None) -> Product:
        """The product's version (default: its latest listed); raises :class:`NotFound`."""
        row = self._execute(
            "SELECT * FROM exchange.products WHERE product_id = %s AND (%s::text IS NULL OR version = %s)"
            " ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1",
            (product_id, version, version),
        ).fetchone()
        if row is None:
            raise NotFound(f"no product {product_id}" + (f" version {version}" if version else ""), "product")
        return Product.from_row(row)

    def products(self) -> list[Product]:
        rows = self._execute("SELECT * FROM exchange.products ORDER BY product_id, listed_at").fetchall()
        return [Product.from_row(r) for r in rows]

    # --- approvals ----------------------------------------------------------------------------------

    def approvals(self, operator: Participant, pending_only: bool = False) -> list[Approval]:
        """The approvals (pending ones only with ``pending_only``): an operator's view (:class:`Refused` to others)."""
        asked = {"operation": "approvals"}
        with self._refusals_recorded("request_refused", operator.participant_id, "approvals", asked):
            self._require(operator, Role.OPERATOR)
        rows = self._execute(
            "SELECT * FROM exchange.approvals WHERE NOT %s OR decision = 'pending' ORDER BY requested_at",
            (pending_only,),
        ).fetchall()
        return [Approval.from_row(r) for r in rows]

    def decide(self, operator: Participant, approval_id: uuid.UUID, approve: bool, reason: str) -> Approval:
        """The operator's decision on a pending approval; raises :class:`Refused` (not an operator, decided
        already), :class:`NotFound`."""
        subject = str(approval_id)
        with self._refusals_recorded(
            "request_refused", operator.participant_id, subject, {"operation": "decide", "approve": approve}
        ):
            self._require(operator, Role.OPERATOR)
            if not reason or not reason.strip():
                raise ExchangeError("a decision states its reason", "reason")
            with self._write():
                row = self._execute(
                    "SELECT * FROM exchange.approvals WHERE approval_id = %s FOR UPDATE", (approval_id,)
                ).fetchone()
                if row is None:
                    raise NotFound(f"no approval {approval_id}", "approval")
                if row["decision"] != "pending":
                    raise Refused(f"approval {approval_id} was decided already ({row['decision']})", "decided")
                if operator.participant_id in self._parties_of(row):
                    raise Refused(
                        f"approval {approval_id} is about {operator.participant_id}'s own request", "own_approval"
                    )
                row = self._execute(
                    "UPDATE exchange.approvals SET decision = %s, decided_by = %s, decided_at = now(), reason = %s"
                    " WHERE approval_id = %s RETURNING *",
                    ("approved" if approve else "refused", operator.participant_id, reason, approval_id),
                ).fetchone()
                approval = Approval.from_row(row)
                self._record(
                    "approval_decided",
                    operator.participant_id,
                    subject,
                    {"kind": approval.kind, "decision": approval.decision, "reason": reason},
                )
        return approval

    # --- offers -------------------------------------------------------------------------------------

    def make_offer(self, provider: Participant, product_id: str, version: str, terms: OfferTerms) -> Offer:
        """An offer of a listed product version the provider owns, its ODRL policy made from ``terms``."""
        subject = _product_subject(product_id, version)
        with self._refusals_recorded("request_refused", provider.participant_id, subject, {"operation": "offer"}):
            self._require(provider, Role.PROVIDER)
            product = self.product(product_id, version)
            if product.provider_id != provider.participant_id:
                raise Refused(f"{subject} is {product.provider_id}'s: only its provider offers it", "not_provider")
            if product.withdrawn_at is not None:
                raise Refused(f"{subject} was withdrawn", "withdrawn")
            if not terms.purposes:
                raise ExchangeError("an offer allows at least one purpose", "purposes")
            if (terms.price_model == policy.PriceModel.PAID) != (terms.price_cny is not None):
                raise ExchangeError("a paid offer states its price in CNY, and only a paid one", "price")
            if terms.recipient_id is not None:
                self.participant(terms.recipient_id)
            offer_id = uuid.uuid4()
            document = policy.offer(
                offer_id=str(offer_id),
                provider_id=provider.participant_id,
                product_id=product_id,
                version=version,
                **self._terms(terms),
            )
            with self._write():
                try:
                    row = self._execute(
                        "INSERT INTO exchange.offers (offer_id, product_id, version, provider_id, purposes, use_days,"
                        " max_reads, recipient_id, delete_after_use, price_model, price_cny, approval_required, policy)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                        (
                            offer_id,
                            product_id,
                            version,
                            provider.participant_id,
                            [p.value for p in terms.purposes],
                            terms.use_days,
                            terms.max_reads,
                            terms.recipient_id,
                            terms.delete_after_use,
                            terms.price_model.value,
                            terms.price_cny,
                            terms.approval_required,
                            Jsonb(document),
                        ),
                    ).fetchone()
                except psycopg.errors.CheckViolation as error:
                    raise ExchangeError(f"offer of {subject}: {error.diag.message_primary}", "invalid") from None
                self._record(
                    "offer_made",
                    provider.participant_id,
                    str(offer_id),
                    {"product": subject, "policy_sha256": policy.digest(document)},
                )
        return Offer.from_row(row)

    @staticmethod
    def _terms(terms: OfferTerms) -> dict:
        return {
            "purposes": list(terms.purposes),
            "use_days": terms.use_days,
            "max_reads": terms.max_reads,
            "recipient_id": terms.recipient_id,
            "delete_after_use": terms.delete_after_use,
            "price_model": terms.price_model,
            "price_cny": terms.price_cny,
        }

    # An offer made to one recipient is seen by it, its provider and the operators only.
    VISIBLE_OFFER = "(recipient_id IS NULL OR recipient_id = %(who)s OR provider_id = %(who)s OR %(operator)s)"

    def offer(self, participant: Participant, offer_id: uuid.UUID) -> Offer:
        """An offer ``participant`` may see; :class:`NotFound` otherwise."""
        row = self._execute(
            f"SELECT * FROM exchange.offers WHERE offer_id = %(id)s AND {self.VISIBLE_OFFER}",
            {"id": offer_id, **self._viewer(participant)},
        ).fetchone()
        if row is None:
            raise NotFound(f"no offer {offer_id}", "offer")
        return Offer.from_row(row)

    def offers(self, participant: Participant, product_id: str | None = None) -> list[Offer]:
        rows = self._execute(
            "SELECT * FROM exchange.offers WHERE (%(product)s::text IS NULL OR product_id = %(product)s)"
            f" AND {self.VISIBLE_OFFER} ORDER BY created_at",
            {"product": product_id, **self._viewer(participant)},
        ).fetchall()
        return [Offer.from_row(r) for r in rows]

    @staticmethod
    def _viewer(participant: Participant) -> dict:
        return {"who": participant.participant_id, "operator": participant.has(Role.OPERATOR)}

    # --- negotiations and agreements ----------------------------------------------------------------

    def request(self, consumer: Participant, offer_id: uuid.UUID, purpose: str | None) -> Negotiation:
        """A consumer's contract request under an offer, stating its purpose (Dataspace Protocol
        ContractRequestMessage): a negotiation in state REQUESTED."""
        subject = str(offer_id)
        asked = {"operation": "request", "purpose": purpose[:500] if purpose else purpose}
        with self._refusals_recorded("request_refused", consumer.participant_id, subject, asked):
            self._require(consumer, Role.CONSUMER)
            if not purpose or not purpose.strip():
                raise Refused("a request states its purpose (a DPV purpose the offer allows)", "purpose_missing")
            offer = self.offer(consumer, offer_id)  # an offer to another recipient is not found
            stated = policy.purpose(purpose)
            if offer.withdrawn_at is not None:
                raise Refused(f"offer {offer_id} was withdrawn", "withdrawn")
            if stated not in offer.purposes:
                raise Refused(
                    f"purpose {stated.value} is not among the offer's: {', '.join(p.value for p in offer.purposes)}",
                    "purpose_not_offered",
                )
            if offer.provider_id == consumer.participant_id:
                raise Refused("a provider does not request its own product", "own_product")
            state = next_state(None, Event.REQUEST, Party.CONSUMER)
            negotiation_id = uuid.uuid4()
            with self._write():
                # One open request or agreement per consumer and offer: a retried request opens no second
                # negotiation, and a second agreement would double the offer's reads.
                open_one = self._execute(
                    "SELECT n.negotiation_id, n.state FROM exchange.negotiations n"
                    " LEFT JOIN exchange.agreements a ON a.negotiation_id = n.negotiation_id"
                    " WHERE n.offer_id = %s AND n.consumer_id = %s AND n.state <> 'TERMINATED'"
                    " AND (a.agreement_id IS NULL OR (a.terminated_at IS NULL AND a.valid_until > now()))",
                    (offer_id, consumer.participant_id),
                ).fetchone()
                if open_one is not None:
                    raise Refused(
                        f"negotiation {open_one['negotiation_id']} ({open_one['state']}) under offer {offer_id} is"
                        " still open or has an agreement in force: one at a time",
                        "open_request",
                    )
                row = self._execute(
                    "INSERT INTO exchange.negotiations (negotiation_id, offer_id, consumer_id, provider_id, purpose,"
                    " state) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                    (negotiation_id, offer_id, consumer.participant_id, offer.provider_id, stated.value, state.value),
                ).fetchone()
                self._record(
                    "negotiation_event",
                    consumer.participant_id,
                    str(negotiation_id),
                    {"event": Event.REQUEST.value, "from": None, "to": state.value, "offer": str(offer_id)},
                )
                if offer.approval_required:
                    self._execute(
                        "INSERT INTO exchange.approvals (approval_id, kind, provider_id, negotiation_id)"
                        " VALUES (%s, 'negotiation', %s, %s)",
                        (approval_id := uuid.uuid4(), offer.provider_id, negotiation_id),
                    )
                    self._record(
                        "approval_requested",
                        consumer.participant_id,
                        str(approval_id),
                        {"kind": "negotiation", "negotiation": str(negotiation_id)},
                    )
        return Negotiation.from_row(row)

    def negotiation(self, participant: Participant, negotiation_id: uuid.UUID) -> Negotiation:
        """A negotiation its consumer, its provider or an operator may see; :class:`NotFound` to others."""
        row = self._execute(
            "SELECT * FROM exchange.negotiations WHERE negotiation_id = %s", (negotiation_id,)
        ).fetchone()
        if row is None or not self._sees(participant, row):
            raise NotFound(f"no negotiation {negotiation_id}", "negotiation")
        return Negotiation.from_row(row)

    PARTY = "(consumer_id = %(who)s OR provider_id = %(who)s OR %(operator)s)"

    def negotiations(self, participant: Participant) -> list[Negotiation]:
        rows = self._execute(
            f"SELECT * FROM exchange.negotiations WHERE {self.PARTY} ORDER BY created_at", self._viewer(participant)
        ).fetchall()
        return [Negotiation.from_row(r) for r in rows]

    def advance(self, participant: Participant, negotiation_id: uuid.UUID, event: Event) -> Negotiation:
        """Move a negotiation by ``event`` sent by ``participant`` (its consumer or provider); AGREED makes
        the agreement, TERMINATED ends it. Raises :class:`ibdc.exchange.errors.IllegalTransition` for an
        event its state or the sender's side does not allow, :class:`Refused` for an agreement the
        operator has not approved yet (recorded)."""
        subject = str(negotiation_id)
        asked = {"operation": "negotiate", "event": event.value}
        with (
            self._refusals_recorded("request_refused", participant.participant_id, subject, asked),
            self._write(),
        ):
            row = self._execute(
                "SELECT * FROM exchange.negotiations WHERE negotiation_id = %s FOR UPDATE", (negotiation_id,)
            ).fetchone()
            if row is None or participant.participant_id not in (row["consumer_id"], row["provider_id"]):
                raise NotFound(f"no negotiation {negotiation_id} of {participant.participant_id}", "negotiation")
            party = Party.CONSUMER if participant.participant_id == row["consumer_id"] else Party.PROVIDER
            before = State(row["state"])
            after = next_state(before, event, party)
            if after is State.AGREED:
                self._require_negotiation_approved(negotiation_id)
            row = self._execute(
                "UPDATE exchange.negotiations SET state = %s, updated_at = now() WHERE negotiation_id = %s RETURNING *",
                (after.value, negotiation_id),
            ).fetchone()
            self._record(
                "negotiation_event",
                participant.participant_id,
                subject,
                {"event": event.value, "from": before.value, "to": after.value, "by": party.value},
            )
            if after is State.AGREED:
                self._sign(Negotiation.from_row(row))
            elif after is State.TERMINATED:
                self._end_agreement(negotiation_id, participant, "negotiation terminated")
        return Negotiation.from_row(row)

    def _require_negotiation_approved(self, negotiation_id: uuid.UUID) -> None:
        row = self._execute(
            "SELECT approval_id, decision FROM exchange.approvals WHERE kind = 'negotiation' AND negotiation_id = %s",
            (negotiation_id,),
        ).fetchone()
        if row is not None and row["decision"] != "approved":
            raise Refused(
                f"the offer requires the operator's approval: approval {row['approval_id']} is {row['decision']}",
                "approval_pending" if row["decision"] == "pending" else "approval_refused",
            )

    def _sign(self, negotiation: Negotiation) -> None:
        """The agreement of a negotiation just AGREED: the offer's terms made concrete, hashed, immutable."""
        offer = Offer.from_row(
            self._execute("SELECT * FROM exchange.offers WHERE offer_id = %s", (negotiation.offer_id,)).fetchone()
        )
        agreement_id = uuid.uuid4()
        signed_at = datetime.now(UTC).replace(microsecond=0)
        valid_until = signed_at + timedelta(days=offer.use_days)
        document = policy.agreement(
            agreement_id=str(agreement_id),
            offer_policy=offer.policy,
            consumer_id=negotiation.consumer_id,
            chosen_purpose=negotiation.purpose,
            valid_until=valid_until,
            max_reads=offer.max_reads,
            delete_after_use=offer.delete_after_use,
            price_model=offer.price_model,
            price_cny=offer.price_cny,
        )
        digest = policy.digest(document)
        self._execute(
            "INSERT INTO exchange.agreements (agreement_id, negotiation_id, offer_id, provider_id, consumer_id,"
            " product_id, version, policy, policy_sha256, signed_at, valid_until)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                agreement_id,
                negotiation.negotiation_id,
                offer.offer_id,
                offer.provider_id,
                negotiation.consumer_id,
                offer.product_id,
                offer.version,
                Jsonb(document),
                digest,
                signed_at,
                valid_until,
            ),
        )
        self._record(
            "agreement_signed",
            offer.provider_id,
            str(agreement_id),
            {"negotiation": str(negotiation.negotiation_id), "policy_sha256": digest, "valid_until": str(valid_until)},
        )

    def agreement(self, participant: Participant, agreement_id: uuid.UUID) -> Agreement:
        row = self._execute("SELECT * FROM exchange.agreements WHERE agreement_id = %s", (agreement_id,)).fetchone()
        if row is None or not self._sees(participant, row):
            raise NotFound(f"no agreement {agreement_id}", "agreement")
        return Agreement.from_row(row)

    def agreements(self, participant: Participant) -> list[Agreement]:
        rows = self._execute(
            f"SELECT * FROM exchange.agreements WHERE {self.PARTY} ORDER BY signed_at", self._viewer(participant)
        ).fetchall()
        return [Agreement.from_row(r) for r in rows]

    def terminate_agreement(self, participant: Participant, agreement_id: uuid.UUID, reason: str) -> Agreement:
        """End an agreement (its consumer, provider or an operator): no read is answered after it."""
        subject = str(agreement_id)
        with self._refusals_recorded(
            "request_refused", participant.participant_id, subject, {"operation": "terminate", "reason": reason[:500]}
        ):
            if not reason or not reason.strip():
                raise ExchangeError("a termination states its reason", "reason")
            with self._write():
                row = self._execute(
                    "SELECT * FROM exchange.agreements WHERE agreement_id = %s FOR UPDATE", (agreement_id,)
                ).fetchone()
                if row is None or not self._sees(participant, row):
                    raise NotFound(f"no agreement {agreement_id}", "agreement")
                if row["terminated_at"] is not None:
                    raise Refused(f"agreement {agreement_id} was terminated already", "terminated")
                self._end_agreement(row["negotiation_id"], participant, reason)
                row = self._execute(
                    "SELECT * FROM exchange.agreements WHERE agreement_id = %s", (agreement_id,)
                ).fetchone()
        return Agreement.from_row(row)

    def _end_agreement(self, negotiation_id: uuid.UUID, participant: Participant, reason: str) -> None:
        row = self._execute(
            "UPDATE exchange.agreements SET terminated_at = now(), terminated_by = %s, termination_reason = %s"
            " WHERE negotiation_id = %s AND terminated_at IS NULL RETURNING agreement_id",
            (participant.participant_id, reason, negotiation_id),
        ).fetchone()
        if row is not None:
            ended = str(row["agreement_id"])
            self._record("agreement_terminated", participant.participant_id, ended, {"reason": reason})

    def access(
        self,
        agreement: Agreement,
        negotiation: Negotiation,
        offer: Offer,
        now: datetime | None = None,
        *,
        reading: bool = True,
    ) -> str:
        """Why the agreement gives no access now (terminated, not finalized, expired, reads used up), or ''.
        ``reading`` False: for a call that is not a read (a share's listing, a table's metadata), which
        the reads used up do not refuse."""
        now = now or datetime.now(UTC)
        if agreement.terminated_at is not None:
            return f"agreement {agreement.agreement_id} was terminated: {agreement.termination_reason}"
        if negotiation.state is not State.FINALIZED:
            return f"negotiation {negotiation.negotiation_id} is {negotiation.state}, not FINALIZED"
        if now >= agreement.valid_until:
            return f"agreement {agreement.agreement_id} expired at {agreement.valid_until.isoformat()}"
        if reading and offer.max_reads is not None and agreement.reads >= offer.max_reads:
            return f"agreement {agreement.agreement_id} has used its {offer.max_reads} reads"
        return ""

    # --- the ledger ---------------------------------------------------------------------------------

    def verify_ledger(self) -> ledger.Verification:
        return ledger.verify(self.conn)

    # --- helpers ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """A transaction that writes the market: one at a time. Every such transaction appends to the
        ledger, which serialises appends anyway; taking the market's lock first, before any row lock,
        keeps two of them from each holding what the other waits for (a deadlock: an agreement ended by
        its negotiation and by its termination at once, two listings asking approvals in another order)."""
        with self.conn.transaction():
            self._execute("SELECT pg_advisory_xact_lock(hashtext('ibdc.exchange.market'))")
            yield

    def _execute(self, query: str, params: tuple | dict | None = None) -> psycopg.Cursor:
        """``query`` on a cursor of its own returning dict rows (the connection, perhaps a pool's, keeps its
        own row factory)."""
        return self.conn.cursor(row_factory=dict_row).execute(query, params)

    def _record(self, kind: str, actor: str, subject: str, payload: dict) -> None:
        ledger.append(self.conn, ledger.EntryKind(kind), actor, subject, payload)

    def _parties_of(self, approval: dict) -> set[str]:
        """Who an approval is about: the provider, and a negotiation's consumer."""
        parties = {approval["provider_id"]}
        if approval["negotiation_id"] is not None:
            row = self._execute(
                "SELECT consumer_id FROM exchange.negotiations WHERE negotiation_id = %s", (approval["negotiation_id"],)
            ).fetchone()
            parties.add(row["consumer_id"])
        return parties

    @staticmethod
    def _require(participant: Participant, role: Role) -> None:
        if not participant.has(role):
            raise Refused(f"{participant.participant_id} does not have the {role.value} role", f"not_{role.value}")

    @staticmethod
    def _sees(participant: Participant, row: dict) -> bool:
        return participant.has(Role.OPERATOR) or participant.participant_id in (row["consumer_id"], row["provider_id"])

    @contextlib.contextmanager
    def _refusals_recorded(self, kind: str, actor: str, subject: str, asked: dict) -> Iterator[None]:
        """Record a refusal raised in the block (:class:`Refused`, or an invalid request: any
        :class:`ExchangeError` but an unknown subject) as a ledger entry of its own (the block's own
        transaction has rolled back), then raise it again."""
        try:
            yield
        except (NotFound, Unauthenticated):
            raise
        except ExchangeError as refusal:
            with self._write():
                self._record(kind, actor, subject, {**asked, "rule": refusal.rule, "reason": str(refusal)})
            raise
