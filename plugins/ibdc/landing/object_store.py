"""Object-store access through the ``minio`` SDK (MinIO, AWS S3 or any S3-compatible endpoint)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error
from minio.helpers import MAX_PART_SIZE, MIN_PART_SIZE, ObjectWriteResult

from ibdc.settings import Settings, get_settings


def client(settings: Settings | None = None, access_key: str | None = None, secret_key: str | None = None) -> Minio:
    """The object store of ``settings`` (default: the current ones) with the pipeline's keys
    (``IBDC_S3_ACCESS_KEY``) unless others are given: buckets and their versioning are the store's
    administrator's, set up beforehand (``ibdc-dev up`` locally, minio-init in compose)."""
    settings = settings or get_settings()
    endpoint = urlsplit(settings.s3)
    return Minio(
        endpoint.netloc,
        access_key=access_key or settings.s3_access_key,
        secret_key=secret_key or settings.s3_secret_key,
        secure=endpoint.scheme == "https",
        region=settings.s3_region,
    )


def put_bytes(mc: Minio, bucket: str, key: str, body: bytes, content_type: str, metadata: dict | None = None):
    return mc.put_object(bucket, key, io.BytesIO(body), len(body), content_type=content_type, metadata=metadata)


# What an S3 endpoint answers a conditional write whose condition does not hold: 412, or 409 for a
# conditional write racing another on the same key (AWS); a missing object under If-Match: NoSuchKey.
CONDITION_FAILED = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})


def put_bytes_if(
    mc: Minio, bucket: str, key: str, body: bytes, content_type: str, etag: str | None
) -> ObjectWriteResult | None:
    """Write ``key`` only if it is still the version read: the one with ``etag`` (``If-Match``), or,
    for ``etag`` None, none (``If-None-Match: *``). Returns the write, or None when the condition
    failed (another writer wrote ``key`` meanwhile: read it again). A single PUT, whatever the body's
    size up to S3's 5 GiB for one (a manifest listing many repeated records can pass the SDK's 5 MiB
    part size): the SDK's public ``put_object`` sends no conditional headers, so this goes through
    its ``_put_object`` (minio 7.2.20, pinned). Other errors: ``S3Error``."""
    if len(body) > MAX_PART_SIZE:
        raise ValueError(f"{key}: a conditional write takes one PUT, at most {MAX_PART_SIZE} bytes")
    headers = {"Content-Type": content_type}
    headers.update({"If-Match": f'"{etag}"'} if etag is not None else {"If-None-Match": "*"})
    try:
        return mc._put_object(bucket, key, body, headers)
    except S3Error as exc:
        if exc.code in CONDITION_FAILED:
            return None
        raise


def get_bytes_and_etag(mc: Minio, bucket: str, key: str) -> tuple[bytes, str]:
    """The current version of ``key``: its bytes and its ETag (unquoted). ``S3Error`` NoSuchKey when absent."""
    resp = mc.get_object(bucket, key)
    try:
        return resp.read(), resp.headers.get("ETag", "").strip('"')
    finally:
        resp.close()
        resp.release_conn()


# An object is read (get_to) or written (put_file) this many bytes at a time.
STREAM_BYTES = 1 << 20


def get_to(mc: Minio, bucket: str, key: str, version_id: str | None, sink) -> int:
    """Stream ``key`` (that version; None: the current one) to ``sink(chunk)`` a
    :data:`STREAM_BYTES` chunk at a time; returns its size in bytes. ``S3Error`` when absent."""
    resp = mc.get_object(bucket, key, version_id=version_id)
    size = 0
    try:
        for chunk in resp.stream(STREAM_BYTES):
            sink(chunk)
            size += len(chunk)
        return size
    finally:
        resp.close()
        resp.release_conn()


def put_file(mc: Minio, bucket: str, key: str, fh, size: int, content_type: str, metadata: dict | None = None):
    """Write ``size`` bytes read from ``fh`` (at its start) as ``key``: multipart above the SDK's part
    size (:data:`MIN_PART_SIZE` parts), so memory is bounded by a part, not by the object."""
    return mc.put_object(bucket, key, fh, size, content_type=content_type, metadata=metadata, part_size=MIN_PART_SIZE)


def get_bytes(mc: Minio, bucket: str, key: str, version_id: str | None = None) -> bytes:
    resp = mc.get_object(bucket, key, version_id=version_id)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()
