"""``ibdc exchange ...``: the market's operations for the operator and for scripts.

It connects to the warehouse as the market's service role (``IBDC_EXCHANGE_DSN``, or the warehouse's
host with ``IBDC_EXCHANGE_PASSWORD``), so whoever runs it holds the service's own credentials: it acts
as the participant ``--as`` names (default ``IBDC_EXCHANGE_PARTICIPANT``), under the same rules as the
REST API, and every action and refusal is in the ledger. Results print as JSON (one document, or one a
line with ``--jsonl`` for lists); a refusal prints ``refused (<rule>): <why>`` on standard error and
exits 3; ``verify`` exits 1 when the ledger is broken, naming the first broken entry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import Decimal
from uuid import UUID

import psycopg
from pydantic import BaseModel

from ibdc.exchange import contracts
from ibdc.exchange.errors import ExchangeError
from ibdc.exchange.market import Market
from ibdc.exchange.models import OfferTerms, Role
from ibdc.exchange.negotiation import Event
from ibdc.exchange.policy import PriceModel, purpose
from ibdc.settings import Settings

REFUSED = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``exchange`` verb and its sub-verbs, on the platform CLI's sub-parsers."""
    parser = sub.add_parser("exchange", help="the data-exchange market: participants, products, offers, agreements")
    parser.add_argument(
        "--as",
        dest="actor",
        default=os.environ.get("IBDC_EXCHANGE_PARTICIPANT"),
        help="the participant acting (credit code; default IBDC_EXCHANGE_PARTICIPANT)",
    )
    verbs = parser.add_subparsers(dest="exchange_verb", required=True)

    participants = verbs.add_parser("participants", help="list participants, or register one (add)")
    participants.add_argument("action", nargs="?", choices=["add"])
    participants.add_argument("--id", help="unified social credit code")
    participants.add_argument("--name")
    participants.add_argument("--province", help="GB/T 2260 code; omit for a national participant")
    participants.add_argument("--roles", help="comma-separated: provider, consumer, operator")

    listing = verbs.add_parser("list", help="list a product version of a mart's columns (the gate decides)")
    listing.add_argument("--product", required=True)
    listing.add_argument("--version", default="1.0.0")
    listing.add_argument("--mart", required=True)
    listing.add_argument("--columns", required=True, help="comma-separated")
    listing.add_argument("--province", help="the rows of one province; omit for every province (national centre)")

    verbs.add_parser("products", help="the listed products")

    marts = verbs.add_parser("marts", help="the marts a product can be made of; with --mart, its columns and levels")
    marts.add_argument("--mart")

    offer = verbs.add_parser("offer", help="offer a listed product version (an ODRL offer)")
    offer.add_argument("--product", required=True)
    offer.add_argument("--version", default="1.0.0")
    offer.add_argument("--purposes", required=True, help="comma-separated DPV purposes, e.g. AcademicResearch")
    offer.add_argument("--use-days", type=int, default=90)
    offer.add_argument("--max-reads", type=int)
    offer.add_argument("--recipient", help="the one participant the offer is made to")
    offer.add_argument("--keep-after-use", action="store_true", help="no duty to delete after the period of use")
    offer.add_argument("--price-model", choices=[p.value for p in PriceModel], default="free")
    offer.add_argument("--price-cny", type=Decimal)
    offer.add_argument("--approval-required", action="store_true")

    approvals = verbs.add_parser("approvals", help="the approvals (pending only with --pending)")
    approvals.add_argument("--pending", action="store_true")

    approve = verbs.add_parser("approve", help="the operator approves (or --refuse) a pending approval")
    approve.add_argument("approval_id", type=UUID)
    approve.add_argument("--reason", required=True)
    approve.add_argument("--refuse", action="store_true")

    request = verbs.add_parser("request", help="request a contract under an offer, stating a purpose")
    request.add_argument("--offer", required=True, type=UUID)
    request.add_argument("--purpose")

    negotiate = verbs.add_parser("negotiate", help="send a negotiation event (agree, verify, finalize, ...)")
    negotiate.add_argument("negotiation_id", type=UUID)
    negotiate.add_argument("event", choices=[e.value for e in Event])

    verbs.add_parser("agreements", help="the agreements the participant is party to (all, for an operator)")

    terminate = verbs.add_parser("terminate", help="terminate an agreement: the consumer's access ends")
    terminate.add_argument("agreement_id", type=UUID)
    terminate.add_argument("--reason", required=True)

    verbs.add_parser("verify", help="recompute the ledger's hash chain; name the first broken entry")

    publishing = verbs.add_parser(
        "publish", help="publish products as Delta tables (ibdc.exchange.publish): one, or every listed one"
    )
    publishing.add_argument("--product", help="one product (default: every listed, not withdrawn product)")
    publishing.add_argument("--version", help="its version (default: its latest listed)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the sub-verb ``args`` names on ``settings``' warehouse; the process's exit status."""
    if args.exchange_verb in ("marts", "publish"):  # marts: the manifest's; publish connects on its own
        try:
            return _print(_marts(args.mart)) if args.exchange_verb == "marts" else _publish(args, settings)
        except ExchangeError as error:
            print(f"refused ({error.rule}): {error}", file=sys.stderr, flush=True)
            return REFUSED
    try:
        conn = psycopg.connect(settings.exchange, autocommit=True)
    except psycopg.OperationalError as error:
        print(
            f"cannot connect to the warehouse as ibdc_exchange: {str(error).strip().splitlines()[-1]}\n"
            "set IBDC_EXCHANGE_PASSWORD (generated in .local/secrets.env; `set -a; . .local/ibdc.env; set +a`"
            " exports it) or IBDC_EXCHANGE_DSN",
            file=sys.stderr,
            flush=True,
        )
        return 2
    with conn:
        market = Market(conn)
        try:
            return _run(market, args)
        except ExchangeError as error:
            print(f"refused ({error.rule}): {error}", file=sys.stderr, flush=True)
            return REFUSED


def _run(market: Market, args: argparse.Namespace) -> int:
    verb = args.exchange_verb
    if verb == "verify":
        result = market.verify_ledger()
        if result.ok:
            _print({"ok": True, "entries": result.entries, "head": result.head_hash})
            return 0
        _print({"ok": False, "entries": result.entries, "first_broken": result.first_broken, "reason": result.reason})
        return 1
    if verb == "participants" and args.action is None:
        return _print(market.participants())
    if verb == "products":
        return _print(market.products())
    if verb == "participants":
        return _register(market, args)
    if not args.actor:
        raise ExchangeError("name the participant acting: --as <credit code> or IBDC_EXCHANGE_PARTICIPANT", "actor")
    actor = market.participant(args.actor)
    if verb == "list":
        columns = [c.strip() for c in args.columns.split(",") if c.strip()]
        return _print(
            market.list_product(
                actor,
                product_id=args.product,
                version=args.version,
                mart=args.mart,
                columns=columns,
                province_code=args.province,
            )
        )
    if verb == "offer":
        terms = OfferTerms(
            purposes=[purpose(p) for p in args.purposes.split(",") if p.strip()],
            use_days=args.use_days,
            max_reads=args.max_reads,
            recipient_id=args.recipient,
            delete_after_use=not args.keep_after_use,
            price_model=PriceModel(args.price_model),
            price_cny=args.price_cny,
            approval_required=args.approval_required,
        )
        return _print(market.make_offer(actor, args.product, args.version, terms))
    if verb == "approvals":
        return _print(market.approvals(actor, pending_only=args.pending))
    if verb == "approve":
        return _print(market.decide(actor, args.approval_id, not args.refuse, args.reason))
    if verb == "request":
        return _print(market.request(actor, args.offer, args.purpose))
    if verb == "negotiate":
        return _print(market.advance(actor, args.negotiation_id, Event(args.event)))
    if verb == "agreements":
        return _print(market.agreements(actor))
    if verb == "terminate":
        return _print(market.terminate_agreement(actor, args.agreement_id, args.reason))
    raise AssertionError(f"unhandled verb {verb}")


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    """``publish``: the product version given, or every listed one; each publication printed (one a line)."""
    from ibdc.exchange import publish

    if args.version and not args.product:
        raise ExchangeError("--version names a version of --product", "arguments")
    chosen = [(args.product, args.version)] if args.product else publish.products_of_marts(settings, None)
    for product_id, version in chosen:
        publication = publish.publish_product(settings, product_id, version)
        print(json.dumps(publication.model_dump(mode="json"), ensure_ascii=False), flush=True)
    return 0


def _register(market: Market, args: argparse.Namespace) -> int:
    """An operator registers a participant; the market's first participant, its operator, is registered by
    whoever holds the service's credentials (recorded as ``bootstrap``)."""
    if not (args.id and args.name and args.roles):
        raise ExchangeError("participants add needs --id, --name and --roles", "arguments")
    try:
        roles = [Role(r.strip()) for r in args.roles.split(",") if r.strip()]
    except ValueError:
        raise ExchangeError(
            f"--roles {args.roles!r}: each one of {', '.join(r.value for r in Role)}", "roles"
        ) from None
    if market.participants():
        if not args.actor:
            raise ExchangeError("name the operator registering: --as <credit code>", "actor")
        if not market.participant(args.actor).has(Role.OPERATOR):
            raise ExchangeError(f"{args.actor} does not have the operator role: it registers no one", "not_operator")
        by = args.actor
    elif Role.OPERATOR not in roles:
        raise ExchangeError("the first participant registered is the market's operator (--roles operator)", "first")
    else:
        by = "bootstrap"
    participant, api_key = market.register(args.id, args.name, args.province, roles, by=by)
    _print({**participant.model_dump(mode="json"), "api_key": api_key})
    print("the API key is shown this once; the market keeps only its SHA-256", file=sys.stderr, flush=True)
    return 0


def _marts(mart: str | None) -> object:
    """The marts (from the dbt manifest), or one mart's columns as the gate sees them."""
    manifest = contracts.load_manifest()
    if mart is None:
        return contracts.marts(manifest)
    return [
        {
            "column": c.name,
            "level": c.level,
            "personal_data": c.personal,
            "miit_domain": c.miit_domain,
            "aggregate": c.aggregate,
            "listable": "never"
            if c.personal or c.level in (None, 3) or c.never_disclosed
            else ("with the operator's approval" if c.level == 2 else "yes")
            + (" (served suppressed, from the _disclosed view)" if c.disclosed else ""),
        }
        for c in contracts.mart_columns(manifest, mart).values()
    ]


def _print(value: object) -> int:
    if isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    elif isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str), flush=True)
    return 0
