"""Delivery to buyers through the Delta Sharing protocol (REST, bearer tokens, presigned URLs), served
by the exchange API under :data:`PREFIX` so that the standard ``delta-sharing`` client reads a product
with a profile file (``POST /agreements/{id}/sharing-profile`` gives the consumer one).

The protocol is delta-io/delta-sharing's ``PROTOCOL.md``: list shares, get share, list schemas, list
tables, list all tables, table version (GET ``.../version``, and the deprecated HEAD), table metadata
and the query (``POST .../query``), answered in the ``parquet`` response format, or the ``delta`` one
when the client's ``delta-sharing-capabilities`` header asks for it alone (the client's kernel path);
errors as ``{"errorCode", "message"}``.

What a token sees (one agreement: :func:`share_name`):

- share ``agreement-<agreement id>`` (one share per agreement: a token lists exactly one),
- schema: the product's provider (its unified social credit code),
- table: the product id (ids have no dot), served from the product version's latest publication in
  ``exchange.publications`` (a Delta table in the exchange bucket, ``ibdc.exchange.publish``), read with
  ``deltalake`` at that publication's table version.

Tokens (``sharing.sql``): only a token's SHA-256 is kept; it belongs to one agreement and expires with
it (the agreement's ``valid_until``); issuing a profile again revokes the one before (401 after). A
token unknown or revoked is 401; a call on a share it does not hold is 403.

Reads: an answered query is a read. Its decision is ``Market.access`` taken under the agreement's row
lock (``SELECT ... FOR UPDATE``), and the count going up and the ledger's ``read`` entry commit in that
same transaction, so that two racing queries cannot both take the last read. A refused query (the
agreement terminated, expired, not finalized, its reads used up; a share the token does not hold) is
a ``read_refused`` entry and a 403, and no URL is sent. Listing and metadata calls are not reads: they
are refused (403) once the agreement is terminated or expired, not when its reads are used up; every
refused call is a ``read_refused`` entry naming the call (the standard client's read begins with the
table's metadata, where a terminated agreement's read is refused). Writing transactions take the
market's own lock first (``Market._write``) when it has one.

The files' URLs are presigned (minio SDK) with the exchange service's own S3 identity
(``IBDC_EXCHANGE_S3_ACCESS_KEY``: it reads the products' bucket only), each valid
``exchange_url_ttl_s`` seconds (300 by default): a URL issued before a termination works until then.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from pydantic import BaseModel

from ibdc.exchange import ledger, publish
from ibdc.exchange.errors import NotFound, Refused
from ibdc.exchange.market import Market
from ibdc.exchange.models import Agreement, Negotiation, Offer, Participant
from ibdc.landing import object_store
from ibdc.settings import Settings, get_settings

log = logging.getLogger(__name__)
PREFIX = "/delta-sharing"
NDJSON = "application/x-ndjson; charset=utf-8"
CAPABILITIES = "delta-sharing-capabilities"
TABLE_VERSION = "Delta-Table-Version"
PARQUET, DELTA = "parquet", "delta"

router = APIRouter(tags=["delta sharing"])


class SharingError(Exception):
    """A Delta Sharing error: answered as ``{"errorCode", "message"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _unauthenticated(message: str) -> SharingError:
    return SharingError(401, "UNAUTHENTICATED", message)


def _denied(message: str) -> SharingError:
    return SharingError(403, "PERMISSION_DENIED", message)


def _missing(message: str) -> SharingError:
    return SharingError(404, "RESOURCE_DOES_NOT_EXIST", message)


def _invalid(message: str) -> SharingError:
    return SharingError(400, "INVALID_PARAMETER_VALUE", message)


async def _answer_error(request: Request, error: SharingError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return JSONResponse({"errorCode": error.code, "message": error.message}, status_code=error.status, headers=headers)


def install(app: FastAPI) -> None:
    """Serve the protocol on ``app`` under :data:`PREFIX` (its errors in the protocol's shape)."""
    app.include_router(router, prefix=PREFIX)
    app.add_exception_handler(SharingError, _answer_error)


def _market() -> Iterator[Market]:
    from ibdc.exchange import api  # the app's pool (api imports this module: imported when called)

    yield from api.market()


MarketDep = Annotated[Market, Depends(_market)]


def token_digest(token: str) -> bytes:
    """What is kept of a sharing token: its SHA-256 (a 256-bit random token needs no slow hash)."""
    return hashlib.sha256(token.encode()).digest()


def share_name(agreement_id: UUID) -> str:
    return f"agreement-{agreement_id}"


def endpoint(settings: Settings | None = None) -> str:
    """The sharing server's URL buyers' profiles name: the public URL, else the local one, and the prefix."""
    settings = settings or get_settings()
    return (settings.exchange_public_url or settings.exchange_url).rstrip("/") + PREFIX


def _utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z`` (the profile's ``expirationTime``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rows(conn: psycopg.Connection, query: str, params: tuple) -> list[dict]:
    return conn.cursor(row_factory=dict_row).execute(query, params).fetchall()


# --- profiles and tokens ----------------------------------------------------------------------------


class SharingProfile(BaseModel):
    """A Delta Sharing profile file (``shareCredentialsVersion`` 1): save it as JSON for the client."""

    shareCredentialsVersion: int = 1
    endpoint: str
    bearerToken: str
    expirationTime: str
    share: str  # not the format's: the share the token holds (``<profile>#<share>.<schema>.<table>``)


def issue_profile(m: Market, consumer: Participant, agreement_id: UUID) -> SharingProfile:
    """A new sharing token for the consumer of a finalized, active agreement, in a profile; revokes the
    token issued before. Raises :class:`NotFound` (not the caller's), :class:`Refused` (recorded: not its
    consumer, or an agreement that gives no access)."""
    subject = str(agreement_id)
    asked = {"sharing_profile": "issue"}
    with m._refusals_recorded("request_refused", consumer.participant_id, subject, asked), m._write():
        rows = _rows(
            m.conn,
            "SELECT *, now() AS db_now FROM exchange.agreements WHERE agreement_id = %s FOR UPDATE",
            (agreement_id,),
        )
        if not rows or not m._sees(consumer, rows[0]):
            raise NotFound(f"no agreement {agreement_id}", "agreement")
        row = rows[0]
        if row["consumer_id"] != consumer.participant_id:
            raise Refused(f"only agreement {agreement_id}'s consumer receives its sharing profile", "not_consumer")
        agreement, negotiation, offer = _terms(m.conn, row)
        reason = m.access(agreement, negotiation, offer, row["db_now"], reading=False)
        if reason:
            raise Refused(reason, "no_access")
        revoked = _rows(
            m.conn,
            "UPDATE exchange.sharing_tokens SET revoked_at = now() WHERE agreement_id = %s AND revoked_at IS NULL"
            " RETURNING token_sha256",
            (agreement_id,),
        )
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        m.conn.execute(
            "INSERT INTO exchange.sharing_tokens (token_sha256, agreement_id, expires_at) VALUES (%s, %s, %s)",
            (digest, agreement_id, agreement.valid_until),
        )
        ledger.append(
            m.conn,
            ledger.EntryKind.SHARING_TOKEN_ISSUED,
            consumer.participant_id,
            subject,
            {
                "token_sha256": digest.hex(),
                "expires_at": agreement.valid_until,
                "share": share_name(agreement_id),
                "revoked": [bytes(r["token_sha256"]).hex() for r in revoked],
            },
        )
    return SharingProfile(
        endpoint=endpoint(),
        bearerToken=token,
        expirationTime=_utc_text(agreement.valid_until),
        share=share_name(agreement_id),
    )


def _terms(conn: psycopg.Connection, agreement_row: dict) -> tuple[Agreement, Negotiation, Offer]:
    negotiation = _rows(
        conn, "SELECT * FROM exchange.negotiations WHERE negotiation_id = %s", (agreement_row["negotiation_id"],)
    )[0]
    offer = _rows(conn, "SELECT * FROM exchange.offers WHERE offer_id = %s", (agreement_row["offer_id"],))[0]
    return Agreement.from_row(agreement_row), Negotiation.from_row(negotiation), Offer.from_row(offer)


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a bearer token holds: its agreement (and terms) as of the call, and the database's clock."""

    token_sha256: bytes
    expires_at: datetime
    agreement: Agreement
    negotiation: Negotiation
    offer: Offer
    now: datetime

    @property
    def share(self) -> str:
        return share_name(self.agreement.agreement_id)

    @property
    def schema(self) -> str:
        return self.agreement.provider_id

    @property
    def table(self) -> str:
        return self.agreement.product_id

    def refusal(self, m: Market, reading: bool) -> str:
        """Why the token gives no access now, or '' (``Market.access``; the token's own end too)."""
        reason = m.access(self.agreement, self.negotiation, self.offer, self.now, reading=reading)
        if not reason and self.now >= self.expires_at:
            reason = f"the sharing token expired at {self.expires_at.isoformat()}"
        return reason


def grant(request: Request, m: MarketDep) -> Grant:
    """The bearer token's grant; 401 for no token, or one unknown or revoked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("no bearer token: send 'Authorization: Bearer <token>' (the profile's bearerToken)")
    rows = _rows(
        m.conn,
        "SELECT t.token_sha256, t.expires_at, now() AS db_now, a.* FROM exchange.sharing_tokens t"
        " JOIN exchange.agreements a USING (agreement_id) WHERE t.token_sha256 = %s AND t.revoked_at IS NULL",
        (token_digest(token.strip()),),
    )
    if not rows:
        raise _unauthenticated("the bearer token is not one in force (unknown, or replaced by a newer profile)")
    row = rows[0]
    agreement, negotiation, offer = _terms(m.conn, row)
    return Grant(bytes(row["token_sha256"]), row["expires_at"], agreement, negotiation, offer, row["db_now"])


GrantDep = Annotated[Grant, Depends(grant)]


def guard(
    g: Grant,
    m: Market,
    call: str,
    share: str | None = None,
    schema: str | None = None,
    table: str | None = None,
    *,
    reading: bool = False,
) -> dict:
    """Check a call of the token: 403 when its agreement gives no access now (terminated, expired, not
    finalized; for a read, its reads used up too) or the share is not the token's, recorded in the
    ledger as ``read_refused`` (the standard client's read starts with the table's metadata: a refused
    read may be refused there); 404 for a schema or table the share does not have. Returns what the
    call asked (the ledger entries' payload)."""
    asked = {"call": call, "product": f"{g.agreement.product_id}@{g.agreement.version}"}
    asked.update({k: v[:255] for k, v in (("share", share), ("schema", schema), ("table", table)) if v is not None})
    if share is not None and share.lower() != g.share.lower():
        raise _refuse_read(m, g, asked, f"this token holds share {g.share} only, not {share[:255]!r}", "other_share")
    reason = g.refusal(m, reading=reading)
    if reason:
        raise _refuse_read(m, g, asked, reason, "no_access")
    if schema is not None and schema.lower() != g.schema.lower():
        raise _missing(f"share {g.share} has no schema {schema[:255]!r}")
    if table is not None and table.lower() != g.table.lower():
        raise _missing(f"schema {g.schema} of share {g.share} has no table {table[:255]!r}")
    return asked


# --- names and pages --------------------------------------------------------------------------------


def _page(items: list[dict], max_results: str | None, page_token: str | None) -> dict:
    """``items`` from ``pageToken`` (an offset), at most ``maxResults``, and the next page's token."""
    try:
        start = int(page_token) if page_token else 0
        size = int(max_results) if max_results is not None else None
    except ValueError:
        raise _invalid("maxResults is a positive integer, pageToken one this server returned") from None
    if start < 0 or (size is not None and size < 1):  # a page of none would hand its own token back forever
        raise _invalid("maxResults is positive and pageToken not negative")
    end = len(items) if size is None else min(len(items), start + size)
    page: dict[str, Any] = {"items": items[start:end]}
    if end < len(items):
        page["nextPageToken"] = str(end)
    return page


def _share_item(g: Grant) -> dict:
    return {"name": g.share, "id": str(g.agreement.agreement_id)}


def _table_item(g: Grant) -> dict:
    return {
        "name": g.table,
        "schema": g.schema,
        "share": g.share,
        "shareId": str(g.agreement.agreement_id),
        "id": str(_table_id(g)),
        "accessModes": ["url"],
    }


def _table_id(g: Grant) -> UUID:
    """The table's id: stable for the product version (the protocol's ``id``, a UUID)."""
    return uuid5(NAMESPACE_URL, f"urn:ibdc:product:{g.agreement.product_id}:{g.agreement.version}")


@router.get("/shares")
def list_shares(g: GrantDep, m: MarketDep, maxResults: str | None = None, pageToken: str | None = None) -> dict:  # noqa: N803
    """The token's one share (its agreement)."""
    guard(g, m, "list_shares")
    return _page([_share_item(g)], maxResults, pageToken)


@router.get("/shares/{share}")
def get_share(share: str, g: GrantDep, m: MarketDep) -> dict:
    guard(g, m, "get_share", share)
    return {"share": _share_item(g)}


@router.get("/shares/{share}/schemas")
def list_schemas(
    share: str,
    g: GrantDep,
    m: MarketDep,
    maxResults: str | None = None,  # noqa: N803
    pageToken: str | None = None,  # noqa: N803
) -> dict:
    guard(g, m, "list_schemas", share)
    return _page([{"name": g.schema, "share": g.share}], maxResults, pageToken)


@router.get("/shares/{share}/schemas/{schema}/tables")
def list_tables(
    share: str,
    schema: str,
    g: GrantDep,
    m: MarketDep,
    maxResults: str | None = None,  # noqa: N803
    pageToken: str | None = None,  # noqa: N803
) -> dict:
    guard(g, m, "list_tables", share, schema)
    return _page([_table_item(g)], maxResults, pageToken)


@router.get("/shares/{share}/all-tables")
def list_all_tables(
    share: str,
    g: GrantDep,
    m: MarketDep,
    maxResults: str | None = None,  # noqa: N803
    pageToken: str | None = None,  # noqa: N803
) -> dict:
    guard(g, m, "list_all_tables", share)
    return _page([_table_item(g)], maxResults, pageToken)


# --- the published table ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataFile:
    key: str  # the object's key in the bucket
    path: str  # as in the Delta log
    size: int
    modification_time: int
    num_records: int | None
    partition_values: tuple[tuple[str, str | None], ...]

    @property
    def file_id(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A published table version: what the protocol answers about it."""

    location: str
    bucket: str
    table_version: int
    table_id: str
    name: str | None
    description: str | None
    schema_string: str
    partition_columns: tuple[str, ...]
    configuration: tuple[tuple[str, str], ...]
    created_time: int | None
    min_reader_version: int
    min_writer_version: int
    reader_features: tuple[str, ...] | None
    writer_features: tuple[str, ...] | None
    files: tuple[DataFile, ...]


def _exchange_keys(settings: Settings) -> tuple[str, str]:
    if not (settings.exchange_s3_access_key and settings.exchange_s3_secret_key):
        raise SharingError(
            500,
            "INTERNAL_ERROR",
            "the exchange service has no S3 identity (IBDC_EXCHANGE_S3_ACCESS_KEY, IBDC_EXCHANGE_S3_SECRET_KEY)",
        )
    return settings.exchange_s3_access_key, settings.exchange_s3_secret_key


def storage_options(settings: Settings) -> dict[str, str]:
    """``deltalake``'s options for the object store, as the exchange service's own S3 identity."""
    return publish.storage_options(settings, *_exchange_keys(settings))


def _partition_text(value: Any) -> str | None:
    """A partition value as the protocol serialises it (``Partition Value Serialization``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@functools.lru_cache(maxsize=64)
def _read_snapshot(location: str, table_version: int, options: tuple[tuple[str, str], ...]) -> Snapshot:
    """The Delta log of ``location`` at ``table_version`` (a version never changes: cached)."""
    import pyarrow
    from deltalake import DeltaTable

    parts = urlsplit(location)
    if parts.scheme not in ("s3", "s3a"):
        raise RuntimeError(f"a publication's location is an s3:// URI, not {location!r}")
    bucket, prefix = parts.netloc, parts.path.strip("/")
    dt = DeltaTable(location, version=table_version, storage_options=dict(options))
    meta, protocol = dt.metadata(), dt.protocol()
    files = []
    for add in pyarrow.table(dt.get_add_actions(flatten=False)).to_pylist():
        path = add["path"]
        key = unquote(urlsplit(path).path).lstrip("/") if "://" in path else f"{prefix}/{unquote(path)}".lstrip("/")
        if "://" in path and urlsplit(path).netloc != bucket:
            raise RuntimeError(f"{location}: file {path} is outside the table's bucket")
        values = add.get("partition_values") or {}
        files.append(
            DataFile(
                key=key,
                path=path,
                size=int(add["size_bytes"]),
                modification_time=int(add["modification_time"]),
                num_records=add.get("num_records"),
                partition_values=tuple((k, _partition_text(v)) for k, v in values.items()),
            )
        )
    return Snapshot(
        location=location,
        bucket=bucket,
        table_version=dt.version(),
        table_id=meta.id,
        name=meta.name,
        description=meta.description,
        schema_string=dt.schema().to_json(),
        partition_columns=tuple(meta.partition_columns),
        configuration=tuple(sorted((meta.configuration or {}).items())),
        created_time=meta.created_time,
        min_reader_version=protocol.min_reader_version,
        min_writer_version=protocol.min_writer_version,
        reader_features=tuple(protocol.reader_features) if protocol.reader_features else None,
        writer_features=tuple(protocol.writer_features) if protocol.writer_features else None,
        files=tuple(files),
    )


def snapshot(m: Market, g: Grant) -> Snapshot:
    """The agreed product version's latest publication (``exchange.publications``), its Delta log read."""
    product, version = g.agreement.product_id, g.agreement.version
    try:
        rows = _rows(
            m.conn,
            "SELECT location, table_version FROM exchange.publications WHERE product_id = %s AND version = %s"
            " ORDER BY table_version DESC LIMIT 1",
            (product, version),
        )
    except psycopg.errors.UndefinedTable:
        rows = []
    if not rows:
        raise _missing(f"{product} {version} is not published yet: no version of its table to read")
    settings = get_settings()
    # Only where the publisher writes a product version (a publication row naming another table, written
    # past the publisher with the service role's credentials, is never served).
    if rows[0]["location"] != publish.location(settings, product, version):
        log.error("publication of %s %s names %s, not its own location", product, version, rows[0]["location"])
        raise SharingError(500, "INTERNAL_ERROR", "the product's publication is not where products are published")
    try:
        return _read_snapshot(
            rows[0]["location"], int(rows[0]["table_version"]), tuple(sorted(storage_options(settings).items()))
        )
    except SharingError:
        raise
    except Exception as error:  # the store or the log: the server's fault, never the buyer's
        # The detail (the store's address, its error) stays in the server's log; the buyer reads that it failed.
        log.exception("the published table of %s %s could not be read", product, version)
        raise SharingError(
            500, "INTERNAL_ERROR", "the published table could not be read (logged by the service)"
        ) from error


def _capabilities(request: Request) -> dict[str, list[str]]:
    """The ``delta-sharing-capabilities`` header: ``key=v1,v2;key=...``, case-insensitive."""
    found: dict[str, list[str]] = {}
    for part in request.headers.get(CAPABILITIES, "").split(";"):
        key, _, values = part.partition("=")
        if key.strip():
            found[key.strip().lower()] = [v.strip().lower() for v in values.split(",") if v.strip()]
    return found


def _response_format(request: Request, snap: Snapshot) -> str:
    """Parquet unless the client asks for delta alone (or accepts it and the table needs it)."""
    asked = _capabilities(request).get("responseformat") or [PARQUET]
    if PARQUET in asked and snap.min_reader_version <= 1:
        return PARQUET
    if DELTA in asked:
        return DELTA
    raise _invalid(f"the table needs responseformat=delta (reader version {snap.min_reader_version})")


def _headers(snap: Snapshot, response_format: str) -> dict[str, str]:
    return {TABLE_VERSION: str(snap.table_version), CAPABILITIES: f"responseformat={response_format}"}


def _protocol_line(snap: Snapshot, response_format: str) -> dict:
    if response_format == PARQUET:
        return {"protocol": {"minReaderVersion": 1}}
    protocol: dict[str, Any] = {
        "minReaderVersion": snap.min_reader_version,
        "minWriterVersion": snap.min_writer_version,
    }
    if snap.reader_features is not None:
        protocol["readerFeatures"] = list(snap.reader_features)
    if snap.writer_features is not None:
        protocol["writerFeatures"] = list(snap.writer_features)
    return {"protocol": {"deltaProtocol": protocol}}


def _metadata_line(snap: Snapshot, g: Grant, response_format: str) -> dict:
    meta: dict[str, Any] = {
        "id": snap.table_id,
        "name": g.table,
        "format": {"provider": "parquet", "options": {}},
        "schemaString": snap.schema_string,
        "partitionColumns": list(snap.partition_columns),
        "configuration": dict(snap.configuration),
    }
    if snap.description:
        meta["description"] = snap.description
    extra = {"size": sum(f.size for f in snap.files), "numFiles": len(snap.files)}
    if response_format == PARQUET:
        return {"metaData": {**meta, **extra, "accessModes": ["url"]}}
    if snap.created_time is not None:
        meta["createdTime"] = snap.created_time
    return {"metaData": {"deltaMetadata": meta, **extra, "accessModes": ["url"]}}


def _ndjson(lines: list[dict], headers: dict[str, str]) -> Response:
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return Response(body, media_type=NDJSON, headers=headers)


@router.get("/shares/{share}/schemas/{schema}/tables/{table}/version")
def table_version(share: str, schema: str, table: str, g: GrantDep, m: MarketDep) -> Response:
    """The published table's version (header ``Delta-Table-Version``), no body."""
    guard(g, m, "table_version", share, schema, table)
    return Response(status_code=200, headers={TABLE_VERSION: str(snapshot(m, g).table_version)})


@router.head("/shares/{share}/schemas/{schema}/tables/{table}")
def table_version_head(share: str, schema: str, table: str, g: GrantDep, m: MarketDep) -> Response:
    """The deprecated HEAD form of :func:`table_version`."""
    return table_version(share, schema, table, g, m)


@router.get("/shares/{share}/schemas/{schema}/tables/{table}/metadata")
def table_metadata(share: str, schema: str, table: str, request: Request, g: GrantDep, m: MarketDep) -> Response:
    """The table's protocol and metadata (two NDJSON lines): not a read."""
    guard(g, m, "table_metadata", share, schema, table)
    if request.query_params.get("version") is not None or request.query_params.get("timestamp") is not None:
        raise _invalid("history sharing is not enabled: the latest version only")
    snap = snapshot(m, g)
    fmt = _response_format(request, snap)
    return _ndjson([_protocol_line(snap, fmt), _metadata_line(snap, g, fmt)], _headers(snap, fmt))


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _invalid("the query's body is a JSON object") from None
    if not isinstance(body, dict):
        raise _invalid("the query's body is a JSON object")
    return body


def _file_line(file: DataFile, url: str, expires_ms: int, response_format: str) -> dict:
    partition_values = dict(file.partition_values)
    stats = json.dumps({"numRecords": file.num_records}) if file.num_records is not None else None
    if response_format == PARQUET:
        line = {"url": url, "id": file.file_id, "partitionValues": partition_values, "size": file.size}
        if stats:
            line["stats"] = stats
        return {"file": {**line, "expirationTimestamp": expires_ms}}
    add: dict[str, Any] = {
        "path": url,
        "partitionValues": partition_values,
        "size": file.size,
        "modificationTime": file.modification_time,
        "dataChange": True,
    }
    if stats:
        add["stats"] = stats
    return {
        "file": {
            "id": file.file_id,
            "size": file.size,
            "expirationTimestamp": expires_ms,
            "deltaSingleAction": {"add": add},
        }
    }


def presign(snap: Snapshot, settings: Settings) -> tuple[list[str], int]:
    """Each file's URL, presigned for GET with the exchange service's identity for ``exchange_url_ttl_s``;
    and when they expire (ms since the epoch)."""
    access, secret = _exchange_keys(settings)
    mc = object_store.client(settings, access, secret)
    ttl = timedelta(seconds=settings.exchange_url_ttl_s)
    expires_ms = int((datetime.now(UTC) + ttl).timestamp() * 1000)
    return [mc.presigned_get_object(snap.bucket, f.key, expires=ttl) for f in snap.files], expires_ms


def _refuse_read(m: Market, g: Grant, asked: dict, reason: str, rule: str) -> SharingError:
    """Record a refused query (its own transaction) and the 403 to raise."""
    with m._write():
        ledger.append(
            m.conn,
            ledger.EntryKind.READ_REFUSED,
            g.agreement.consumer_id,
            str(g.agreement.agreement_id),
            {**asked, "rule": rule, "reason": reason},
        )
    return _denied(reason)


def _count_read(m: Market, g: Grant, asked: dict, snap: Snapshot, response_format: str) -> int:
    """The read decided and counted in one transaction under the agreement's row lock (racing queries
    wait for it, then see the count it left), its ledger entry with it; raises the recorded 403."""
    agreement_id = g.agreement.agreement_id
    reason = ""
    with m._write():
        row = _rows(
            m.conn,
            "SELECT a.*, now() AS db_now, t.revoked_at AS token_revoked_at FROM exchange.agreements a"
            " JOIN exchange.sharing_tokens t USING (agreement_id) WHERE a.agreement_id = %s AND t.token_sha256 = %s"
            " FOR UPDATE OF a",
            (agreement_id, g.token_sha256),
        )[0]
        agreement, negotiation, offer = _terms(m.conn, row)
        locked = dataclasses.replace(g, agreement=agreement, negotiation=negotiation, offer=offer, now=row["db_now"])
        reason = locked.refusal(m, reading=True)
        if not reason and row["token_revoked_at"] is not None:
            reason = "the sharing token was replaced by a newer profile"
        if not reason:
            reads = _rows(
                m.conn,
                "UPDATE exchange.agreements SET reads = reads + 1 WHERE agreement_id = %s RETURNING reads",
                (agreement_id,),
            )[0]["reads"]
            ledger.append(
                m.conn,
                ledger.EntryKind.READ,
                agreement.consumer_id,
                str(agreement_id),
                {
                    **asked,
                    "table_version": snap.table_version,
                    "location": snap.location,
                    "files": len(snap.files),
                    "response_format": response_format,
                    "reads": reads,
                    "max_reads": offer.max_reads,
                    "url_ttl_s": get_settings().exchange_url_ttl_s,
                },
            )
            return reads
    raise _refuse_read(m, g, asked, reason, "no_access")


@router.post("/shares/{share}/schemas/{schema}/tables/{table}/query")
def query(
    share: str,
    schema: str,
    table: str,
    request: Request,
    g: GrantDep,
    m: MarketDep,
    body: Annotated[dict, Depends(_body)],
) -> Response:
    """Read the table: its files' presigned URLs. An answered query is a read (counted, in the ledger);
    a refused one is recorded and answered 403 with no URL."""
    asked = guard(g, m, "query", share, schema, table, reading=True)
    for key in ("version", "timestamp", "startingVersion", "endingVersion"):
        if body.get(key) is not None:
            raise _invalid(f"history sharing is not enabled: {key} is not accepted (the latest version only)")
    snap = snapshot(m, g)
    fmt = _response_format(request, snap)
    settings = get_settings()
    urls, expires_ms = presign(snap, settings)  # not sent unless the read is granted below
    _count_read(m, g, asked, snap, fmt)
    lines = [_protocol_line(snap, fmt), _metadata_line(snap, g, fmt)]
    lines += [_file_line(f, url, expires_ms, fmt) for f, url in zip(snap.files, urls, strict=True)]
    return _ndjson(lines, _headers(snap, fmt))
