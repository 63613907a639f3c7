"""Writing and reading raw partitions: ``<dataset>/province=<code>/period=<period>/...``.

A partition is committed by its manifest (``_manifest.json``), written after every page of the
extraction: a reader follows the manifest, so it sees the previous extraction or the new one, never
half of one. After the commit, the pages of earlier extractions are deleted: bucket versioning (a
partition is never written to a bucket without it) keeps their bytes, which the manifests that named
them still read by version id. Extraction ids start with the UTC time their writing starts, so a
writer deletes only what started before it, and does not commit over a manifest that a writer which
started after it has committed already (it drops its own pages instead): two writers of one
partition (a backfill over a scheduled run) leave the later extraction, whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime

from minio import Minio
from minio.commonconfig import ENABLED
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from ibdc.errors import PermanentError
from ibdc.landing.object_store import client, get_bytes, put_bytes
from ibdc.settings import get_settings
from ibdc.sources.adapters.base import Extraction

MANIFEST = "_manifest.json"
log = logging.getLogger("ibdc.landing.raw_zone")


class ChecksumMismatch(PermanentError):
    pass


class VersioningOff(PermanentError):
    """The raw bucket keeps no earlier versions: replacing a partition would lose the bytes it replaces."""


def partition_prefix(dataset: str, province: str, period: str) -> str:
    return f"{dataset}/province={province}/period={period}/"


def manifest_key(dataset: str, province: str, period: str) -> str:
    return partition_prefix(dataset, province, period) + MANIFEST


def write_partition(extraction: Extraction, mc: Minio | None = None, bucket: str | None = None) -> dict:
    """Store an extraction's pages and commit them with a manifest; returns the manifest."""
    mc = mc or client()
    bucket = bucket or get_settings().raw_bucket
    if mc.get_bucket_versioning(bucket).status != ENABLED:
        raise VersioningOff(f"bucket {bucket} must have versioning enabled (ibdc up, or the deployment's init job)")
    prefix = partition_prefix(extraction.dataset, extraction.source.code, extraction.period)
    # The time its writing starts, to the microsecond, first: ids sort by it (_delete_superseded).
    extract_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]
    objects = []
    for n, page in enumerate(extraction.pages, start=1):
        key = f"{prefix}extract={extract_id}/page-{n:04d}.{page.extension}"
        sha = hashlib.sha256(page.body).hexdigest()
        written = put_bytes(
            mc, bucket, key, page.body, page.content_type, {"sha256": sha, "records": str(page.records)}
        )
        objects.append(
            {
                "page": n - 1,
                "key": key,
                "version_id": written.version_id,
                "sha256": sha,
                "bytes": len(page.body),
                "records": page.records,
                "content_type": page.content_type,
                "request": page.request,
            }
        )
    manifest = {
        "dataset": extraction.dataset,
        "province_code": extraction.source.code,
        "period": extraction.period,
        "extract_id": extract_id,
        "source": {"style": str(extraction.source.style), "url": extraction.source.url},
        "extracted_at": datetime.now(UTC).isoformat(),
        "records_claimed": extraction.records_claimed,
        "records_received": extraction.records_received,
        "records_distinct": extraction.records_distinct,
        "duplicates": extraction.duplicates,
        "bytes": sum(o["bytes"] for o in objects),
        "objects": objects,
    }
    committed = _current_manifest(mc, bucket, prefix)
    if committed and committed["extract_id"] > extract_id:  # a writer that started after us committed first
        log.warning(
            "%s: extraction %s superseded by %s, committed meanwhile", prefix, extract_id, committed["extract_id"]
        )
        _delete_extractions(mc, bucket, prefix, lambda other: other == extract_id)
        return committed
    body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    written = put_bytes(mc, bucket, prefix + MANIFEST, body, "application/json")
    manifest["manifest_version_id"] = written.version_id
    _delete_superseded(mc, bucket, prefix, extract_id)
    return manifest


def _current_manifest(mc: Minio, bucket: str, prefix: str) -> dict | None:
    try:
        return json.loads(get_bytes(mc, bucket, prefix + MANIFEST))
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            return None
        raise


def _delete_superseded(mc: Minio, bucket: str, prefix: str, keep_extract_id: str) -> None:
    """Delete the pages of the extractions that started writing before ``keep_extract_id``."""
    _delete_extractions(mc, bucket, prefix, lambda other: other < keep_extract_id)


def _delete_extractions(mc: Minio, bucket: str, prefix: str, which) -> None:
    start = len(prefix + "extract=")
    stale = [
        DeleteObject(o.object_name)
        for o in mc.list_objects(bucket, prefix=prefix + "extract=", recursive=True)
        if which(o.object_name[start:].split("/", 1)[0])
    ]
    for error in mc.remove_objects(bucket, stale):
        raise RuntimeError(f"could not delete superseded raw object: {error}")


def read_manifest(dataset: str, province: str, period: str, mc: Minio | None = None, bucket: str | None = None) -> dict:
    mc = mc or client()
    bucket = bucket or get_settings().raw_bucket
    return json.loads(get_bytes(mc, bucket, manifest_key(dataset, province, period)))


def read_page(manifest: dict, index: int, mc: Minio | None = None, bucket: str | None = None) -> bytes:
    """One committed page's bytes, verified against the manifest's sha256."""
    obj = manifest["objects"][index]
    body = get_bytes(mc or client(), bucket or get_settings().raw_bucket, obj["key"], obj.get("version_id"))
    actual = hashlib.sha256(body).hexdigest()
    if actual != obj["sha256"]:
        raise ChecksumMismatch(f"{obj['key']}: manifest sha256 {obj['sha256']}, object {actual}")
    return body


def read_pages(manifest: dict, mc: Minio | None = None, bucket: str | None = None) -> list[bytes]:
    mc = mc or client()
    return [read_page(manifest, i, mc, bucket) for i in range(len(manifest["objects"]))]
