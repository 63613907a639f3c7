"""Delivery through the Delta Sharing protocol on the local stack (issue 22), read by the standard
``delta-sharing`` client (1.4.2) installed in a virtual environment of its own, as a buyer would
(its pins conflict with the platform's: pyarrow, requests, fsspec), and run as a subprocess.

The product's Delta table is written here with ``deltalake`` into the exchange bucket with the
administrator's S3 keys (set-up only) and its ``exchange.publications`` row inserted as the publisher
records one; the API under test runs as a process of this module's own (``uvicorn ibdc.exchange.api:app``
on a free port, the tests' database as ``ibdc_exchange``), holding the exchange service's S3 identity,
which presigns every URL (one instance with URLs valid 10 s, for their expiry).

What is proved: the client lists the agreement's share, schema and table and reads exactly the published
rows and columns (parquet and delta response formats); listing and metadata are not reads; after the
agreement's termination and after its expiry the read and the listing are refused (403, the protocol's
error shape) and no URL is issued; the read limit holds, for two racing queries too; every answered
read and every refused query is in the ledger, which verifies; a URL says it expires within the TTL
and stops working after it; another agreement's token cannot read this one's table; a wrong or
replaced token is 401; only the consumer of a finalized, active agreement gets a profile."""

from __future__ import annotations

import concurrent.futures
import json
import os
import secrets
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pyarrow as pa
import pytest
import requests
from deltalake import write_deltalake

from ibdc import uscc
from ibdc.exchange import ledger
from ibdc.exchange.market import Market
from ibdc.exchange.models import OfferTerms, Role
from ibdc.exchange.negotiation import Event
from ibdc.exchange.policy import Purpose
from ibdc.settings import Settings
from ibdc_dev import buyer as buyer_client
from ibdc_dev.localstack import processes, seaweedfs, stack

pytestmark = pytest.mark.integration

MART = "mart_industrial_output_monthly"
LEVEL1 = ["province_code", "period_month", "product_code", "product_name_en", "unit_code", "months_covered"]
ROWS = [
    {
        "province_code": "440000",
        "period_month": f"2026-0{m}",
        "product_code": f"P{n:03d}",
        "product_name_en": f"product {n}",
        "unit_code": "t",
        "months_covered": m,
    }
    for m in (1, 2, 3)
    for n in (1, 2)
]
SHORT_TTL_S = 10
BIN = Path(sys.executable).parent

# The buyer's program: what it prints (one JSON object) is all the test sees of the client.


def credit_code() -> str:
    first17 = "9" + "".join(secrets.choice(uscc.CHARSET) for _ in range(16))
    return first17 + uscc.check_digit(first17)


# --- the buyer's client, in an environment of its own -------------------------------------------------


@pytest.fixture(scope="session")
def client_python() -> Path:
    """The standard client's own environment (``ibdc_dev.buyer``: made once, kept between runs)."""
    return buyer_client.client_python()


@pytest.fixture(scope="session")
def buyer(client_python):
    """Run the standard client: ``buyer(profile, "list" | "version" | "read" | "read-delta", url)``."""
    return buyer_client.run_client


# --- the API under test ---------------------------------------------------------------------------------


def _start_api(services: Settings, ttl_s: int | None, **overrides: str) -> tuple[str, str]:
    port = processes.free_port()
    env = stack.exchange_api_env(services)
    env.update(overrides)
    env.update(
        {
            "IBDC_EXCHANGE_PORT": str(port),
            "IBDC_EXCHANGE_S3_ACCESS_KEY": os.environ["IBDC_EXCHANGE_S3_ACCESS_KEY"],
            "IBDC_EXCHANGE_S3_SECRET_KEY": os.environ["IBDC_EXCHANGE_S3_SECRET_KEY"],
        }
    )
    env.pop("IBDC_EXCHANGE_PUBLIC_URL", None)
    if ttl_s is not None:
        env["IBDC_EXCHANGE_URL_TTL_S"] = str(ttl_s)
    name = f"exchange-api-sharing-test-{port}"
    url = f"http://127.0.0.1:{port}"
    processes.start(
        name,
        [str(BIN / "uvicorn"), "ibdc.exchange.api:app", "--host", "127.0.0.1", "--port", str(port)],
        env,
        port,
        lambda: stack._http_ok(f"{url}/health"),
    )
    return name, url


@pytest.fixture(scope="module")
def api(services):
    name, url = _start_api(services, None)
    yield url
    processes.stop(name)


@pytest.fixture(scope="module")
def short_api(services):
    name, url = _start_api(services, SHORT_TTL_S)
    yield url
    processes.stop(name)


# --- the market and the published product --------------------------------------------------------------


@pytest.fixture(scope="module")
def market(services):
    with psycopg.connect(services.exchange, autocommit=True) as conn:
        yield Market(conn)


@pytest.fixture(scope="module")
def people(market):
    tag = uuid.uuid4().hex[:6]
    made = {}
    for name, province, roles in [
        ("guangdong", "440000", [Role.PROVIDER]),
        ("buyer", "320000", [Role.CONSUMER]),
        ("other", "110000", [Role.CONSUMER]),
    ]:
        made[name] = market.register(credit_code(), f"test sharing {name} {tag}", province, roles)
    return made


@pytest.fixture(scope="module")
def product(services, market, people, s3_admin):
    """A listed product whose version 1.0.0 is published as a Delta table (two commits: the second, the
    latest, holds :data:`ROWS`), recorded in ``exchange.publications``."""
    provider = people["guangdong"][0]
    pid = f"test-share-{uuid.uuid4().hex[:10]}"
    market.list_product(provider, product_id=pid, version="1.0.0", mart=MART, columns=LEVEL1, province_code="440000")
    bucket = services.exchange_bucket
    seaweedfs.ensure_bucket(s3_admin, bucket)
    where = f"s3://{bucket}/products/{pid}/1.0.0"
    admin = seaweedfs.Keys.from_env()
    options = {
        "AWS_ENDPOINT_URL": services.s3,
        "AWS_REGION": services.s3_region,
        "AWS_ACCESS_KEY_ID": admin.access_key,
        "AWS_SECRET_ACCESS_KEY": admin.secret_key,
        "AWS_ALLOW_HTTP": "true",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_CONDITIONAL_PUT": "etag",
    }
    schema = pa.schema([(c, pa.int32() if c == "months_covered" else pa.string()) for c in LEVEL1])
    stale = pa.Table.from_pylist([{**ROWS[0], "product_name_en": "superseded"}], schema=schema)
    write_deltalake(where, stale, mode="overwrite", storage_options=options)
    table = pa.Table.from_pylist(ROWS, schema=schema)
    write_deltalake(where, table, mode="overwrite", storage_options=options)
    _record_publication(services, pid, where, table_version=1, rows=len(ROWS))
    return {"product_id": pid, "version": "1.0.0", "provider": provider, "location": where}


def _record_publication(services: Settings, pid: str, where: str, table_version: int, rows: int) -> None:
    """The row ``ibdc.exchange.publish`` records (publication.sql's columns that exist), as the administrator."""
    values = {
        "publication_id": uuid.uuid4(),
        "product_id": pid,
        "version": "1.0.0",
        "table_version": table_version,
        "location": where,
        "contract_location": f"{where}/contract.json",
        "relation": f"marts.{MART}",
        "columns": LEVEL1,
        "province_code": "440000",
        "rows": rows,
        "bytes": 0,
        "files": 1,
        "content_sha256": "0" * 64,
        "contract_sha256": "0" * 64,
        "ledger_seq": 0,
    }
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = 'exchange' AND table_name = 'publications'"
            )
        }
        assert columns, "exchange.publications does not exist (publication.sql, ibdc.exchange.schema)"
        kept = {k: v for k, v in values.items() if k in columns}
        conn.execute(
            f"INSERT INTO exchange.publications ({', '.join(kept)}) VALUES ({', '.join(['%s'] * len(kept))})",
            list(kept.values()),
        )


def _agreement(market: Market, people: dict, product: dict, who: str = "buyer", **terms) -> uuid.UUID:
    """A FINALIZED agreement of ``who`` on the product under an offer of ``terms``."""
    provider, consumer = people["guangdong"][0], people[who][0]
    offer = market.make_offer(
        provider, product["product_id"], product["version"], OfferTerms(purposes=[Purpose.ACADEMIC_RESEARCH], **terms)
    )
    negotiation = market.request(consumer, offer.offer_id, Purpose.ACADEMIC_RESEARCH.value)
    for party, event in ((provider, Event.AGREE), (consumer, Event.VERIFY), (provider, Event.FINALIZE)):
        negotiation = market.advance(party, negotiation.negotiation_id, event)
    (agreement,) = [a for a in market.agreements(consumer) if a.negotiation_id == negotiation.negotiation_id]
    return agreement.agreement_id


def _profile(base: str, key: str, agreement_id: uuid.UUID, where: Path) -> tuple[Path, dict]:
    answer = requests.post(
        f"{base}/agreements/{agreement_id}/sharing-profile", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    profile = answer.json()
    path = where / f"{agreement_id}-{uuid.uuid4().hex[:6]}.share"
    path.write_text(
        json.dumps({k: profile[k] for k in ("shareCredentialsVersion", "endpoint", "bearerToken", "expirationTime")})
    )
    return path, profile


def _table_url(profile: dict, product: dict) -> str:
    return f"{profile['share']}.{product['provider'].participant_id}.{product['product_id']}"


def _query(base: str, token: str, share: str, schema: str, table: str, **headers) -> requests.Response:
    return requests.post(
        f"{base}/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}/query",
        headers={"Authorization": f"Bearer {token}", **headers},
        json={},
        timeout=60,
    )


def _entries(services: Settings, agreement_id: uuid.UUID) -> list[ledger.LedgerEntry]:
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        return ledger.entries(conn, subject=str(agreement_id), limit=1000)


def _kinds(services: Settings, agreement_id: uuid.UUID) -> list[str]:
    return [e.kind for e in _entries(services, agreement_id) if e.kind in ("read", "read_refused")]


def _reads(services: Settings, agreement_id: uuid.UUID) -> int:
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        return conn.execute(
            "SELECT reads FROM exchange.agreements WHERE agreement_id = %s", (agreement_id,)
        ).fetchone()[0]


def _verified(services: Settings) -> None:
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        result = ledger.verify(conn)
    assert result.ok, result.reason


def _refused(result: dict, status: int = 403) -> None:
    assert result["ok"] is False and result["status"] == status, result
    assert set(result["body"]) == {"errorCode", "message"}, result


# --- the tests ------------------------------------------------------------------------------------------


def test_the_standard_client_lists_and_reads_exactly_the_published_rows(
    services, api, market, people, product, buyer, tmp_path
):
    agreement_id = _agreement(market, people, product)
    path, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    assert profile["endpoint"] == f"{api}/delta-sharing" and profile["shareCredentialsVersion"] == 1
    assert profile["share"] == f"agreement-{agreement_id}"
    listed = buyer(path, "list")
    schema, table = product["provider"].participant_id, product["product_id"]
    assert listed["shares"] == [profile["share"]]
    assert listed["schemas"] == [[profile["share"], schema]]
    assert listed["tables"] == listed["all_tables"] == [[profile["share"], schema, table]]
    url = _table_url(profile, product)
    assert buyer(path, "version", url) == {"ok": True, "version": 1}
    assert _reads(services, agreement_id) == 0  # listing, the version and metadata are not reads

    expected = sorted(ROWS, key=lambda r: (r["period_month"], r["product_code"]))
    for action in ("read", "read-delta"):  # the parquet response format, then the delta one (the client's kernel)
        got = buyer(path, action, url)
        assert got["ok"], got
        assert got["columns"] == LEVEL1
        assert sorted(got["rows"], key=lambda r: (r["period_month"], r["product_code"])) == expected

    assert _reads(services, agreement_id) == 2
    reads = [e for e in _entries(services, agreement_id) if e.kind == "read"]
    assert [e.payload["reads"] for e in reads] == [1, 2]
    assert {e.payload["response_format"] for e in reads} == {"parquet", "delta"}
    assert all(e.actor == people["buyer"][0].participant_id and e.payload["table_version"] == 1 for e in reads)
    issued = [e for e in _entries(services, agreement_id) if e.kind == "sharing_token_issued"]
    assert len(issued) == 1 and profile["bearerToken"] not in json.dumps(issued[0].payload)
    _verified(services)


def test_the_protocol_answers_in_its_own_shapes(services, api, market, people, product, tmp_path):
    agreement_id = _agreement(market, people, product)
    _, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    token, share = profile["bearerToken"], profile["share"]
    schema, table = product["provider"].participant_id, product["product_id"]
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{api}/delta-sharing/shares/{share}/schemas/{schema}/tables/{table}"
    meta = requests.get(f"{base}/metadata", headers=auth, timeout=30)
    assert meta.status_code == 200 and meta.headers["content-type"].startswith("application/x-ndjson")
    assert meta.headers["delta-table-version"] == "1"
    protocol, metadata = (json.loads(line) for line in meta.text.splitlines())
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    assert [f["name"] for f in json.loads(metadata["metaData"]["schemaString"])["fields"]] == LEVEL1
    answer = _query(api, token, share, schema, table)
    assert answer.status_code == 200 and answer.headers["delta-table-version"] == "1"
    lines = [json.loads(line) for line in answer.text.splitlines()]
    files = [line["file"] for line in lines[2:]]
    assert [next(iter(line)) for line in lines[:2]] == ["protocol", "metaData"] and len(files) == 1
    assert json.loads(files[0]["stats"])["numRecords"] == len(ROWS)
    # Paging: a page of one, and no next page; maxResults 0 is refused (its token would loop a client).
    page = requests.get(f"{api}/delta-sharing/shares", params={"maxResults": 1}, headers=auth, timeout=30).json()
    assert len(page["items"]) == 1 and "nextPageToken" not in page
    zero = requests.get(f"{api}/delta-sharing/shares", params={"maxResults": 0}, headers=auth, timeout=30)
    assert zero.status_code == 400 and zero.json()["errorCode"] == "INVALID_PARAMETER_VALUE"
    # Unknown table of the share: 404 in the protocol's shape; a table of no share: refused.
    missing = requests.get(
        f"{api}/delta-sharing/shares/{share}/schemas/{schema}/tables/nope/metadata", headers=auth, timeout=30
    )
    assert missing.status_code == 404 and missing.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"


def test_after_termination_no_url_is_issued(services, api, market, people, product, buyer, tmp_path):
    agreement_id = _agreement(market, people, product)
    path, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    url = _table_url(profile, product)
    assert buyer(path, "read", url)["ok"]
    ended = requests.post(
        f"{api}/agreements/{agreement_id}/termination",
        headers={"Authorization": f"Bearer {people['guangdong'][1]}"},
        json={"reason": "the provider ends it"},
        timeout=30,
    )
    assert ended.status_code == 200, ended.text
    _refused(buyer(path, "read", url))
    _refused(buyer(path, "list"))  # listing too: the token's agreement gives no access any more
    raw = _query(
        api, profile["bearerToken"], profile["share"], product["provider"].participant_id, product["product_id"]
    )
    assert raw.status_code == 403 and "X-Amz" not in raw.text and "terminated" in raw.json()["message"]
    # Each refused call is recorded: the client's read is refused at its first call (the table's metadata).
    refused = [e for e in _entries(services, agreement_id) if e.kind == "read_refused"]
    assert [e.payload["call"] for e in refused] == ["table_metadata", "list_shares", "query"]
    assert _kinds(services, agreement_id) == ["read", "read_refused", "read_refused", "read_refused"]
    assert _reads(services, agreement_id) == 1
    # No new profile either.
    again = requests.post(
        f"{api}/agreements/{agreement_id}/sharing-profile",
        headers={"Authorization": f"Bearer {people['buyer'][1]}"},
        timeout=30,
    )
    assert again.status_code == 403, again.text
    _verified(services)


def test_after_expiry_no_url_is_issued(services, api, market, people, product, buyer, tmp_path):
    agreement_id = _agreement(market, people, product, use_days=1)
    path, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    url = _table_url(profile, product)
    assert buyer(path, "read", url)["ok"]
    # The day of use passes: the administrator moves the agreement's end into the past (its trigger
    # refuses any change of its terms, so it is set aside within this one transaction).
    with psycopg.connect(services.warehouse) as conn, conn.transaction():
        conn.execute("ALTER TABLE exchange.agreements DISABLE TRIGGER agreement_immutable")
        conn.execute(
            "UPDATE exchange.agreements SET valid_until = now() - interval '1 second' WHERE agreement_id = %s",
            (agreement_id,),
        )
        conn.execute("ALTER TABLE exchange.agreements ENABLE TRIGGER agreement_immutable")
    result = buyer(path, "read", url)
    _refused(result)
    assert "expired" in result["body"]["message"]
    _refused(buyer(path, "list"))
    assert _kinds(services, agreement_id) == ["read", "read_refused", "read_refused"]
    _verified(services)


def test_the_read_limit_holds_for_racing_queries_too(services, api, market, people, product, buyer, tmp_path):
    agreement_id = _agreement(market, people, product, max_reads=2)
    path, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    url = _table_url(profile, product)
    assert buyer(path, "read", url)["ok"] and buyer(path, "read", url)["ok"]
    third = buyer(path, "read", url)
    _refused(third)
    assert "used its 2 reads" in third["body"]["message"]
    assert buyer(path, "list")["ok"]  # the reads used up do not end the listing
    assert _kinds(services, agreement_id) == ["read", "read", "read_refused"]

    # Racing: one read left, eight queries at once: exactly one is answered.
    raced_id = _agreement(market, people, product, max_reads=2)
    _, raced = _profile(api, people["buyer"][1], raced_id, tmp_path)
    args = (api, raced["bearerToken"], raced["share"], product["provider"].participant_id, product["product_id"])
    assert _query(*args).status_code == 200
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = sorted(f.result().status_code for f in [pool.submit(_query, *args) for _ in range(8)])
    assert statuses == [200] + [403] * 7, statuses
    assert _reads(services, raced_id) == 2
    assert sorted(_kinds(services, raced_id)) == ["read"] * 2 + ["read_refused"] * 7
    _verified(services)


def test_a_presigned_url_expires_within_its_lifetime(services, api, short_api, market, people, product, tmp_path):
    agreement_id = _agreement(market, people, product)
    schema, table = product["provider"].participant_id, product["product_id"]
    _, profile = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    default = _query(api, profile["bearerToken"], profile["share"], schema, table)
    (file,) = [json.loads(line)["file"] for line in default.text.splitlines()[2:]]
    assert int(parse_qs(urlsplit(file["url"]).query)["X-Amz-Expires"][0]) == services.exchange_url_ttl_s == 300
    # The URL is signed by the exchange service's own identity, not the pipeline's or the administrator's.
    credential = parse_qs(urlsplit(file["url"]).query)["X-Amz-Credential"][0]
    assert credential.startswith(os.environ["IBDC_EXCHANGE_S3_ACCESS_KEY"] + "/")

    answer = _query(short_api, profile["bearerToken"], profile["share"], schema, table)
    assert answer.status_code == 200, answer.text
    (file,) = [json.loads(line)["file"] for line in answer.text.splitlines()[2:]]
    assert int(parse_qs(urlsplit(file["url"]).query)["X-Amz-Expires"][0]) == SHORT_TTL_S
    assert file["expirationTimestamp"] <= (time.time() + SHORT_TTL_S + 1) * 1000
    fetched = requests.get(file["url"], timeout=30)
    assert fetched.status_code == 200 and fetched.content[:4] == b"PAR1"
    time.sleep(max(0.0, file["expirationTimestamp"] / 1000 - time.time()) + 2)
    assert requests.get(file["url"], timeout=30).status_code == 403  # expired: the store refuses it


def test_another_agreements_token_cannot_read_this_ones_table(services, api, market, people, product, buyer, tmp_path):
    mine = _agreement(market, people, product)
    theirs = _agreement(market, people, product, who="other")
    _, my_profile = _profile(api, people["buyer"][1], mine, tmp_path)
    their_path, their_profile = _profile(api, people["other"][1], theirs, tmp_path)
    result = buyer(their_path, "read", _table_url(my_profile, product))
    _refused(result)
    assert my_profile["share"] in result["body"]["message"]
    assert _kinds(services, theirs) == ["read_refused"] and _kinds(services, mine) == []
    assert buyer(their_path, "read", _table_url(their_profile, product))["ok"]  # its own share it reads


def test_a_wrong_or_replaced_token_is_unauthenticated(services, api, market, people, product, buyer, tmp_path):
    agreement_id = _agreement(market, people, product)
    old_path, old = _profile(api, people["buyer"][1], agreement_id, tmp_path)
    new_path, new = _profile(api, people["buyer"][1], agreement_id, tmp_path)  # reissued: the old one is revoked
    wrong = tmp_path / "wrong.share"
    wrong.write_text(json.dumps({**json.loads(old_path.read_text()), "bearerToken": secrets.token_urlsafe(32)}))
    for path in (wrong, old_path):
        result = buyer(path, "list")
        _refused(result, 401)
        assert result["body"]["errorCode"] == "UNAUTHENTICATED"
    assert requests.get(f"{api}/delta-sharing/shares", timeout=30).status_code == 401
    assert buyer(new_path, "read", _table_url(new, product))["ok"]
    issued = [e for e in _entries(services, agreement_id) if e.kind == "sharing_token_issued"]
    assert len(issued) == 2 and issued[1].payload["revoked"] == [issued[0].payload["token_sha256"]]


def test_only_the_consumer_of_a_finalized_agreement_gets_a_profile(services, api, market, people, product):
    agreement_id = _agreement(market, people, product)
    for who, status in (("guangdong", 403), ("other", 404)):
        answer = requests.post(
            f"{api}/agreements/{agreement_id}/sharing-profile",
            headers={"Authorization": f"Bearer {people[who][1]}"},
            timeout=30,
        )
        assert answer.status_code == status, answer.text
    # A negotiation agreed but not finalized gives no profile yet.
    provider, consumer = people["guangdong"][0], people["buyer"][0]
    offer = market.make_offer(
        provider, product["product_id"], "1.0.0", OfferTerms(purposes=[Purpose.ACADEMIC_RESEARCH])
    )
    negotiation = market.request(consumer, offer.offer_id, Purpose.ACADEMIC_RESEARCH.value)
    market.advance(provider, negotiation.negotiation_id, Event.AGREE)
    (pending,) = [a for a in market.agreements(consumer) if a.negotiation_id == negotiation.negotiation_id]
    answer = requests.post(
        f"{api}/agreements/{pending.agreement_id}/sharing-profile",
        headers={"Authorization": f"Bearer {people['buyer'][1]}"},
        timeout=30,
    )
    assert answer.status_code == 403 and "not FINALIZED" in answer.json()["detail"], answer.text


# --- the whole chain: a mart built, the product published by the publisher, read by the client ---------


@pytest.fixture(scope="module")
def published(services, tmp_path_factory):
    """A scratch warehouse with a month of industrial output of every province and the monthly output mart
    built on it (as test_exchange_publish makes it); Guangdong's level-1 product of it published by
    ``ibdc.exchange.publish`` to the tests' exchange bucket; an API process serving that warehouse."""
    from ibdc.exchange import publish
    from ibdc.reference import provinces
    from ibdc.transform.dbt import run_dbt
    from tests.integration.test_exchange_publish import BUCKET, CASES, DATASET, MONTH, _page
    from tests.scratch_warehouse import load_page, pointed_at, scratch_warehouse

    with scratch_warehouse(services, "ibdc_test_sharing") as dsns:
        for code in sorted(provinces()):
            load_page(dsns["loader"], DATASET, code, MONTH, _page(code, CASES))
        target = tmp_path_factory.mktemp("dbt-target")
        with pointed_at(dsns, target):
            run_dbt(
                *("build", "--select", "provinces", "products", f"+{MART}"),
                *("--exclude", "resource_type:test", "--quiet"),
            )
        exchange_dsn = psycopg.conninfo.make_conninfo(services.exchange, dbname="ibdc_test_sharing")
        settings = services.model_copy(update={"exchange_dsn": exchange_dsn, "exchange_bucket": BUCKET})
        seaweedfs.ensure_running(settings)
        with psycopg.connect(exchange_dsn, autocommit=True) as conn:
            market = Market(conn)
            provider, _ = market.register(credit_code(), "test sharing guangdong", "440000", [Role.PROVIDER])
            consumer, key = market.register(credit_code(), "test sharing buyer", "320000", [Role.CONSUMER])
            pid = f"test-chain-{uuid.uuid4().hex[:8]}"
            product = market.list_product(
                provider, product_id=pid, version="1.0.0", mart=MART, columns=LEVEL1, province_code="440000"
            )
            publication = publish.publish(settings, product)
            people = {"guangdong": (provider, None), "buyer": (consumer, key)}
            agreement_id = _agreement(market, people, {"product_id": pid, "version": "1.0.0"})
        name, url = _start_api(settings, None, IBDC_EXCHANGE_DSN=exchange_dsn, IBDC_EXCHANGE_BUCKET=BUCKET)
        try:
            yield {
                "api": url,
                "admin": dsns["admin"],
                "product": product,
                "publication": publication,
                "agreement_id": agreement_id,
                "key": key,
                "provider": provider,
            }
        finally:
            processes.stop(name)


def test_the_client_reads_exactly_what_the_publisher_published(published, buyer, tmp_path):
    """The chain end to end: the rows the national analyst reads of the product's relation (its level-1
    columns, its province's rows) are what the standard client reads, in both response formats."""
    from tests.scratch_warehouse import query_as

    product = published["product"]
    names = ", ".join(product.columns)
    with psycopg.connect(published["admin"], autocommit=True) as admin:
        rows = query_as(
            admin,
            "ibdc_analyst_national",
            f"SELECT {names} FROM {product.relation} WHERE province_code = %s ORDER BY {names}",
            ("440000",),
        )
    expected = [dict(zip(product.columns, (str(v) for v in row), strict=True)) for row in rows]
    assert expected and {r["province_code"] for r in expected} == {"440000"}
    path, profile = _profile(published["api"], published["key"], published["agreement_id"], tmp_path)
    url = f"{profile['share']}.{published['provider'].participant_id}.{product.product_id}"
    assert buyer(path, "version", url)["version"] == published["publication"].table_version
    for action in ("read", "read-delta"):
        got = buyer(path, action, url)
        assert got["ok"], got
        assert got["columns"] == LEVEL1
        # Dates come back as dates (parquet format) or midnight timestamps (the kernel): compared as dates.
        read = [{k: str(v)[:10] if k == "period_month" else str(v) for k, v in r.items()} for r in got["rows"]]
        assert sorted(read, key=lambda r: [r[c] for c in LEVEL1]) == expected
