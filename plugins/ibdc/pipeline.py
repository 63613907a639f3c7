"""The stages of one partition, as the DAG tasks, the CLI and the tests call them."""

from __future__ import annotations

import contextlib
import enum
import logging
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

from ibdc.datasets import DATASETS
from ibdc.errors import NotReleased
from ibdc.formats import DecodedPage, format_for
from ibdc.landing import decoded, raw_zone
from ibdc.landing.manifest import Manifest, Partition
from ibdc.landing.object_store import client
from ibdc.loading.postgres import LoadResult, PartitionRead, record_unloaded, replace_partition
from ibdc.parsing.base import PageRows, parse_decoded_page, parse_page_file
from ibdc.periods import check_period
from ibdc.schemas import SCHEMAS
from ibdc.settings import get_settings
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import ProvinceSource, source_for

log = logging.getLogger(__name__)


class PartitionStatus(enum.StrEnum):
    """What an extraction found: records (``extracted``), or nothing to load."""

    EXTRACTED = "extracted"
    NOT_RELEASED = "not_released"  # the source has nothing for the period yet
    NOT_PUBLISHED = "not_published"  # the calendar never publishes the period on its own (January)


def extract_partition(dataset: str, province: str, period: str, source: ProvinceSource | None = None) -> dict:
    """Source over HTTP -> raw zone. Returns a summary, JSON for Airflow's XCom: the partition's fields
    (``Partition.model_dump()``), ``status`` (:class:`PartitionStatus`), ``records``, ``manifest_key``
    and, when nothing was extracted, ``reason``.

    A period the calendar never publishes is not asked for. A period the source has not released
    (its "no data" answer, every cell missing, no record for a dataset that is never empty) writes
    nothing to the raw zone: what was extracted before stays the partition's latest.
    ``source``: where to extract from (default: the registry's source of the province's dataset).
    Pages are written to the raw zone as they arrive and committed by the manifest last
    (:class:`~ibdc.landing.raw_zone.PartitionWriter`): memory does not grow with the partition. An
    extraction running past ``IBDC_PARTITION_DEADLINE_S`` raises
    :class:`~ibdc.sources.adapters.base.PartitionDeadlineExceeded` (transient), nothing committed.
    """
    spec = DATASETS[dataset]
    check_period(spec.cadence, period)
    partition = Partition(dataset=dataset, province_code=province, period=period)
    summary = {**partition.model_dump(), "manifest_key": partition.manifest_key, "records": 0}
    if not spec.published(period):
        log.info("%s %s %s: not published (calendar): released with the next month", dataset, province, period)
        return {**summary, "status": PartitionStatus.NOT_PUBLISHED.value, "reason": "not published (calendar)"}
    source = source or source_for(province, dataset)
    try:
        # Each page goes to the raw zone as it arrives; any error (not released, past the deadline,
        # a fault) deletes the pages written, and the partition stays as it was.
        with raw_zone.PartitionWriter(partition) as writer:
            extraction = adapter_for(source.style).extract(source, dataset, period, sink=writer)
            if spec.never_empty and not extraction.records_distinct:
                raise NotReleased(f"{source.style} source answered no record for {dataset} {province} {period}")
            manifest = writer.commit(extraction)
    except NotReleased as exc:
        log.warning("%s %s %s: not released yet: %s", dataset, province, period, exc)
        return {**summary, "status": PartitionStatus.NOT_RELEASED.value, "reason": f"not released yet: {exc}"}
    log.info(
        "extracted %s %s %s: %d records in %d objects (%d bytes)",
        dataset,
        province,
        period,
        manifest.records_received,
        len(manifest.objects),
        manifest.bytes,
    )
    return {**summary, "status": PartitionStatus.EXTRACTED.value, "records": manifest.records_received}


def load_extracted(summary: dict, accept_fewer_records: bool = False) -> dict:
    """Load what :func:`extract_partition` found: the partition when it was extracted; otherwise an
    audit row saying why there is nothing to load, the partition left as it was. Returns the summary
    with ``rows_loaded`` and ``rows_quarantined``; raises :class:`~ibdc.errors.NotReleased` (after
    recording it) for a period not released yet."""
    status = PartitionStatus(summary["status"])
    partition = Partition.model_validate(summary)  # its fields; the rest of the summary is ignored
    dataset, province, period = partition.dataset, partition.province_code, partition.period
    if status is PartitionStatus.EXTRACTED:
        result = load_partition_from_raw(dataset, province, period, accept_fewer_records)
        return {**summary, "rows_loaded": result.rows_loaded, "rows_quarantined": result.rows_quarantined}
    record_unloaded(
        get_settings().loader, dataset, province, period, summary["manifest_key"], status.value, summary["reason"]
    )
    if status is PartitionStatus.NOT_RELEASED:
        raise NotReleased(f"{dataset} {province} {period}: {summary['reason']}")
    return {**summary, "rows_loaded": 0, "rows_quarantined": 0}


def load_partition_from_raw(dataset: str, province: str, period: str, accept_fewer_records: bool = False) -> LoadResult:
    """Raw zone -> parse -> PostgreSQL. Replays from the stored bytes; never calls the source.

    The manifest is read once the partition's lock is held (:func:`~ibdc.loading.postgres.replace_partition`),
    so a load never commits an older extraction after a newer one was loaded. The next page is
    validated in a background thread while the current one is being copied, so PostgreSQL's COPY and
    the platform's parsing use both cores: the extraction's decoded pages when this code may take
    them (one object, checksum-verified; a page is fetched only for a reject's raw text), else each
    page fetched, checksum-verified and decoded (:func:`_page_parts`). Raises
    :class:`~ibdc.periods.InvalidPeriod` for a malformed period before anything is read.
    """
    spec = DATASETS[dataset]
    check_period(spec.cadence, period)
    settings = get_settings()
    mc = client()
    partition = Partition(dataset=dataset, province_code=province, period=period)

    def read() -> PartitionRead:
        manifest = raw_zone.read_manifest(partition, mc)
        return PartitionRead(manifest.extract_id, _parsed_pages(spec, manifest, mc))

    result = replace_partition(
        settings.loader,
        spec,
        province,
        period,
        read,
        manifest_key=partition.manifest_key,
        max_quarantine_share=spec.max_quarantine_share,
        accept_fewer_records=accept_fewer_records,
    )
    log.info(
        "loaded %s %s %s: %d in, %d loaded, %d quarantined (batch %s)",
        dataset,
        province,
        period,
        result.rows_in,
        result.rows_loaded,
        result.rows_quarantined,
        result.batch_id,
    )
    return result


def _parsed_pages(spec, manifest: Manifest, mc) -> Iterator[PageRows]:
    """The manifest's pages parsed, in order, a part at a time (:func:`_page_parts`); each next part
    read and parsed in a background thread while the caller copies the current one."""
    parts = _page_parts(spec, manifest, mc)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ibdc-parse") as pool:
        ahead = pool.submit(next, parts, None)
        while (part := ahead.result()) is not None:
            ahead = pool.submit(next, parts, None)  # one call of the generator at a time: after the last
            yield part


def _page_parts(spec, manifest: Manifest, mc) -> Iterator[PageRows]:
    """Each page streamed from the raw zone to a private temporary file (checksum verified as it
    arrives), then parsed from it a part at a time (:func:`~ibdc.parsing.base.parse_page_file`: a
    csv_download page, a whole partition, a block at a time): memory does not grow with a page.
    Record positions run on across parts and pages. When the extraction stored its decoded pages and
    this code decodes as the code that did (:func:`ibdc.landing.decoded.usable`), those are validated
    instead (:func:`_decoded_page_parts`)."""
    if decoded.usable(manifest):
        yield from _decoded_page_parts(spec, manifest, mc)
        return
    position = 0
    for i, obj in enumerate(manifest.objects):
        with tempfile.TemporaryFile(prefix="ibdc-page-") as fh:
            raw_zone.read_page_to(manifest, i, fh, mc)
            fh.seek(0)
            for part in parse_page_file(spec.name, spec.validate, manifest, obj, fh, position):
                position += part.records_served
                yield part


def _decoded_page_parts(spec, manifest: Manifest, mc) -> Iterator[PageRows]:
    """The extraction's decoded pages (one object, checksum verified) validated a batch at a time (a
    page, or a part of a page read from a file), as :func:`_page_parts` validates the pages it
    decodes. A record's raw text, which only a reject needs, is read from its page: a page is fetched
    (checksum verified) and decoded again only when one of its records is quarantined."""
    fmt, schema = format_for(manifest.source.style), SCHEMAS[spec.name]
    with tempfile.TemporaryFile(prefix="ibdc-decoded-") as fh, contextlib.ExitStack() as pages:
        raw_zone.read_decoded_to(manifest, fh, mc)
        fh.seek(0)
        position, raw = 0, None
        for part in decoded.read_parts(manifest, fh):
            if raw is None or raw.index != part.page:
                pages.close()  # the last page's file, if a reject's text was read from one
                raw = pages.enter_context(_RawTextOfPage(fmt, schema, manifest, part.page, mc))
            page = DecodedPage(table=part.table, raw_text=raw.of_part(part.first_index), faults=part.faults)
            obj = manifest.objects[part.page]
            yield parse_decoded_page(spec.validate, manifest, obj, page, position, part.first_index)
            position += part.table.num_rows


class _RawTextOfPage(contextlib.AbstractContextManager):
    """``DecodedPage.raw_text`` of a page stored decoded (:meth:`of_part`: of its part from record
    ``first_index`` on): its records' text as served, read from the page (checksum verified) and
    decoded when first asked for. A page read from a file (csv_download's: a whole partition) is
    streamed to a temporary file and decoded a block at a time, going forward as its parts are
    validated in order: memory holds one block. A record before the block held (asked out of order
    across blocks) decodes the file again from its start. Closing deletes the file."""

    def __init__(self, fmt, schema, manifest: Manifest, index: int, mc) -> None:
        self.fmt, self.schema, self.manifest, self.index, self.mc = fmt, schema, manifest, index, mc
        self._page: DecodedPage | None = None
        self._file: BinaryIO | None = None
        self._parts: Iterator[DecodedPage] | None = None
        self._start = 0  # the index in the page of self._page's first record

    def of_part(self, first_index: int) -> Callable[[int], str]:
        return lambda record: self(first_index + record)

    def __call__(self, record: int) -> str:
        chunks = getattr(self.fmt, "decode_chunks", None)
        if chunks is None:
            if self._page is None:
                self._page = self.fmt.decode(self.schema, raw_zone.read_page(self.manifest, self.index, self.mc))
            return self._page.raw_text(record)
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="ibdc-page-")  # noqa: SIM115 -- closed by __exit__
            raw_zone.read_page_to(self.manifest, self.index, self._file, self.mc)
        if self._parts is None or record < self._start:
            self._close_parts()
            self._file.seek(0)
            self._parts, self._page, self._start = chunks(self.schema, self._file), None, 0
        while self._page is None or record >= self._start + self._page.num_records:
            if self._page is not None:
                self._start += self._page.num_records
            self._page = next(self._parts, None)
            if self._page is None:
                raise decoded.DecodedPagesMismatch(f"page {self.index + 1} holds no record {record}")
        return self._page.raw_text(record - self._start)

    def _close_parts(self) -> None:
        if (close := getattr(self._parts, "close", None)) is not None:  # a generator: its file reading ends
            close()

    def __exit__(self, *exc) -> None:
        self._close_parts()
        if self._file is not None:
            self._file.close()
