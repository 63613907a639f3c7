"""What every source adapter shares: fetching pages (each decoded and checked as it arrives), finding
records repeated across pages, and reconciling what arrived with what the source claims."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import requests

from ibdc.formats import DecodedPage, DecodeError, format_for
from ibdc.schemas import SCHEMAS
from ibdc.sources.registry import ApiStyle, ProvinceSource

log = logging.getLogger(__name__)

# A page that arrives cut short or garbled is fetched again this many times in all (HTTP-level
# retries -- 429, 5xx, timeouts -- happen below this, in the session's urllib3 Retry).
PAGE_ATTEMPTS = 3
EXTENSIONS = {"application/json": "json", "application/javascript": "js", "text/csv": "csv"}


class ReconciliationError(RuntimeError):
    """The records received differ from what the source claims to hold."""


@dataclass(frozen=True)
class RawPage:
    body: bytes
    content_type: str
    request: dict
    records: int

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type.split(";")[0].strip(), "bin")


@dataclass
class Extraction:
    source: ProvinceSource
    dataset: str
    period: str
    pages: list[RawPage] = field(default_factory=list)
    records_claimed: int = 0
    # Records served more than once (same key): page and index of the repeat and of the first one.
    duplicates: list[dict] = field(default_factory=list)
    _first_seen: dict[tuple, tuple[int, int, tuple]] = field(default_factory=dict, repr=False)

    @property
    def records_received(self) -> int:
        return sum(p.records for p in self.pages)

    @property
    def records_distinct(self) -> int:
        return self.records_received - len(self.duplicates)

    def add_page(self, page: RawPage, decoded: DecodedPage) -> None:
        index = len(self.pages)
        self.pages.append(page)
        schema = SCHEMAS[self.dataset]
        keys = zip(*(decoded.table.column(k).to_pylist() for k in schema.key), strict=True)
        rows = zip(*(decoded.table.column(n).to_pylist() for n in schema.names), strict=True)
        for j, (key, row) in enumerate(zip(keys, rows, strict=True)):
            first = self._first_seen.get(key)
            if first is None:
                self._first_seen[key] = (index, j, row)
            else:
                self.duplicates.append(
                    {
                        "page": index,
                        "index": j,
                        "key": list(key),
                        "first": [first[0], first[1]],
                        "identical": first[2] == row,
                    }
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


def fetch_page(extraction: Extraction, send: Callable[[], requests.Response], request: dict) -> DecodedPage:
    """Send a page request, decode the body with the style's format, add it to the extraction.

    HTTP errors that outlive the session's retries raise ``requests.HTTPError``; a body that does not
    decode (truncated, garbled) is fetched again up to ``PAGE_ATTEMPTS`` times, then raises
    ``DecodeError``; a body whose records lack contract fields raises ``SchemaDrift`` at once.
    """
    fmt = format_for(str(extraction.source.style))
    schema = SCHEMAS[extraction.dataset]
    for attempt in range(1, PAGE_ATTEMPTS + 1):
        resp = send()
        resp.raise_for_status()
        try:
            decoded = fmt.decode(schema, resp.content)
        except DecodeError as exc:
            if attempt == PAGE_ATTEMPTS:
                raise DecodeError(
                    f"{extraction.dataset} {extraction.source.code} {extraction.period}: page {request} "
                    f"undecodable after {attempt} attempts: {exc}"
                ) from exc
            log.warning("page %s undecodable (attempt %d): %s; fetching it again", request, attempt, exc)
            time.sleep(0.5 * attempt)
            continue
        content_type = resp.headers.get("Content-Type", "application/octet-stream")
        extraction.add_page(RawPage(resp.content, content_type, request, decoded.num_records), decoded)
        return decoded
    raise AssertionError("unreachable")


class SourceAdapter(Protocol):
    style: ClassVar[ApiStyle]

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction: ...
