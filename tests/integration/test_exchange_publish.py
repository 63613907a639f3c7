"""Publishing data products as Delta tables (issue 22, delivery), on the local stack.

A scratch warehouse (``ibdc_test_publish``) holds a constructed month of industrial output of every
province (so national figures are complete) and mart_industrial_output_monthly built on it, plus
dim_enterprise (empty: its grants are what matters). Guangdong's centre lists two products of its rows,
the operator approving their level-2 columns: one of the mart's own columns (output_value, a numeric),
one of national figures served from the ``_disclosed`` view. Each is published to a bucket of the
tests' own (``ibdc-exchange-test``) and read back with deltalake from S3: exactly its columns, exactly
its province's rows, values equal to the relation's as a national analyst reads it, suppressed cells
NULL (the unsuppressed mart has them: the control); the contract beside it; the ledger's entry. A rebuild
with changed rows publishes a new table version; unchanged rows publish none. The exchange service's S3
identity reads and presigns the bucket, and neither writes nor reads another. The database, not only
the Python gate, refuses a personal column to the publisher.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import uuid
from datetime import date
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
import requests
from minio.error import S3Error
from psycopg.conninfo import make_conninfo

from ibdc import uscc
from ibdc.exchange import ledger, publish
from ibdc.exchange.errors import Refused
from ibdc.exchange.market import Market
from ibdc.exchange.models import Role
from ibdc.landing import object_store
from ibdc.parsing.base import PageRows
from ibdc.reference import provinces
from ibdc.transform.dbt import run_dbt
from tests.scratch_warehouse import load_page, output_page, pointed_at, query_as, scratch_warehouse

pytestmark = pytest.mark.integration

SCRATCH = "ibdc_test_publish"
BUCKET = "ibdc-exchange-test"
MART = "mart_industrial_output_monthly"
DATASET = "industrial_output"
MONTH = "2023-08"
PROVINCE = "440000"
NATIONAL = "ibdc_analyst_national"
# product -> {province: output in the month}: crude steel has 2 producers (suppressed: frequency), pig
# iron one dominant (suppressed: dominance), steel products 3 equal (shown).
CASES = {
    "crude_steel": {"110000": "100", "440000": "40.5"},
    "steel_products": {"110000": "50", "320000": "50", "440000": "50.25"},
    "pig_iron": {"130000": "900", "110000": "50", "440000": "50"},
}
OWN = ["province_code", "period_month", "product_code", "unit_code", "months_covered", "loaded_at", "output_value"]
DISCLOSED = ["province_code", "period_month", "product_code", "national_output_value", "national_share"]


def _page(province: str, cases: dict) -> PageRows:
    return output_page(province, MONTH, cases, ytd_months=8)


def credit_code() -> str:
    first17 = "9" + "".join(secrets.choice(uscc.CHARSET) for _ in range(16))
    return first17 + uscc.check_digit(first17)


@pytest.fixture(scope="module")
def scratch(services, tmp_path_factory):
    with scratch_warehouse(services, SCRATCH) as dsns:
        for code in sorted(provinces()):
            load_page(dsns["loader"], DATASET, code, MONTH, _page(code, CASES))
        target = tmp_path_factory.mktemp("dbt-target")
        with pointed_at(dsns, target):
            run_dbt(
                *("build", "--select", "provinces", "products", f"+{MART}", "+dim_enterprise"),
                *("--exclude", "resource_type:test", "--quiet"),
            )
        dsns["exchange"] = make_conninfo(services.exchange, dbname=SCRATCH)
        dsns["dbt_target"] = str(target)
        yield dsns


@pytest.fixture(scope="module")
def settings(services, scratch):
    """The platform's settings publishing from the scratch warehouse to the tests' exchange bucket (made,
    and granted to the exchange service's identity, as ``ibdc-dev up`` does the user's)."""
    from ibdc_dev.localstack import seaweedfs

    mine = services.model_copy(update={"exchange_dsn": scratch["exchange"], "exchange_bucket": BUCKET})
    seaweedfs.ensure_running(mine)
    return mine


@pytest.fixture(scope="module")
def admin(scratch):
    with psycopg.connect(scratch["admin"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def market(scratch):
    with psycopg.connect(scratch["exchange"], autocommit=True) as conn:
        yield Market(conn)


@pytest.fixture(scope="module")
def listed(market):
    """Guangdong's two products (the operator approving their level-2 columns): name -> Product."""
    operator, _ = market.register(credit_code(), "test operator", None, [Role.OPERATOR])
    centre, _ = market.register(credit_code(), "test guangdong", PROVINCE, [Role.PROVIDER])
    made = {}
    for name, columns in (("own", OWN), ("disclosed", DISCLOSED)):
        pid = f"test-{name}-{uuid.uuid4().hex[:8]}"
        args = {"product_id": pid, "version": "1.0.0", "mart": MART, "columns": columns, "province_code": PROVINCE}
        try:
            made[name] = market.list_product(centre, **args)
        except Refused as refusal:
            assert refusal.rule == "level2_not_approved"
            for approval in market.approvals(operator, pending_only=True):
                if approval.provider_id == centre.participant_id:
                    market.decide(operator, approval.approval_id, True, "test: approved")
            made[name] = market.list_product(centre, **args)
    assert made["own"].relation == f"marts.{MART}"
    assert made["disclosed"].relation == f"marts.{MART}_disclosed"
    return made


def _read_back(settings, publication, version: int | None = None) -> pa.Table:
    from deltalake import DeltaTable

    table = DeltaTable(publication.location, version=version, storage_options=publish.storage_options(settings))
    return pa.table(table.to_pyarrow_table())


def _relation_rows(admin, product) -> list[dict]:
    """The product's rows as the national analyst reads its relation (what a buyer may get)."""
    names = ", ".join(product.columns)
    query = f"SELECT {names} FROM {product.relation} WHERE province_code = %s ORDER BY {names}"
    return [dict(zip(product.columns, row, strict=True)) for row in query_as(admin, NATIONAL, query, (PROVINCE,))]


def test_a_product_is_published_with_exactly_its_columns_rows_and_values(settings, admin, listed):
    product = listed["own"]
    publication = publish.publish(settings, product)
    assert not publication.unchanged and publication.table_version == 0
    assert publication.location == f"s3://{BUCKET}/products/{product.product_id}/1.0.0"
    table = _read_back(settings, publication)
    assert table.column_names == OWN  # no other column
    assert table.schema.field("output_value").type == pa.decimal128(38, 18)  # numeric stays decimal
    assert table.schema.field("period_month").type == pa.date32()
    assert table.schema.field("loaded_at").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert {r["province_code"] for r in rows} == {PROVINCE}  # its province's rows only
    assert rows == _relation_rows(admin, product)  # every one of them, values equal
    assert len(rows) == len(CASES) == publication.rows
    assert publication.bytes > 0 and publication.files >= 1
    crude = next(r for r in rows if r["product_code"] == "crude_steel")
    assert crude["output_value"] == Decimal("40.5") and crude["period_month"] == date(2023, 8, 1)


def test_suppressed_cells_are_null_in_a_disclosed_product(settings, admin, listed):
    product = listed["disclosed"]
    publication = publish.publish(settings, product)
    table = _read_back(settings, publication)
    assert table.column_names == DISCLOSED and table.num_rows == len(CASES) == publication.rows
    assert set(table.column("province_code").to_pylist()) == {PROVINCE}
    rows = {r["product_code"]: r for r in table.to_pylist()}
    assert set(rows) == set(CASES)
    for suppressed in ("crude_steel", "pig_iron"):
        assert rows[suppressed]["national_output_value"] is None and rows[suppressed]["national_share"] is None
    assert rows["steel_products"]["national_output_value"] == Decimal("150.25")
    assert list(rows.values()) == _relation_rows(admin, product)
    # The control: the unsuppressed mart has the figures the product does not.
    (total,) = admin.execute(
        f"SELECT national_output_value FROM marts.{MART} WHERE product_code = 'crude_steel' AND province_code = %s",
        (PROVINCE,),
    ).fetchone()
    assert total == Decimal("140.5")


def test_the_contract_beside_the_table_is_the_products(settings, listed):
    product = listed["own"]
    publication = publish.publish(settings, product)
    assert publication.contract_location == f"{publication.location}/contract.json"
    mc = object_store.client(settings)
    body = mc.get_object(BUCKET, publish.contract_key(product.product_id, product.version)).read()
    assert json.loads(body) == product.contract


def test_unchanged_rows_publish_no_new_version_a_rebuild_does(settings, scratch, admin, listed, market):
    product = listed["own"]
    first = publish.publish(settings, product)
    again = publish.publish(settings, product)
    assert again.unchanged and again.table_version == first.table_version
    changed = {**CASES, "crude_steel": {"110000": "100", "440000": "41.75"}}
    load_page(scratch["loader"], DATASET, PROVINCE, MONTH, _page(PROVINCE, changed))
    with pointed_at(scratch, scratch["dbt_target"]):
        run_dbt("run", "--select", MART, "--quiet")
    try:
        newer = publish.publish(settings, product)
        assert not newer.unchanged and newer.table_version == first.table_version + 1
        rows = {r["product_code"]: r for r in _read_back(settings, newer).to_pylist()}
        assert rows["crude_steel"]["output_value"] == Decimal("41.75")
        earlier = {r["product_code"]: r for r in _read_back(settings, newer, first.table_version).to_pylist()}
        assert earlier["crude_steel"]["output_value"] == Decimal("40.5")  # time travel: the earlier publication
        kinds = [
            (e.kind, e.payload["table_version"])
            for e in ledger.entries(market.conn, subject=f"{product.product_id}@1.0.0", limit=100)
            if e.kind == ledger.EntryKind.PRODUCT_PUBLISHED
        ]
        assert kinds == [("product_published", first.table_version), ("product_published", newer.table_version)]
        (seq,) = admin.execute(
            "SELECT ledger_seq FROM exchange.publications WHERE product_id = %s AND table_version = %s",
            (product.product_id, newer.table_version),
        ).fetchone()
        assert seq == newer.ledger_seq
    finally:
        load_page(scratch["loader"], DATASET, PROVINCE, MONTH, _page(PROVINCE, CASES))
        with pointed_at(scratch, scratch["dbt_target"]):
            run_dbt("run", "--select", MART, "--quiet")


def test_the_exchange_service_identity_reads_the_bucket_and_nothing_else(settings, listed):
    from ibdc_dev.localstack.seaweedfs import EXCHANGE_KEYS, Keys

    product = listed["own"]
    publish.publish(settings, product)
    keys = Keys.from_env(EXCHANGE_KEYS)
    reader = object_store.client(settings, keys.access_key, keys.secret_key)
    key = publish.contract_key(product.product_id, product.version)
    assert json.loads(reader.get_object(BUCKET, key).read()) == product.contract
    url = reader.presigned_get_object(BUCKET, key)
    assert requests.get(url, timeout=10).status_code == 200
    assert any(
        o.object_name.startswith(f"products/{product.product_id}/")
        for o in reader.list_objects(BUCKET, "products/", recursive=True)
    )
    with pytest.raises(S3Error) as denied:
        reader.put_object(BUCKET, f"products/{product.product_id}/planted.json", io.BytesIO(b"{}"), 2)
    assert denied.value.code == "AccessDenied"
    for other in (settings.raw_bucket, settings.docs_bucket):
        with pytest.raises(S3Error) as denied:
            list(reader.list_objects(other))
        assert denied.value.code == "AccessDenied"
    with pytest.raises(S3Error) as denied:
        reader.put_object(settings.raw_bucket, "planted.json", io.BytesIO(b"{}"), 2)
    assert denied.value.code == "AccessDenied"


def test_the_database_refuses_a_personal_column_to_the_publisher(settings, scratch, listed):
    """A product row written past the gate (the service role may insert one) still reads no personal data:
    the publisher is a national analyst, and only the steward is granted the personal columns."""
    pid = f"test-personal-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(scratch["exchange"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO exchange.products (product_id, version, provider_id, mart, relation, columns, province_code,"
            " contract, asset_uri) VALUES (%s, '1.0.0', %s, 'dim_enterprise', 'marts.dim_enterprise', %s, NULL,"
            " '{}', 'ibdc://warehouse/marts/dim_enterprise')",
            (pid, listed["own"].provider_id, ["uscc", "legal_representative"]),
        )
        product = publish.load_product(settings, pid, "1.0.0")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            publish.read_rows(conn, product)
        # ... and a relation that is not the mart nor its _disclosed view is refused outright.
        conn.execute(
            "INSERT INTO exchange.products (product_id, version, provider_id, mart, relation, columns, province_code,"
            " contract, asset_uri) VALUES (%s, '1.0.1', %s, 'dim_enterprise', 'raw.enterprise_registry', %s, NULL,"
            " '{}', 'ibdc://warehouse/marts/dim_enterprise')",
            (pid, listed["own"].provider_id, ["uscc"]),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="its mart or the mart's _disclosed view"):
            publish.read_rows(conn, publish.load_product(settings, pid, "1.0.1"))
    with pytest.raises(Exception, match="personal data"):
        publish.publish(settings, product)  # the Python gate refuses it first


@pytest.mark.parametrize(
    ("columns", "province", "record", "why"),
    [
        (["province_code", "period_month", "output_ytd"], "440000", True, "neither level 1 nor approved"),
        (["province_code", "period_month", "product_code"], None, True, "own province"),
        (["province_code", "period_month", "product_code"], "440000", False, "no listing in the ledger"),
    ],
    ids=["unapproved-level-2", "every-province-by-a-province", "not-in-the-ledger"],
)
def test_a_product_written_past_the_gate_publishes_nothing_the_market_did_not_decide(
    settings, scratch, listed, columns, province, record, why
):
    """The service role's credentials used directly (a product row inserted, even with a ledger entry of
    its own making): the publisher's functions check the gate again from the database's own facts."""
    pid = f"test-past-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(scratch["exchange"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO exchange.products (product_id, version, provider_id, mart, relation, columns, province_code,"
            " contract, asset_uri) VALUES (%s, '1.0.0', %s, %s, %s, %s, %s, '{}', 'ibdc://warehouse/marts/x')",
            (pid, listed["own"].provider_id, MART, f"marts.{MART}", columns, province),
        )
        if record:
            ledger.append(conn, ledger.EntryKind.PRODUCT_LISTED, "forger", f"{pid}@1.0.0", {"forged": True})
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=why):
            publish.read_rows(conn, publish.load_product(settings, pid, "1.0.0"))


def test_the_cli_publishes_a_product_and_refuses_a_version_without_product(settings, scratch, listed):
    product = listed["disclosed"]
    env = {**os.environ, "IBDC_EXCHANGE_DSN": scratch["exchange"], "IBDC_EXCHANGE_BUCKET": BUCKET}
    base = [sys.executable, "-m", "ibdc.cli", "exchange", "publish"]
    done = subprocess.run(
        [*base, "--product", product.product_id, "--version", "1.0.0"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    (printed,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert printed["product_id"] == product.product_id and printed["location"].startswith(f"s3://{BUCKET}/")
    refused = subprocess.run([*base, "--version", "1.0.0"], capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 3 and "refused (arguments)" in refused.stderr
