"""Object-store access through the ``minio`` SDK (MinIO, AWS S3 or any S3-compatible endpoint)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit

from minio import Minio
from minio.commonconfig import ENABLED
from minio.versioningconfig import VersioningConfig

from ibdc.settings import get_settings


def client() -> Minio:
    settings = get_settings()
    endpoint = urlsplit(settings.s3)
    return Minio(
        endpoint.netloc,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=endpoint.scheme == "https",
        region=settings.s3_region,
    )


def ensure_bucket(mc: Minio, bucket: str) -> None:
    """Create the bucket if missing, with versioning on (earlier raw bytes stay recoverable)."""
    if not mc.bucket_exists(bucket):
        mc.make_bucket(bucket)
    if mc.get_bucket_versioning(bucket).status != ENABLED:
        mc.set_bucket_versioning(bucket, VersioningConfig(ENABLED))


def put_bytes(mc: Minio, bucket: str, key: str, body: bytes, content_type: str, metadata: dict | None = None):
    return mc.put_object(bucket, key, io.BytesIO(body), len(body), content_type=content_type, metadata=metadata)


def get_bytes(mc: Minio, bucket: str, key: str, version_id: str | None = None) -> bytes:
    resp = mc.get_object(bucket, key, version_id=version_id)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()
