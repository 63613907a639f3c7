"""Publishing a data product's new version to the object store as a Delta table (issue 22, delivery).

When a mart is rebuilt (its asset, ``ibdc.assets.mart_asset``), every listed product built from it is
published again (``dags/exchange_publish.py``): its rows are read, written as a new version of the
product's Delta table, its ODCS contract put beside it, and the publication recorded in
``exchange.publications`` and the ledger (``product_published``).

**What is read, and as whom.** Exactly the product's ``columns`` from its ``relation`` (the mart, or
its ``_disclosed`` view when a column is an aggregate under disclosure control), only the rows of its
``province_code`` (every row for none), ordered by every column. The publisher connects as the market's
service role (``ibdc_exchange``, ``Settings.exchange``), which reads no mart: it calls
``exchange.publication_columns`` and ``exchange.publication_rows`` (``publication.sql``), SECURITY
DEFINER functions owned by the NOLOGIN role ``ibdc_exchange_publisher``, a member of
``ibdc_analyst_national`` and of nothing else. Inside them the database enforces the national analyst's
rights: personal columns are refused (their grant is the steward's alone), the ``_disclosed`` view's
cells are suppressed as for every reader but one holding several provinces (the view's rule reads the
cells tables; the querying role only decides ``several provinces``, which the publisher is not), and
nothing of raw or staging is reachable. Before reading, the product's columns are checked again against
the dbt manifest (:func:`check_columns`): a column since graded personal, level 3, unclassified or never
disclosed, or a relation that is no longer the one the columns are served from, stops the publication
(list a new version).

**Types.** Each column keeps its PostgreSQL type as Arrow's (:func:`arrow_type`): ``numeric(p,s)`` is
``decimal128(p,s)``, an unconstrained ``numeric`` ``decimal128(38,18)`` (a value with more places fails
rather than being rounded), ``date`` ``date32``, ``timestamptz`` ``timestamp[us, UTC]``, integers and
booleans as theirs, text as string; any other type stops the publication.

**Where** (:func:`location`): ``s3://<exchange_bucket>/products/<product_id>/<version>`` is the Delta
table (``_delta_log/`` and Parquet files); ``contract.json`` beside its data files, in the same prefix,
is the product's ODCS contract as RFC 8785 canonical JSON. A publication is one ``overwrite`` commit,
so the table's versions are the product version's publications (time travel reads earlier ones; nothing
is vacuumed: a vacuum would also remove ``contract.json``, which the Delta log does not track).

**Idempotent.** The rows' SHA-256 (of their Arrow IPC stream, the schema included) goes into the
commit's metadata (``ibdc.content_sha256``) and into ``exchange.publications``. Publishing rows equal to
the table's latest version's writes nothing and records nothing (:attr:`Publication.unchanged`); a
commit that was made but not recorded (a crash between the two) is recorded by the next publication
instead of being written again.

**One publisher per product version at a time**: a PostgreSQL advisory lock on the product version is
held from the read to the record. The Delta commit itself is made safe on S3 by delta-rs 1.x's
conditional put (``If-None-Match: *`` on the log entry, ``aws_conditional_put=etag``): two writers of
one version never both succeed; the unsafe rename (``AWS_S3_ALLOW_UNSAFE_RENAME``) is not used.

**S3 keys.** The publisher writes with the pipeline's keys (``IBDC_S3_ACCESS_KEY``, which the workers
hold); the exchange service's own identity (``IBDC_EXCHANGE_S3_*``) only reads and lists the exchange
bucket (``dev/ibdc_dev/localstack/seaweedfs.py``), to presign the URLs of a Delta Sharing answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import psycopg
import pyarrow as pa
import rfc8785
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from ibdc.asset_uris import mart_of_asset_uri
from ibdc.exchange import contracts, ledger
from ibdc.exchange.errors import ExchangeError
from ibdc.exchange.market import Market
from ibdc.exchange.models import Product
from ibdc.settings import Settings

PREFIX = "products"
CONTRACT_FILE = "contract.json"
ACTOR = "operator:publisher"  # the ledger's actor of a publication: the platform, on the asset's event
CONTENT_KEY = "ibdc.content_sha256"  # in each commit's metadata
UNCONSTRAINED_NUMERIC = pa.decimal128(38, 18)


class Publication(BaseModel):
    """A product version's publication (a row of ``exchange.publications``). ``unchanged``: nothing was
    written nor recorded now, the rows being those of the table's latest version (this is its record)."""

    model_config = ConfigDict(frozen=True)

    publication_id: uuid.UUID
    product_id: str
    version: str
    table_version: int
    location: str
    contract_location: str
    relation: str
    columns: list[str]
    province_code: str | None
    rows: int
    bytes: int
    files: int
    content_sha256: str
    contract_sha256: str
    ledger_seq: int
    published_at: datetime
    unchanged: bool = False


# --- where ------------------------------------------------------------------------------------------------


def location(settings: Settings, product_id: str, version: str) -> str:
    """The product version's Delta table: ``s3://<exchange_bucket>/products/<product_id>/<version>``."""
    return f"s3://{settings.exchange_bucket}/{PREFIX}/{product_id}/{version}"


def contract_key(product_id: str, version: str) -> str:
    """The contract's object key in the exchange bucket, beside the table's files."""
    return f"{PREFIX}/{product_id}/{version}/{CONTRACT_FILE}"


def storage_options(settings: Settings, access_key: str | None = None, secret_key: str | None = None) -> dict:
    """delta-rs' options for the settings' S3 endpoint (default keys: the pipeline's). Path-style
    addressing at a custom endpoint; plain HTTP allowed when the endpoint is http (the local stack);
    commits by conditional put (``If-None-Match``: SeaweedFS and MinIO honour it), never by unsafe rename."""
    endpoint = settings.s3
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true" if endpoint.startswith("http://") else "false",
        "AWS_REGION": settings.s3_region,
        "AWS_ACCESS_KEY_ID": access_key or settings.s3_access_key or "",
        "AWS_SECRET_ACCESS_KEY": secret_key or settings.s3_secret_key or "",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_CONDITIONAL_PUT": "etag",
    }


# --- types --------------------------------------------------------------------------------------------------

_SIMPLE = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "date": pa.date32(),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "timestamp without time zone": pa.timestamp("us"),
    "double precision": pa.float64(),
    "real": pa.float32(),
}
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")
_TEXT = re.compile(r"(character varying|character)(\(\d+\))?")


def arrow_type(data_type: str) -> pa.DataType:
    """The Arrow type a column of PostgreSQL type ``data_type`` (``format_type``'s text) is published as;
    :class:`ExchangeError` for a type not published."""
    if data_type in _SIMPLE:
        return _SIMPLE[data_type]
    if data_type == "numeric":
        return UNCONSTRAINED_NUMERIC
    found = _NUMERIC.fullmatch(data_type)
    if found and int(found[1]) <= 38:
        return pa.decimal128(int(found[1]), int(found[2]))
    if _TEXT.fullmatch(data_type):
        return pa.string()
    raise ExchangeError(f"a column of type {data_type} is not published (no exact Delta type)", "column_type")


# --- the gate, again ---------------------------------------------------------------------------------------


def check_columns(product: Product, manifest: dict | None = None) -> None:
    """Refuse (:class:`ExchangeError`, rule ``publish_gate``) a product whose columns the gate would no longer
    list from the mart as the dbt manifest describes it now: personal data, level 3, unclassified, never
    disclosed, or a relation other than the one its columns are served from."""
    manifest = manifest if manifest is not None else contracts.load_manifest()
    classes = contracts.mart_columns(manifest, product.mart)
    for name in product.columns:
        column = classes.get(name)
        why = (
            "is no longer a column of the mart"
            if column is None
            else "is personal data"
            if column.personal
            else "declares no security level"
            if column.level is None
            else "is security level 3"
            if column.level >= 3
            else "is never disclosed to the exchange"
            if column.never_disclosed
            else ""
        )
        if why:
            raise ExchangeError(f"{product.mart}.{name} {why}: {_subject(product)} is not published", "publish_gate")
    served = contracts.served_relation(manifest, product.mart, product.columns)
    if served != product.relation:
        raise ExchangeError(
            f"{_subject(product)} reads {product.relation}, but its columns are served from {served} now:"
            " list a new version",
            "publish_gate",
        )


# --- reading -------------------------------------------------------------------------------------------------


def read_rows(conn: psycopg.Connection, product: Product) -> pa.Table:
    """The product's rows as an Arrow table of its columns (exact types), through ``exchange.publication_rows``
    (as the national analyst: module docstring), in one read-only snapshot."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        columns = cur.execute(
            "SELECT column_name, data_type FROM exchange.publication_columns(%s, %s)",
            (product.product_id, product.version),
        ).fetchall()
        missing = [name for name, data_type in columns if data_type is None]
        if missing:
            raise ExchangeError(f"{product.relation} has no column {', '.join(missing)}", "publish_gate")
        schema = pa.schema([pa.field(name, arrow_type(data_type)) for name, data_type in columns])
        definition = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(_type_sql(data_type))) for name, data_type in columns
        )
        cur.execute(
            sql.SQL("SELECT * FROM exchange.publication_rows(%s, %s) AS t ({})").format(definition),
            (product.product_id, product.version),
        )
        rows = cur.fetchall()
    names = [name for name, _ in columns]
    return pa.Table.from_pydict(
        {name: [row[i] for row in rows] for i, name in enumerate(names)},
        schema=schema,
    )


_TYPE_SQL = re.compile(r"[a-z ]+(\(\d+(,\d+)?\))?")


def _type_sql(data_type: str) -> str:
    """``format_type``'s text, checked to be a plain type name (it goes into the statement as SQL)."""
    if not _TYPE_SQL.fullmatch(data_type):
        raise ExchangeError(f"unexpected column type {data_type!r}", "column_type")
    return data_type


def content_sha256(table: pa.Table) -> str:
    """SHA-256 of the table's Arrow IPC stream (schema and rows): equal rows, equal digest."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue()).hexdigest()


def contract_bytes(product: Product) -> bytes:
    """The product's ODCS contract as published beside the table: RFC 8785 canonical JSON."""
    return rfc8785.dumps(product.contract)


# --- publishing ----------------------------------------------------------------------------------------------


def publish(settings: Settings, product: Product, *, manifest: dict | None = None) -> Publication:
    """Publish ``product``'s rows as a new version of its Delta table, its contract beside it, recorded in
    ``exchange.publications`` and the ledger; or nothing new when its rows are the latest version's
    (the publication returned has ``unchanged``). Raises :class:`ExchangeError` (rule ``withdrawn``,
    ``publish_gate``, ``column_type``) for what is not published."""
    if product.withdrawn_at is not None:
        raise ExchangeError(f"{_subject(product)} was withdrawn: not published", "withdrawn")
    check_columns(product, manifest)
    with psycopg.connect(settings.exchange, autocommit=True) as conn, _product_lock(conn, product):
        table = read_rows(conn, product)
        digest = content_sha256(table)
        where = location(settings, product.product_id, product.version)
        options = storage_options(settings)
        latest = _latest_commit(where, options)
        recorded = _latest_publication(conn, product)
        if latest is not None and latest[1] == digest:
            if recorded is not None and recorded.table_version == latest[0]:
                return recorded.model_copy(update={"unchanged": True})
            table_version = latest[0]  # written, not recorded (a crash in between): record it now
        else:
            table_version = _write(where, table, options, product, digest)
        document = contract_bytes(product)
        _put_contract(settings, product, document)
        return _record(conn, product, where, table, table_version, digest, document, options, settings)


def publish_product(settings: Settings, product_id: str, version: str | None = None) -> Publication:
    """:func:`publish` of the product version (default: its latest listed)."""
    return publish(settings, load_product(settings, product_id, version))


def publish_mart(settings: Settings, mart: str) -> list[Publication]:
    """Publish every listed, not withdrawn product version built from ``mart``."""
    return [publish_product(settings, pid, version) for pid, version in products_of_marts(settings, [mart])]


def load_product(settings: Settings, product_id: str, version: str | None = None) -> Product:
    """The product version (default: its latest listed): :meth:`Market.product` on a connection of its own."""
    with psycopg.connect(settings.exchange, autocommit=True) as conn:
        return Market(conn).product(product_id, version)


def products_of_marts(settings: Settings, marts: Iterable[str] | None) -> list[tuple[str, str]]:
    """(product_id, version) of every listed, not withdrawn product version built from one of ``marts``
    (every mart for None), in order."""
    chosen = None if marts is None else sorted(set(marts))
    with psycopg.connect(settings.exchange, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT product_id, version FROM exchange.products WHERE withdrawn_at IS NULL"
            " AND (%(marts)s::text[] IS NULL OR mart = ANY(%(marts)s::text[]))"
            " ORDER BY product_id, string_to_array(version, '.')::int[]",
            {"marts": chosen},
        ).fetchall()
    return [(pid, version) for pid, version in rows]


def marts_of_events(triggering_asset_events: Any) -> list[str] | None:
    """The marts whose asset events triggered a run (``triggering_asset_events``: asset -> events, as the
    Task SDK hands it, or anything with asset URIs as keys); None for a run no event triggered (manual:
    every product is published)."""
    if not triggering_asset_events:
        return None
    found = set()
    for asset in triggering_asset_events:  # Asset (uri) or AssetAlias (none)
        uri = getattr(asset, "uri", asset)
        mart = mart_of_asset_uri(str(uri))
        if mart:
            found.add(mart)
    return sorted(found)


def latest_publications(conn: psycopg.Connection, product_id: str, version: str, limit: int = 10) -> list[Publication]:
    """The product version's publications, the latest first."""
    rows = (
        conn.cursor(row_factory=dict_row)
        .execute(
            "SELECT * FROM exchange.publications WHERE product_id = %s AND version = %s"
            " ORDER BY table_version DESC LIMIT %s",
            (product_id, version, limit),
        )
        .fetchall()
    )
    return [Publication.model_validate(row) for row in rows]


# --- helpers -------------------------------------------------------------------------------------------------


def _subject(product: Product) -> str:
    return f"{product.product_id}@{product.version}"


@contextlib.contextmanager
def _product_lock(conn: psycopg.Connection, product: Product) -> Iterator[None]:
    """One publisher of a product version at a time (a session advisory lock; waits for the other)."""
    key = f"ibdc.exchange.publish:{_subject(product)}"
    conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


def _latest_commit(where: str, options: dict) -> tuple[int, str | None] | None:
    """(version, content digest of its commit) of the table's latest version; None when there is no table."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(where, storage_options=options)
    except TableNotFoundError:
        return None
    history = table.history(1)
    info = history[0] if history else {}
    return table.version(), info.get(CONTENT_KEY)


def _write(where: str, table: pa.Table, options: dict, product: Product, digest: str) -> int:
    """Overwrite the table with ``table``'s rows (schema too): one commit; its version."""
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    write_deltalake(
        where,
        table,
        mode="overwrite",
        schema_mode="overwrite",
        name=product.product_id,
        description=f"IBDC data product {_subject(product)} ({product.relation})",
        storage_options=options,
        commit_properties=CommitProperties(
            custom_metadata={
                CONTENT_KEY: digest,
                "ibdc.product": _subject(product),
                "ibdc.relation": product.relation,
            }
        ),
    )
    return DeltaTable(where, storage_options=options).version()


def _put_contract(settings: Settings, product: Product, document: bytes) -> None:
    from ibdc.landing import object_store

    mc = object_store.client(settings)
    mc.put_object(
        settings.exchange_bucket,
        contract_key(product.product_id, product.version),
        io.BytesIO(document),
        len(document),
        content_type="application/json",
    )


def _files(where: str, options: dict, table_version: int) -> tuple[int, int]:
    """(files, bytes) of the data files of ``table_version``."""
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(where, version=table_version, storage_options=options).get_add_actions(flatten=True))
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    return len(sizes), sum(sizes)


def _latest_publication(conn: psycopg.Connection, product: Product) -> Publication | None:
    found = latest_publications(conn, product.product_id, product.version, limit=1)
    return found[0] if found else None


def _record(
    conn: psycopg.Connection,
    product: Product,
    where: str,
    table: pa.Table,
    table_version: int,
    digest: str,
    document: bytes,
    options: dict,
    settings: Settings,
) -> Publication:
    files, size = _files(where, options, table_version)
    contract_at = f"s3://{settings.exchange_bucket}/{contract_key(product.product_id, product.version)}"
    contract_digest = hashlib.sha256(document).hexdigest()
    publication_id = uuid.uuid4()
    payload = {
        "publication_id": publication_id,
        "table_version": table_version,
        "location": where,
        "contract_location": contract_at,
        "relation": product.relation,
        "columns": product.columns,
        "province_code": product.province_code,
        "rows": table.num_rows,
        "bytes": size,
        "files": files,
        "content_sha256": digest,
        "contract_sha256": contract_digest,
    }
    with conn.transaction():
        entry = ledger.append(conn, ledger.EntryKind.PRODUCT_PUBLISHED, ACTOR, _subject(product), payload)
        row = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "INSERT INTO exchange.publications (publication_id, product_id, version, table_version, location,"
                " contract_location, relation, columns, province_code, rows, bytes, files, content_sha256,"
                " contract_sha256, ledger_seq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING *",
                (
                    publication_id,
                    product.product_id,
                    product.version,
                    table_version,
                    where,
                    contract_at,
                    product.relation,
                    product.columns,
                    product.province_code,
                    table.num_rows,
                    size,
                    files,
                    digest,
                    contract_digest,
                    entry.seq,
                ),
            )
            .fetchone()
        )
    return Publication.model_validate(row)
