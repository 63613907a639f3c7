"""``make demo-market`` (``ibdc-dev demo-market``): the data-exchange market's walk on the local stack,
after ``make demo`` has built the marts. Guangdong's provincial centre lists one product of its rows of
the monthly industrial output mart, offers it, a Suzhou manufacturer requests it for academic research,
the two conclude an agreement over the REST API (Dataspace Protocol states), the product is published as
a Delta table, and the buyer reads it with the standard ``delta-sharing`` client; a summary ends it.

The participants' API keys are kept in ``.local/market/keys.json`` (mode 600: shown once by the market,
kept here so that the demo can run again). Run again, it ends the buyer's earlier agreement for the
product (one in force per consumer and offer), then makes and reads a new one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg
import requests

from ibdc import governance
from ibdc.exchange import ledger, publish
from ibdc.exchange.errors import ExchangeError
from ibdc.exchange.market import Market
from ibdc.exchange.models import OfferTerms, Role
from ibdc.exchange.policy import Purpose
from ibdc.settings import Settings
from ibdc_dev import buyer

MARKET_DIR = "market"
MART = "mart_industrial_output_monthly"
PRODUCT = "gd-industrial-output"
VERSION = "1.0.0"
PROVINCE = "440000"
COLUMNS = ["province_code", "period_month", "product_code", "product_name_en", "unit_code", "months_covered"]
PURPOSE = Purpose.ACADEMIC_RESEARCH
# Valid unified social credit codes (their check digits computed by ibdc.uscc), as in docs/exchange.md.
PARTICIPANTS = {
    "operator": ("11100000MB0000001T", "IBDC exchange operations", None, [Role.OPERATOR]),
    "seller": ("12440000MB0000002F", "Guangdong industrial big-data centre", PROVINCE, [Role.PROVIDER]),
    "buyer": ("91320500MA00000036", "Suzhou precision machinery", "320000", [Role.CONSUMER]),
}


class Api:
    """The exchange's REST API as one participant (its bearer key)."""

    def __init__(self, base: str, key: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, body: dict | None = None) -> dict | list:
        answer = requests.request(method, self.base + path, headers=self.headers, json=body, timeout=60)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()


def run(settings: Settings, step, say) -> None:
    """The walk (``step``: the demo's numbered, timed progress lines)."""
    market_dir = settings.local_dir / MARKET_DIR
    market_dir.mkdir(parents=True, exist_ok=True)
    with step("the marts the product is made of (make demo builds them)"):
        try:
            with governance.reader_connection(settings.warehouse) as reader:
                expected = reader.execute(
                    f"SELECT count(*) FROM marts.{MART} WHERE province_code = %s", (PROVINCE,)
                ).fetchone()[0]
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable):
            expected = 0  # no dbt build has made the mart (and granted its readers) yet
        if not expected:
            raise SystemExit(f"marts.{MART} has no row of province {PROVINCE}: run `make demo` first")
        say(f"      marts.{MART}: {expected} rows of province {PROVINCE}")

    with psycopg.connect(settings.exchange, autocommit=True) as conn:
        market = Market(conn)
        with step("participants: the market's operator, Guangdong's centre (seller), a Suzhou manufacturer (buyer)"):
            keys = _participants(market, market_dir / "keys.json", say)
        api = {name: Api(settings.exchange_url, key) for name, key in keys.items()}
        with step(f"the seller lists {PRODUCT} {VERSION} and offers it (ODCS contract, ODRL offer)"):
            seller = market.participant(PARTICIPANTS["seller"][0])
            product = _listed(market, seller)
            say(
                f"      product {product.product_id} {product.version}: {', '.join(product.columns)}"
                f" of {product.relation}"
            )
            say(f"      its ODCS contract: GET {settings.exchange_url}/products/{PRODUCT}/versions/{VERSION}/contract")
            offer = market.make_offer(
                seller, PRODUCT, VERSION, OfferTerms(purposes=[PURPOSE], use_days=30, max_reads=10)
            )
            say(f"      offer {offer.offer_id}: purpose {PURPOSE.value}, 30 days, 10 reads, delete after use, free")

    with step("the buyer requests it; the two conclude an agreement over the REST API"):
        for earlier in api["buyer"].call("GET", "/agreements"):
            if earlier["product_id"] == PRODUCT and earlier["terminated_at"] is None:
                api["buyer"].call(
                    "POST", f"/agreements/{earlier['agreement_id']}/termination", {"reason": "demo run again"}
                )
                say(f"      the buyer ended its earlier agreement {earlier['agreement_id']}")
        request = {"offer_id": str(offer.offer_id), "purpose": PURPOSE.value}
        negotiation = api["buyer"].call("POST", "/negotiations", request)
        nid = negotiation["negotiation_id"]
        states = [negotiation["state"]]
        for who, event in [("seller", "agree"), ("buyer", "verify"), ("seller", "finalize")]:
            states.append(api[who].call("POST", f"/negotiations/{nid}/{event}")["state"])
        say(f"      negotiation {nid}: {' -> '.join(states)}")
        (agreement,) = [a for a in api["buyer"].call("GET", "/agreements") if a["negotiation_id"] == nid]
        say(f"      agreement {agreement['agreement_id']} (ODRL policy sha256 {agreement['policy_sha256'][:16]}...)")

    with step("the product published as a Delta table (what ibdc_exchange_publish does when the mart is rebuilt)"):
        published = publish.publish_product(settings, PRODUCT, VERSION)
        say(f"      {published.location} version {published.table_version}: {published.rows} rows")

    with step("the buyer's Delta Sharing profile, and its read with the standard delta-sharing client"):
        profile = api["buyer"].call("POST", f"/agreements/{agreement['agreement_id']}/sharing-profile")
        profile_file = market_dir / "buyer.share"
        _write_private(profile_file, json.dumps(profile, indent=2))
        listed = buyer.run_client(profile_file, "list")
        (table,) = listed["tables"]
        url = ".".join(table)
        started = time.monotonic()
        read = buyer.run_client(profile_file, "read", url)
        if not read.get("ok"):
            raise RuntimeError(f"the standard client's read was refused: {read}")
        say(
            f"      delta_sharing.load_as_pandas('{profile_file}#{url}'): {len(read['rows'])} rows,"
            f" columns {', '.join(read['columns'])} ({time.monotonic() - started:.1f} s)"
        )

    with psycopg.connect(settings.exchange, autocommit=True) as conn:
        verified = ledger.verify(conn)
        reader = Market(conn)
        final = reader.agreement(reader.participant(PARTICIPANTS["buyer"][0]), agreement["agreement_id"])
    say("")
    say("Market summary")
    say(f"  product      {PRODUCT} {VERSION}: {len(COLUMNS)} level-1 columns of {MART}, province {PROVINCE}")
    say(f"  agreement    {final.agreement_id}: valid until {final.valid_until:%Y-%m-%d}, reads {final.reads} of 10")
    same = "the same as" if len(read["rows"]) == expected else "NOT the same as"
    say(
        f"  read         {len(read['rows'])} rows by the standard client, {same} the mart's {expected} rows"
        f" of {PROVINCE}"
    )
    say(
        f"  ledger       {'verified' if verified.ok else 'BROKEN'}: {verified.entries} entries,"
        f" head {verified.head_hash[:16]}..."
    )
    say(f"  the buyer's profile  {profile_file} (bearer token of this agreement only; expires with it)")
    say(f"  the REST API         {settings.exchange_url}/docs")
    say(f"  the operator's page  {settings.airflow_url}/ibdc/exchange/ (make airflow; Browse -> Data exchange)")
    if len(read["rows"]) != expected or not verified.ok:
        raise SystemExit("the market's demo did not read what it agreed, or the ledger does not verify")


def _participants(market: Market, keys_file: Path, say) -> dict[str, str]:
    """The three participants' API keys: registered the first time, read from ``keys_file`` after. A
    participant registered by an earlier run whose key is lost cannot act: the demo says so."""
    keys = json.loads(keys_file.read_text()) if keys_file.exists() else {}
    known = {p.participant_id for p in market.participants()}
    for name, (code, title, province, roles) in PARTICIPANTS.items():
        if code in known:
            if name not in keys:
                raise SystemExit(
                    f"{code} ({title}) is registered but its API key (shown once) is not in {keys_file} any more"
                )
            say(f"      {name:8} {code} {title} (registered before)")
            continue
        _, keys[name] = market.register(code, title, province, roles, by="demo-market")
        say(f"      {name:8} {code} {title}: registered ({', '.join(r.value for r in roles)})")
    _write_private(keys_file, json.dumps(keys))
    return keys


def _write_private(path: Path, text: str) -> None:
    """``text`` into ``path``, readable by its owner only from the first byte (a bearer token, API keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _listed(market: Market, seller):
    try:
        return market.product(PRODUCT, VERSION)
    except ExchangeError:
        return market.list_product(
            seller, product_id=PRODUCT, version=VERSION, mart=MART, columns=COLUMNS, province_code=PROVINCE
        )
