"""An extraction's pages as its decoders read them, stored beside the pages: decoded once.

The extraction decodes every page as it arrives (to read its envelope, count and index its records);
the load used to decode every page again from the raw zone. The extraction now also writes what it
decoded, ``extract=<id>/decoded.arrows``: an Arrow IPC stream (zstd) of record batches in the
manifest's order, one a page -- or, for a page decoded in parts (csv_download's, a whole partition
read from a file a block at a time), one a part, the page's parts one after the other -- holding the
canonical string columns (``DecodedPage.table``) and :data:`FAULT` (the decoder's reason a record
could not be read as served, null for the others: ``DecodedPage.faults``). Each batch names its page
(custom metadata :data:`PAGE`), and a page's batches hold the records the manifest lists for it (a
part of no record is written only as a page's first). The manifest names the object
(:class:`~ibdc.landing.manifest.DecodedObject`: version id, sha256, records, and the decoders'
fingerprint, :func:`ibdc.formats.decoder_fingerprint`).

It is derived, never authoritative: the pages stay the raw zone's record of what was served. A load
takes the decoded pages only when their fingerprint is its own decoders' (any change to a decoder,
the schemas or the JSON and Arrow libraries changes it) and their sha256 is the manifest's; otherwise
it decodes the pages, as before. A record's raw text (for the quarantine) is read from its page, which
a load fetches only for a page holding a reject.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
from minio import Minio

from ibdc.errors import PermanentError
from ibdc.formats import DecodedPage, decoder_fingerprint
from ibdc.landing.manifest import DecodedObject, Manifest
from ibdc.landing.object_store import put_file

NAME = "decoded.arrows"  # under the extraction's folder, beside its pages
CONTENT_TYPE = "application/vnd.apache.arrow.stream"
FAULT = "__fault"  # the column of the decoder's reasons (a name no schema field has)
PAGE = "page"  # each batch's custom metadata: the index of its page in the manifest
WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


class DecodedPagesMismatch(PermanentError):
    """The decoded pages do not match the manifest's pages (another count of pages or of records):
    loading again would read the same."""


class DecodedPagesWriter:
    """The decoded pages of one extraction, written in order (:meth:`add`: a page, or a page's parts one
    after the other) to a private temporary file, then stored by :meth:`store`. Memory holds one page
    or part at a time."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="ibdc-decoded-")  # noqa: SIM115 -- closed by close()
        self._sink = pa.PythonFile(self._file, mode="w")
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self.pages = 0
        self.records = 0

    def add(self, index: int, decoded: DecodedPage) -> None:
        """Append page ``index`` (pages come in order, from 0), or the next part of the last page added
        (``index`` the same again: a page decoded in parts). ValueError for another index."""
        if index == self.pages - 1:
            if not decoded.num_records:
                return  # a part of no record adds nothing to its page (its first batch is there)
        elif index != self.pages:
            raise ValueError(f"decoded page {index} added after {self.pages} pages")
        table = decoded.table
        if self._schema is None:
            self._schema = table.schema
        elif table.schema != self._schema:  # every page of one schema, the first's (ArrowInvalid otherwise)
            table = table.cast(self._schema)
        faults = [decoded.faults.get(i) for i in range(table.num_rows)] if decoded.faults else None
        columns = [column.combine_chunks() for column in table.columns]
        columns.append(pa.array(faults, pa.string()) if faults else pa.nulls(table.num_rows, pa.string()))
        batch = pa.RecordBatch.from_arrays(columns, schema=table.schema.append(pa.field(FAULT, pa.string())))
        if self._writer is None:
            self._writer = pa.ipc.new_stream(self._sink, batch.schema, options=WRITE_OPTIONS)
        self._writer.write_batch(batch, custom_metadata={PAGE: str(index)})
        self.pages = index + 1
        self.records += table.num_rows

    def store(self, mc: Minio, bucket: str, folder: str) -> DecodedObject | None:
        """Write the pages added as ``<folder>decoded.arrows``; its manifest entry (None when no page
        was added, or the decoders have no fingerprint). Errors: the object store's, Arrow's."""
        fingerprint = decoder_fingerprint()
        if self._writer is None or fingerprint is None:
            return None
        self._writer.close()
        self._sink.flush()
        size = self._file.tell()
        self._file.seek(0)
        sha = hashlib.sha256()
        while chunk := self._file.read(1 << 20):
            sha.update(chunk)
        self._file.seek(0)
        key = folder + NAME
        written = put_file(mc, bucket, key, self._file, size, CONTENT_TYPE)
        return DecodedObject(
            key=key,
            version_id=written.version_id,
            sha256=sha.hexdigest(),
            bytes=size,
            records=self.records,
            decoder=fingerprint,
        )

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(pa.ArrowException):  # already closed by store(), or broken
                self._writer.close()
        self._file.close()


def usable(manifest: Manifest) -> bool:
    """Whether a load may take the manifest's decoded pages: there are some, of this extraction
    (under its folder, as many records as its pages), decoded by code of this process's fingerprint
    (not None). Whether the batches make up the pages is checked as they are read (:func:`read_parts`)."""
    decoded, fingerprint = manifest.decoded, decoder_fingerprint()
    return (
        decoded is not None
        and fingerprint is not None
        and decoded.decoder == fingerprint
        and decoded.key.startswith(f"{manifest.partition.prefix}extract={manifest.extract_id}/")
        and decoded.records == sum(o.records for o in manifest.objects)
    )


@dataclass(frozen=True)
class DecodedPart:
    """Records of one page as stored decoded: the page's index in the manifest, the index in the page
    of the part's first record (0 but for the later parts of a page decoded in parts), the records
    (the schema's string columns) and their faults (record index in the part -> the decoder's reason)."""

    page: int
    first_index: int
    table: pa.Table
    faults: Mapping[int, str]


def read_parts(manifest: Manifest, fh: BinaryIO) -> Iterator[DecodedPart]:
    """The manifest's decoded pages, in order, from ``fh`` (the object, checksum-verified:
    :func:`ibdc.landing.raw_zone.read_decoded_to`, at its start), a batch at a time: a page's, or each
    part of a page decoded in parts. Memory holds one batch at a time. :class:`DecodedPagesMismatch`
    when the batches do not make up the manifest's pages, page for page and record for record."""
    key = manifest.decoded.key if manifest.decoded else "the decoded pages"
    pages = iter(manifest.objects)
    page, obj, read = -1, None, 0  # the page being read, its manifest entry and its records read so far
    reader = pa.ipc.open_stream(pa.PythonFile(fh, mode="r"))
    while (chunk := _next_batch(reader)) is not None:
        batch, stored = chunk
        if stored < 0:
            raise DecodedPagesMismatch(f"{key}: a batch that names no page")
        if stored != page:  # the batch starts the next page
            if obj is not None and read != obj.records:
                listed = obj.records
                raise DecodedPagesMismatch(f"{key}: page {page + 1} has {read} records, the manifest lists {listed}")
            page, obj, read = page + 1, next(pages, None), 0
            if obj is None or stored != page:
                raise DecodedPagesMismatch(f"{key}: a batch of page {stored + 1} where page {page + 1} begins")
        if read + batch.num_rows > obj.records:
            raise DecodedPagesMismatch(
                f"{key}: page {page + 1} has {read + batch.num_rows} records or more, the manifest lists {obj.records}"
            )
        faults = batch.column(FAULT)
        reasons = {}
        if faults.null_count < len(faults):
            reasons = {i: why for i, why in enumerate(faults.to_pylist()) if why is not None}
        yield DecodedPart(page, read, pa.Table.from_batches([batch.drop_columns([FAULT])]), reasons)
        read += batch.num_rows
    if obj is None or read != obj.records or next(pages, None) is not None:
        raise DecodedPagesMismatch(f"{key}: fewer pages or records than the manifest's {len(manifest.objects)} pages")


def _next_batch(reader: pa.ipc.RecordBatchStreamReader) -> tuple[pa.RecordBatch, int] | None:
    """The reader's next batch and its page (-1 when it names none); None at the stream's end."""
    try:
        chunk = reader.read_next_batch_with_custom_metadata()
    except StopIteration:
        return None
    page = (chunk.custom_metadata or {}).get(PAGE.encode())
    return chunk.batch, int(page) if page is not None and page.isdigit() else -1
