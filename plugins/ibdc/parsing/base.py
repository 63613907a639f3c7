"""What every parser returns, one raw object (page) at a time: the valid rows as an Arrow table and
the rejects with their reasons. Partition-wide lineage (province, period, batch, source object and
version, load time) is not in the rows: the loader supplies it once per page (see loading.postgres)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class Reject:
    """A record that failed validation, kept with its raw text and the reason."""

    source_object: str
    record_position: int
    raw_text: str
    reason: str


@dataclass(frozen=True)
class PageRows:
    source_object: str
    source_version: str | None
    rows: pa.Table
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows.num_rows + len(self.rejects)


# parse_page(manifest, manifest object entry, page bytes, position of the page's first record)
PageParser = Callable[[dict, dict, bytes, int], PageRows]


@dataclass
class ParseResult:
    pages: list[PageRows]

    @property
    def rows_in(self) -> int:
        return sum(p.rows_in for p in self.pages)

    @property
    def rows_loaded(self) -> int:
        return sum(p.rows.num_rows for p in self.pages)

    @property
    def rejects(self) -> list[Reject]:
        return [r for p in self.pages for r in p.rejects]

    @property
    def rows(self) -> pa.Table:
        return pa.concat_tables(p.rows for p in self.pages)


def parse_pages(parse_page: PageParser, manifest: dict, bodies: Iterable[bytes]) -> ParseResult:
    """Parse a partition's pages in order (record positions run on across pages)."""
    pages, position = [], 0
    for obj, body in zip(manifest["objects"], bodies, strict=True):
        page = parse_page(manifest, obj, body, position)
        pages.append(page)
        position += page.rows_in
    return ParseResult(pages)
