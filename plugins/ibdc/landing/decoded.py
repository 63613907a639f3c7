"""An extraction's pages as its decoders read them, stored beside the pages: decoded once.

The extraction decodes every page as it arrives (to read its envelope, count and index its records);
the load used to decode every page again from the raw zone. The extraction now also writes what it
decoded, ``extract=<id>/decoded.arrows``: an Arrow IPC stream (zstd), one record batch a page in the
manifest's order, the page's canonical string columns (``DecodedPage.table``) and :data:`FAULT` (the
decoder's reason a record could not be read as served, null for the others: ``DecodedPage.faults``).
The manifest names it (:class:`~ibdc.landing.manifest.DecodedObject`: version id, sha256, records,
and the decoders' fingerprint, :func:`ibdc.formats.decoder_fingerprint`).

It is derived, never authoritative: the pages stay the raw zone's record of what was served. A load
takes the decoded pages only when their fingerprint is its own decoders' (any change to a decoder,
the schemas or the JSON and Arrow libraries changes it) and their sha256 is the manifest's; otherwise
it decodes the pages, as before. A record's raw text (for the quarantine) is read from its page, which
a load fetches only for a page holding a reject. A page read from a file (csv_download's partition,
decoded a block at a time) has none: its load decodes the file, as Arrow's CSV reader does fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator, Mapping
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
WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


class DecodedPagesMismatch(PermanentError):
    """The decoded pages do not match the manifest's pages (another count of pages or of records):
    loading again would read the same."""


class DecodedPagesWriter:
    """The decoded pages of one extraction, written in order (:meth:`add`) to a private temporary file,
    then stored by :meth:`store`. Memory holds one page at a time."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="ibdc-decoded-")  # noqa: SIM115 -- closed by close()
        self._sink = pa.PythonFile(self._file, mode="w")
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self.pages = 0
        self.records = 0

    def add(self, index: int, decoded: DecodedPage) -> None:
        """Append page ``index`` (pages come in order, from 0). ValueError for another index."""
        if index != self.pages:
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
        self._writer.write_batch(batch)
        self.pages += 1
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
    (not None). Whether each page has its batch is checked as they are read (:func:`read_pages`)."""
    decoded, fingerprint = manifest.decoded, decoder_fingerprint()
    return (
        decoded is not None
        and fingerprint is not None
        and decoded.decoder == fingerprint
        and decoded.key.startswith(f"{manifest.partition.prefix}extract={manifest.extract_id}/")
        and decoded.records == sum(o.records for o in manifest.objects)
    )


def read_pages(manifest: Manifest, fh: BinaryIO) -> Iterator[tuple[pa.Table, Mapping[int, str]]]:
    """The manifest's decoded pages, in order, from ``fh`` (the object, checksum-verified:
    :func:`ibdc.landing.raw_zone.read_decoded_to`, at its start): each page's table (the schema's string
    columns) and its faults (record index -> the decoder's reason). Memory holds one page at a time.
    :class:`DecodedPagesMismatch` when the pages or a page's records differ in number from the manifest's."""
    key = manifest.decoded.key if manifest.decoded else "the decoded pages"
    pages = iter(manifest.objects)
    for batch in pa.ipc.open_stream(pa.PythonFile(fh, mode="r")):
        obj = next(pages, None)
        if obj is None or batch.num_rows != obj.records:
            listed = "no page" if obj is None else f"{obj.records} records"
            raise DecodedPagesMismatch(f"{key}: a page of {batch.num_rows} records where the manifest lists {listed}")
        faults = batch.column(FAULT)
        reasons = {}
        if faults.null_count < len(faults):
            reasons = {i: why for i, why in enumerate(faults.to_pylist()) if why is not None}
        yield pa.Table.from_batches([batch.drop_columns([FAULT])]), reasons
    if next(pages, None) is not None:
        raise DecodedPagesMismatch(f"{key}: fewer pages than the manifest's {len(manifest.objects)}")
