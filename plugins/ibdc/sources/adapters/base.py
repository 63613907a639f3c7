"""What every source adapter shares: fetching pages (each envelope read, each page decoded and checked
as it arrives), finding records repeated across pages, and reconciling what arrived with what the
source claims."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar, Protocol

import requests
from urllib3.util.retry import Retry

from ibdc.errors import NotReleased, PermanentError, TransientError
from ibdc.formats import DecodedPage, DecodeError, format_for
from ibdc.formats.envelope import Answer, Verdict
from ibdc.landing.manifest import ManifestObject
from ibdc.schemas import SCHEMAS
from ibdc.settings import get_settings
from ibdc.sources.adapters.repeats import RepeatIndex
from ibdc.sources.http import redact, retry_after_wait
from ibdc.sources.registry import ApiStyle, ProvinceSource

log = logging.getLogger(__name__)

# A page that arrives cut short or garbled is fetched again this many times in all (HTTP-level
# retries -- 429, 5xx, timeouts -- happen below this, in the session's urllib3 Retry).
PAGE_ATTEMPTS = 3
# A rate limit announced in the body of an HTTP 200 is retried like a 429: as many times as the
# session's Retry allows, waiting backoff_factor * 2 ** (n - 1) seconds (at most backoff_max), or
# the Retry-After the answer gives. Without a urllib3 Retry on the session: these.
RATE_LIMIT_BACKOFF_S, RATE_LIMIT_BACKOFF_MAX_S = 0.5, 30.0
SPOOL_CHUNK_BYTES = 1 << 20  # a streamed answer is written to its file this many bytes at a time
EXTENSIONS = {"application/json": "json", "application/javascript": "js", "text/csv": "csv"}


class ReconciliationError(PermanentError):
    """The records received differ from what the source claims to hold."""


class PartitionChangedWhilePaged(TransientError):
    """The total a source claims changed between two pages of one extraction (worth another attempt)."""


class SourceRefused(PermanentError):
    """The source answered a request with an error of its own instead of data (a wrong key, an
    unknown resource, a bad signature): raised at once, never retried, never taken for data."""


class RateLimited(TransientError):
    """The source's envelope says too many requests (or busy): retried by :func:`fetch_page` like an
    HTTP 429; still so after those retries, the task's retries take over."""


@dataclass(frozen=True)
class RawPage:
    """A page as served: its bytes, held in memory until it is stored."""

    body: bytes
    content_type: str
    request: dict
    records: int

    @property
    def extension(self) -> str:
        return extension(self.content_type)


def extension(content_type: str) -> str:
    """The file name extension of a page served as ``content_type`` (``bin`` for one not known)."""
    return EXTENSIONS.get(content_type.split(";")[0].strip(), "bin")


class PageSink(Protocol):
    """Where an extraction's pages go as they arrive (:class:`ibdc.landing.raw_zone.PartitionWriter`)."""

    def put(self, index: int, page: RawPage, decoded: DecodedPage | None = None) -> RawPage:
        """Store page ``index`` (from 0), maybe while the caller goes on, and ``decoded``, the page as
        the extraction decoded it, when given; returns the page without its bytes (its request and
        record count). Errors: the object store's, maybe raised by a later call."""
        ...

    def put_file(
        self, index: int, fh: BinaryIO, size: int, sha256: str, content_type: str, request: dict, records: int
    ) -> ManifestObject:
        """Store page ``index`` read from the file ``fh`` (``size`` bytes from its start)."""
        ...

    def keep_decoded(self, index: int, decoded: DecodedPage) -> None:
        """Keep page ``index`` as decoded, or its next part (the same ``index`` again), for the decoded
        pages stored beside the pages; never raises."""
        ...

    def restart_decoded(self) -> None:
        """Discard the decoded pages kept so far (a file page fetched again keeps its parts anew)."""
        ...


class PartitionDeadlineExceeded(TransientError):
    """An extraction took longer than the partition's deadline (``IBDC_PARTITION_DEADLINE_S``):
    stopped before its next request, nothing committed; the task's next attempt starts again."""


@dataclass
class Extraction:
    """One extraction of a partition, page by page.

    ``pages``: each page in order, a :class:`RawPage` (bytes in memory) or, when the extraction has
    a ``sink``, what the sink returned: the page without its bytes (given to the sink as it arrived)
    or its :class:`~ibdc.landing.manifest.ManifestObject` (a page read from a file). ``deadline``: the
    ``time.monotonic()`` by which it must be done (default: now + the
    partition deadline setting). Records repeated across pages are found from digests kept as pages are added
    (:class:`~ibdc.sources.adapters.repeats.RepeatIndex`, 12 bytes a record, on disk): when pages go to a
    sink, memory barely grows with the partition."""

    source: ProvinceSource
    dataset: str
    period: str
    pages: list[RawPage | ManifestObject] = field(default_factory=list)
    records_claimed: int = 0
    sink: PageSink | None = field(default=None, repr=False)
    deadline: float | None = None
    _repeats: RepeatIndex | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + get_settings().partition_deadline_s

    @property
    def records_received(self) -> int:
        return sum(p.records for p in self.pages)

    @property
    def records_distinct(self) -> int:
        return self.records_received - len(self.duplicates)

    @property
    def duplicates(self) -> list[dict]:
        """Records served more than once (same key), in the order served: page and index of the
        repeat and of the first one, and whether the repeat is identical to the first."""
        return self._repeats.repeats() if self._repeats is not None else []

    def add_page(self, page: RawPage, decoded: DecodedPage) -> None:
        """Add the next page: its records' keys indexed, its bytes and ``decoded`` given to the sink when
        there is one."""
        index = len(self.pages)
        if self._repeats is None:
            self._repeats = RepeatIndex(SCHEMAS[self.dataset])
        self._repeats.add(index, decoded.table, decoded.faults)
        self.pages.append(self.sink.put(index, page, decoded) if self.sink is not None else page)

    def add_file_page(
        self,
        parts: Iterator[DecodedPage],
        fh: BinaryIO,
        size: int,
        sha256: str,
        content_type: str,
        request: dict,
    ) -> DecodedPage:
        """Add the extraction's only page, held in the file ``fh`` (``size`` bytes, their
        ``sha256``) and decoded from it part by part (``parts``: csv_download's whole partition, a
        block at a time): each part's envelope read first (:func:`read_envelope`), its records
        indexed and kept decoded by the sink, then the file given to the sink (in parts) or, without
        one, read into a :class:`RawPage`. Returns the last part (the file's ``total``). A part that
        fails (a DecodeError found at the file's end, an envelope's error) leaves the extraction as it
        was, the parts kept of it discarded: the page can be fetched again."""
        if self.pages:
            raise ValueError(f"a page read from a file is its extraction's only page ({len(self.pages)} before it)")
        repeats = RepeatIndex(SCHEMAS[self.dataset])
        records, last = 0, None
        try:
            for part in parts:
                read_envelope(self, part.verdict)
                repeats.add(0, part.table, part.faults)
                if self.sink is not None:
                    self.sink.keep_decoded(0, part)  # the load takes the parts instead of decoding the file
                records += part.num_records
                last = part
        except BaseException:
            repeats.close()
            if self.sink is not None:
                self.sink.restart_decoded()  # else the parts kept so far would be taken for the page fetched again
            raise
        if last is None:
            raise DecodeError(f"{self.dataset} {self.source.code} {self.period}: a page of no part at all")
        self._repeats = repeats
        fh.seek(0)
        if self.sink is not None:
            self.pages.append(self.sink.put_file(0, fh, size, sha256, content_type, request, records))
        else:
            self.pages.append(RawPage(fh.read(), content_type, request, records))
        return last

    def check_deadline(self, wait_s: float = 0.0) -> None:
        """Raise :class:`PartitionDeadlineExceeded` when the deadline has passed, or would have
        after waiting ``wait_s`` seconds."""
        if self.deadline is not None and time.monotonic() + wait_s > self.deadline:
            limit = get_settings().partition_deadline_s
            before = f"waiting {wait_s:.1f} s to send" if wait_s else "sending"
            raise PartitionDeadlineExceeded(
                f"{self.dataset} {self.source.code} {self.period}: extraction stopped at its deadline "
                f"({limit:g} s, IBDC_PARTITION_DEADLINE_S) after {len(self.pages)} pages, before {before} "
                "the next request; nothing committed"
            )

    def reconcile(self) -> None:
        if self.records_distinct != self.records_claimed:
            raise ReconciliationError(
                f"{self.dataset} {self.source.code} {self.period}: source claims {self.records_claimed} records, "
                f"received {self.records_distinct} distinct ({self.records_received} with "
                f"{len(self.duplicates)} repeated)"
            )
        if self.duplicates:
            log.warning(
                "%s %s %s: %d records served twice across pages (kept once)",
                self.dataset,
                self.source.code,
                self.period,
                len(self.duplicates),
            )


def read_envelope(extraction: Extraction, verdict: Verdict | None) -> None:
    """Act on what the answer's envelope says (the portal's codes, :mod:`ibdc.formats.envelope`,
    read by the style's decoder from its one parse of the body: ``DecodedPage.verdict``): nothing for
    success (or a body with no envelope to read); otherwise the error its answer means, naming the
    portal's code and message, which is logged too: no data raises
    :class:`~ibdc.errors.NotReleased`, a rate limit :class:`RateLimited`, any other code
    :class:`SourceRefused`."""
    source = extraction.source
    if verdict is None or verdict.answer is Answer.SUCCESS:
        return
    request = f"{extraction.dataset} {extraction.period} page {len(extraction.pages) + 1}"  # the page asked for
    said = redact(f"code {verdict.code}: {verdict.message}")
    log.warning("%s source %s answered %s for %s (%s)", source.style, source.code, said, request, verdict.answer)
    if verdict.answer is Answer.NO_DATA:
        raise NotReleased(f"{source.style} source {source.code} has no data for {request}: {said}")
    if verdict.answer is Answer.RATE_LIMITED:
        raise RateLimited(f"{source.style} source {source.code} rate-limited {request}: {said}")
    raise SourceRefused(f"{source.style} source {source.code} refused {request}: {said}")


def _rate_limit_retry(resp: requests.Response, attempt: int) -> tuple[int, float]:
    """How many times an in-band rate limit is retried, and the wait before retry ``attempt`` (from
    1): as the session retries a 429 (its urllib3 ``Retry``: total, backoff; a Retry-After by the
    session's one rule, :func:`~ibdc.sources.http.retry_after_wait`: waited up to its maximum,
    longer raises ``RetryAfterTooLong``)."""
    retry = getattr(getattr(resp, "connection", None), "max_retries", None)  # the adapter that sent it
    settings = get_settings()
    if isinstance(retry, Retry):
        retries = retry.total if isinstance(retry.total, int) else settings.http_retries
        factor, cap = retry.backoff_factor, retry.backoff_max
        maximum = getattr(retry, "retry_after_max", None) or settings.http_retry_after_max_s
    else:
        retries, factor, cap = settings.http_retries, RATE_LIMIT_BACKOFF_S, RATE_LIMIT_BACKOFF_MAX_S
        maximum = settings.http_retry_after_max_s
    after = resp.headers.get("Retry-After")
    if after is not None:
        return retries, retry_after_wait(after, maximum, resp.url or "", "an in-band rate limit")
    return retries, min(cap, factor * 2 ** (attempt - 1))


def fetch_page(
    extraction: Extraction, send: Callable[[], requests.Response], request: dict, streamed: bool = False
) -> DecodedPage:
    """Send a page request, read its envelope, decode the body with the style's format, add it to the
    extraction.

    HTTP errors that outlive the session's retries raise ``requests.HTTPError`` (with the response:
    a 4xx other than 408/425/429 is permanent); the envelope's codes (:func:`read_envelope`) raise
    ``NotReleased`` for no data and ``SourceRefused`` for a refusal at once, and a rate limit is sent
    again like an HTTP 429, then raises ``RateLimited``; a body that does not decode (truncated,
    garbled) is fetched again up to ``PAGE_ATTEMPTS`` times, then raises ``DecodeError``; a body that
    decodes but is not the style's layout raises ``LayoutError``, and one whose records lack
    contract fields ``SchemaDrift``, at once. Past the extraction's deadline, no request is sent
    (nor a wait begun): :class:`PartitionDeadlineExceeded`.

    ``streamed``: ``send`` answers with its body unread (``stream=True``), and the page is the
    extraction's only one, as large as the partition (csv_download): its body goes to a private
    temporary file as it arrives (its sha256 computed meanwhile; the session's size cap and deadline
    hold), is decoded from it a block at a time (the style's ``decode_chunks``) and stored from it
    (:meth:`Extraction.add_file_page`); the body is never held whole. Returns its last part.
    """
    fmt = format_for(str(extraction.source.style))
    schema = SCHEMAS[extraction.dataset]
    undecodable = limited = 0
    while True:
        extraction.check_deadline()
        try:
            resp = send()
            resp.raise_for_status()
        except requests.RequestException as exc:  # its message names the URL: no secret in it
            if streamed and exc.response is not None and exc.response.raw is not None:
                exc.response.close()  # unread: its connection is dropped, not left to the collector
            raise type(exc)(redact(str(exc)), response=exc.response) from None
        try:
            if streamed:
                return _take_streamed(extraction, fmt, resp, request)
            decoded = fmt.decode(schema, resp.content, extraction.source.envelopes)  # envelope and data: one parse
            read_envelope(extraction, decoded.verdict)
        except RateLimited as exc:
            limited += 1
            retries, wait = _rate_limit_retry(resp, limited)
            if limited > retries:
                raise RateLimited(f"{exc} (still after {limited} attempts)") from None
            extraction.check_deadline(wait)
            log.warning("rate-limited (attempt %d): waiting %.1f s before sending %s again", limited, wait, request)
            time.sleep(wait)
            continue
        except DecodeError as exc:
            undecodable += 1
            if undecodable == PAGE_ATTEMPTS:
                raise DecodeError(
                    f"{extraction.dataset} {extraction.source.code} {extraction.period}: page {request} "
                    f"undecodable after {undecodable} attempts: {exc}"
                ) from exc
            extraction.check_deadline(0.5 * undecodable)
            log.warning("page %s undecodable (attempt %d): %s; fetching it again", request, undecodable, exc)
            time.sleep(0.5 * undecodable)
            continue
        content_type = resp.headers.get("Content-Type", "application/octet-stream")
        extraction.add_page(RawPage(resp.content, content_type, request, decoded.num_records), decoded)
        return decoded


def _take_streamed(extraction: Extraction, fmt, resp: requests.Response, request: dict) -> DecodedPage:
    """A streamed answer's body spooled to a temporary file, then decoded and added from it."""
    content_type = resp.headers.get("Content-Type", "application/octet-stream")
    with tempfile.TemporaryFile(prefix="ibdc-answer-") as fh:
        sha = hashlib.sha256()
        try:
            for chunk in resp.iter_content(SPOOL_CHUNK_BYTES):
                sha.update(chunk)
                fh.write(chunk)
        finally:
            resp.close()
        size = fh.tell()
        fh.seek(0)
        parts = fmt.decode_chunks(SCHEMAS[extraction.dataset], fh, extraction.source.envelopes)
        return extraction.add_file_page(parts, fh, size, sha.hexdigest(), content_type, request)


def fetch_paged(
    extraction: Extraction, page_size: int, request_for: Callable[[int], tuple[Callable[[], requests.Response], dict]]
) -> Extraction:
    """Fetch pages 0, 1, ... (``request_for(i)`` gives the sender and the request to record) until the
    total the source claims is covered, then reconcile. Pages advance by the page size asked for, not
    by the records received: a portal that repeats records across pages must not make us skip any.
    Every page must claim the same total: a partition that changes while it is paged through (a
    revision published mid-extraction) fails the attempt, and the task's next attempt pages it again;
    so does a "no data" answer to a page after the first (the partition was there at page 1)."""
    index = 0
    while True:
        send, request = request_for(index)
        try:
            page = fetch_page(extraction, send, request)
        except NotReleased as exc:
            if not index:
                raise
            raise PartitionChangedWhilePaged(
                f"{extraction.dataset} {extraction.source.code} {extraction.period}: page {index + 1} answered"
                f" no data after page 1 claimed {extraction.records_claimed} records: {exc}"
            ) from exc
        if index and page.total != extraction.records_claimed:
            raise PartitionChangedWhilePaged(
                f"{extraction.dataset} {extraction.source.code} {extraction.period}: page {index} claims"
                f" {page.total} records, page 0 claimed {extraction.records_claimed} (changed while paged)"
            )
        extraction.records_claimed = page.total
        index += 1
        if not page.num_records or index * page_size >= extraction.records_claimed:
            break
    extraction.reconcile()
    return extraction


class SourceAdapter(Protocol):
    style: ClassVar[ApiStyle]

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        """Extract one partition, reconciled; each page goes to ``sink`` as it arrives (none: kept
        in memory)."""
        ...
