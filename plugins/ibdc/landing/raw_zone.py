"""Writing and reading raw partitions: ``<dataset>/province=<code>/period=<period>/...``.

An extraction's pages are written as they arrive (:class:`PartitionWriter`), each under its own
``extract=<id>/``, and committed last by the partition's manifest (``_manifest.json``): a reader
follows the manifest, so it sees the previous extraction or the new one, never half of one. An
extraction that fails deletes its pages; one killed before it could is named by no manifest, and the
next commit deletes it with the superseded ones. After the commit, the pages of earlier extractions
are deleted: bucket versioning (a partition is never written to a bucket without it) keeps their
bytes, which the manifests that named them still read by version id. Beside its pages an extraction
stores what it decoded of them, ``extract=<id>/decoded.arrows`` (:mod:`ibdc.landing.decoded`),
committed, superseded and deleted with them.

One committed extraction wins, in order: extraction ids start with the UTC time the extraction
starts, and the manifest is written conditionally on the one read (S3 ``If-Match`` its ETag, or
``If-None-Match: *`` when there is none; a failed condition reads it again and decides again), so a
writer never commits over a manifest that a writer which started after it has committed (it drops
its own pages instead) and never deletes what started after it: two writers of one partition (a
backfill over a scheduled run) leave the later extraction, whole, whichever finishes last.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import BinaryIO

from minio import Minio
from minio.commonconfig import ENABLED
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from pydantic import ValidationError

from ibdc.errors import PermanentError, TransientError
from ibdc.formats import DecodedPage
from ibdc.landing.decoded import DecodedPagesWriter
from ibdc.landing.manifest import DecodedObject, Duplicate, Manifest, ManifestObject, Partition, Source
from ibdc.landing.object_store import (
    client,
    get_bytes,
    get_bytes_and_etag,
    get_to,
    put_bytes,
    put_bytes_if,
    put_file,
)
from ibdc.settings import get_settings
from ibdc.sources.adapters.base import Extraction, RawPage, extension

# Manifest writes lost to other writers' commits before giving up (each loss means another writer
# committed meanwhile; a handful of writers of one partition at once is already unusual).
COMMIT_ATTEMPTS = 10
PUTS_IN_FLIGHT = 4  # pages written at once by an extraction (each up to IBDC_HTTP_MAX_ANSWER_BYTES in memory)
log = logging.getLogger("ibdc.landing.raw_zone")


class ChecksumMismatch(PermanentError):
    pass


class VersioningOff(PermanentError):
    """The raw bucket keeps no earlier versions: replacing a partition would lose the bytes it replaces."""


class ManifestInvalid(PermanentError):
    """The partition's manifest object is not a manifest (truncated, edited, another format): reading it
    again will not help; the partition is extracted again."""


class CommitContended(TransientError):
    """The partition's manifest kept changing under this writer's conditional writes."""


class PartitionWriter:
    """One extraction of a partition, written to the raw zone page by page (:meth:`put`, an
    extraction's :class:`~ibdc.sources.adapters.base.PageSink`) and committed by its manifest
    (:meth:`commit`). Used as a context manager, an exception inside deletes the pages written
    (:meth:`abort`) and propagates.

    Created when the extraction starts: its id (``extract_id``, the UTC time to the microsecond,
    then a random suffix) orders it among the partition's writers. Raises :class:`VersioningOff`
    when the bucket keeps no versions, before anything is written."""

    def __init__(self, partition: Partition, mc: Minio | None = None, bucket: str | None = None) -> None:
        self.mc = mc or client()
        self.bucket = bucket or get_settings().raw_bucket
        if self.mc.get_bucket_versioning(self.bucket).status != ENABLED:
            raise VersioningOff(
                f"bucket {self.bucket} must have versioning enabled (make up, or the deployment's init job)"
            )
        self.partition = partition
        self.prefix = partition.prefix
        # The time it starts, to the microsecond, first: ids sort by it (_delete_superseded).
        self.extract_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + "-" + uuid.uuid4().hex[:8]
        self.stored: list[ManifestObject] = []
        # Pages being written while the next ones are fetched and decoded (a PUT waits on the store).
        self._writing: list[Future[ManifestObject]] = []
        self._writer: ThreadPoolExecutor | None = None
        # What the extraction decoded, stored beside the pages when every page came with it.
        self._decoded: DecodedPagesWriter | None = None  # made at the first page that comes decoded
        self._decoding = True  # until a page comes without, or keeping them fails

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=True)  # every PUT ended before the pages are deleted or kept
        self.drop_decoded()
        if exc is not None:
            try:
                self.abort()
            except Exception:  # the extraction's own error is the one to raise
                log.exception("%s: could not delete the pages of failed extraction %s", self.prefix, self.extract_id)

    def put(self, index: int, page: RawPage, decoded: DecodedPage | None = None) -> RawPage:
        """Write page ``index`` (from 0) as ``extract=<id>/page-NNNN.<ext>`` (NNNN from 1), its sha256
        and record count in its metadata, in a background thread while the caller goes on (at most
        :data:`PUTS_IN_FLIGHT` pages at once: memory stays bounded); an error writing one is raised by
        a later :meth:`put` or by :meth:`commit`. ``decoded``: the page as the extraction decoded it,
        kept for the decoded pages (:mod:`ibdc.landing.decoded`) that :meth:`commit` stores when every
        page came with it. Returns ``page`` without its bytes (its request and record count: what the
        extraction keeps of it)."""
        if decoded is None:
            self.drop_decoded()  # decoded pages are all the pages' or none
        else:
            self.keep_decoded(index, decoded)
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=PUTS_IN_FLIGHT, thread_name_prefix="ibdc-put")
        while sum(not w.done() for w in self._writing) >= PUTS_IN_FLIGHT:
            next(w for w in self._writing if not w.done()).result()
        for written in self._writing:
            if written.done() and written.exception() is not None:
                written.result()  # the page that failed: raised now, before more is fetched
        self._writing.append(self._writer.submit(self._put, index, page))
        return RawPage(b"", page.content_type, page.request, page.records)

    def keep_decoded(self, index: int, decoded: DecodedPage) -> None:
        """Keep page ``index`` as the extraction decoded it, or the next part of it (the same ``index``
        again: a page read from a file, decoded a block at a time), for the decoded pages that
        :meth:`commit` stores when every page came with it. Never raises: a page that cannot be kept
        leaves the extraction without decoded pages (they are derived: loads decode the pages)."""
        if not self._decoding:
            return
        try:
            self._decoded = self._decoded or DecodedPagesWriter()
            self._decoded.add(index, decoded)
        except Exception:
            log.warning("%s: decoded pages not kept (page %d)", self.prefix, index + 1, exc_info=True)
            self.drop_decoded()

    def drop_decoded(self) -> None:
        """Keep no decoded page of this extraction (its loads decode the pages)."""
        self._decoding = False
        self.restart_decoded()

    def restart_decoded(self) -> None:
        """Discard the decoded pages kept so far and keep the next ones: the parts of a page read from a
        file (the extraction's only page), kept before it failed, when it is fetched again. Once
        decoded pages were dropped (a page came without), none are kept again."""
        if self._decoded is not None:
            self._decoded.close()
            self._decoded = None

    def _put(self, index: int, page: RawPage) -> ManifestObject:
        key = f"{self.prefix}extract={self.extract_id}/page-{index + 1:04d}.{page.extension}"
        sha = hashlib.sha256(page.body).hexdigest()
        meta = {"sha256": sha, "records": str(page.records)}
        written = put_bytes(self.mc, self.bucket, key, page.body, page.content_type, meta)
        return ManifestObject(
            page=index,
            key=key,
            version_id=written.version_id,
            sha256=sha,
            bytes=len(page.body),
            records=page.records,
            content_type=page.content_type,
            request=page.request,
        )

    def flush(self) -> list[ManifestObject]:
        """The pages written, in order, once those still being written are (an error writing one raised)."""
        written = [w.result() for w in self._writing]  # raises before anything is kept: a retry adds none twice
        self.stored.extend(written)
        self._writing.clear()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        return self.stored

    def put_file(
        self, index: int, fh: BinaryIO, size: int, sha256: str, content_type: str, request: dict, records: int
    ) -> ManifestObject:
        """Write page ``index`` from the file ``fh`` (``size`` bytes from its start, their
        ``sha256`` computed as it was written) as :meth:`put` writes one in memory, in parts: memory
        is bounded by a part, not by the page."""
        key = f"{self.prefix}extract={self.extract_id}/page-{index + 1:04d}.{extension(content_type)}"
        meta = {"sha256": sha256, "records": str(records)}
        written = put_file(self.mc, self.bucket, key, fh, size, content_type, meta)
        stored = ManifestObject(
            page=index,
            key=key,
            version_id=written.version_id,
            sha256=sha256,
            bytes=size,
            records=records,
            content_type=content_type,
            request=request,
        )
        self.stored.append(stored)
        return stored

    def _store_decoded(self, stored: list[ManifestObject]) -> DecodedObject | None:
        """The decoded pages stored, when they are the ``stored`` pages' (as many pages, as many
        records); None otherwise, or when storing them fails (logged: the pages are committed without
        them)."""
        kept, records = self._decoded, sum(o.records for o in stored)
        if not self._decoding or kept is None or (kept.pages, kept.records) != (len(stored), records):
            return None
        try:
            return self._decoded.store(self.mc, self.bucket, f"{self.prefix}extract={self.extract_id}/")
        except Exception:  # derived (ibdc.landing.decoded): the loads decode the pages instead
            log.warning("%s: decoded pages of %s not stored", self.prefix, self.extract_id, exc_info=True)
            return None

    def abort(self) -> None:
        """Delete the pages this writer wrote (nothing was committed)."""
        for written in self._writing:
            written.exception()  # waits: a PUT still running would leave its page behind
        _delete_extractions(self.mc, self.bucket, self.prefix, lambda other: other == self.extract_id)

    def commit(self, extraction: Extraction) -> Manifest:
        """Commit the pages written (in order) with the extraction's counts and repeats: returns the
        manifest written, or, when a writer that started after this one has committed meanwhile,
        that writer's manifest (this writer's pages deleted). Raises :class:`CommitContended` when
        the manifest changed under every one of :data:`COMMIT_ATTEMPTS` conditional writes."""
        try:
            stored = self.flush()
            decoded = self._store_decoded(stored)
        except BaseException:
            self.abort()  # a page that could not be written: nothing of this extraction is kept
            raise
        finally:
            self.drop_decoded()
        manifest = Manifest(
            **self.partition.model_dump(),
            extract_id=self.extract_id,
            source=Source(style=str(extraction.source.style), url=extraction.source.url),
            extracted_at=datetime.now(UTC),
            records_claimed=extraction.records_claimed,
            records_received=extraction.records_received,
            records_distinct=extraction.records_distinct,
            duplicates=[Duplicate.model_validate(d) for d in extraction.duplicates],
            bytes=sum(p.bytes for p in stored),
            objects=stored,
            decoded=decoded,
        )
        body = manifest.model_dump_json(indent=2).encode()
        for _ in range(COMMIT_ATTEMPTS):
            committed, etag = _current_manifest(self.mc, self.bucket, self.partition)
            if committed and committed.extract_id > self.extract_id:  # a writer that started after us
                log.warning(
                    "%s: extraction %s superseded by %s, committed meanwhile",
                    self.prefix,
                    self.extract_id,
                    committed.extract_id,
                )
                self.abort()
                return committed
            written = put_bytes_if(self.mc, self.bucket, self.partition.manifest_key, body, "application/json", etag)
            if written is not None:
                _delete_superseded(self.mc, self.bucket, self.prefix, self.extract_id)
                return manifest
            log.info("%s: manifest changed while %s committed; reading it again", self.prefix, self.extract_id)
        raise CommitContended(
            f"{self.prefix}: the manifest changed under each of {COMMIT_ATTEMPTS} commits of {self.extract_id}"
        )


def write_partition(extraction: Extraction, mc: Minio | None = None, bucket: str | None = None) -> Manifest:
    """Store an extraction's pages and commit them with a manifest; returns the manifest (or that
    of a writer which started later and committed first, see :meth:`PartitionWriter.commit`).

    An extraction whose pages went to a :class:`PartitionWriter` as they arrived is committed by
    it; one holding its pages in memory is written now, under a writer started now."""
    if isinstance(extraction.sink, PartitionWriter):
        return extraction.sink.commit(extraction)
    partition = Partition(dataset=extraction.dataset, province_code=extraction.source.code, period=extraction.period)
    with PartitionWriter(partition, mc, bucket) as writer:
        for n, page in enumerate(extraction.pages):
            if extraction.sink is not None or not isinstance(page, RawPage):
                raise TypeError(f"page {n} of the extraction was stored by another writer: {page}")
            writer.put(n, page)
        return writer.commit(extraction)


def _current_manifest(mc: Minio, bucket: str, partition: Partition) -> tuple[Manifest | None, str | None]:
    """The partition's committed manifest and its ETag, or (None, None)."""
    try:
        body, etag = get_bytes_and_etag(mc, bucket, partition.manifest_key)
    except S3Error as exc:
        if exc.code == "NoSuchKey":
            return None, None
        raise
    return Manifest.model_validate_json(body), etag


def _delete_superseded(mc: Minio, bucket: str, prefix: str, keep_extract_id: str) -> None:
    """Delete the pages of the extractions that started before ``keep_extract_id``."""
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


def read_manifest(partition: Partition, mc: Minio | None = None, bucket: str | None = None) -> Manifest:
    """The partition's committed manifest. Raises minio's ``S3Error`` (``NoSuchKey``) when there is
    none, :class:`ManifestInvalid` (permanent) when it is not a manifest."""
    body = get_bytes(mc or client(), bucket or get_settings().raw_bucket, partition.manifest_key)
    try:
        return Manifest.model_validate_json(body)
    except ValidationError as exc:
        raise ManifestInvalid(f"{partition.manifest_key} is not a manifest: {exc}") from exc


def read_page(manifest: Manifest, index: int, mc: Minio | None = None, bucket: str | None = None) -> bytes:
    """One committed page's bytes, verified against the manifest's sha256."""
    obj = manifest.objects[index]
    body = get_bytes(mc or client(), bucket or get_settings().raw_bucket, obj.key, obj.version_id)
    actual = hashlib.sha256(body).hexdigest()
    if actual != obj.sha256:
        raise ChecksumMismatch(f"{obj.key}: manifest sha256 {obj.sha256}, object {actual}")
    return body


def read_page_to(manifest: Manifest, index: int, fh, mc: Minio | None = None, bucket: str | None = None) -> None:
    """One committed page's bytes streamed into ``fh`` (a binary file, written from where it is),
    verified against the manifest's sha256 as they arrive: memory does not grow with the page.
    :class:`ChecksumMismatch` after the last byte when they differ."""
    obj = manifest.objects[index]
    _verified_to(obj.key, obj.version_id, obj.sha256, fh, mc, bucket)


def read_decoded_to(manifest: Manifest, fh, mc: Minio | None = None, bucket: str | None = None) -> None:
    """The manifest's decoded pages (:mod:`ibdc.landing.decoded`; ValueError when it names none)
    streamed into ``fh`` and verified as :func:`read_page_to` verifies a page."""
    if manifest.decoded is None:
        raise ValueError(f"{manifest.partition.manifest_key} names no decoded pages")
    _verified_to(manifest.decoded.key, manifest.decoded.version_id, manifest.decoded.sha256, fh, mc, bucket)


def _verified_to(key: str, version_id: str | None, sha256: str, fh, mc: Minio | None, bucket: str | None) -> None:
    sha = hashlib.sha256()

    def write(chunk: bytes) -> None:
        sha.update(chunk)
        fh.write(chunk)

    get_to(mc or client(), bucket or get_settings().raw_bucket, key, version_id, write)
    if sha.hexdigest() != sha256:
        raise ChecksumMismatch(f"{key}: manifest sha256 {sha256}, object {sha.hexdigest()}")
