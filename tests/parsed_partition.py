"""A partition's pages parsed in tests as the pipeline parses them (``parse_page_file`` a page at a
time, record positions running on across pages), with the totals the tests assert."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from ibdc.datasets import DatasetSpec
from ibdc.parsing.base import PageRows, Reject, parse_page_file


@dataclass
class ParsedPartition:
    pages: list[PageRows]  # one per part parse_page_file yields (a page, or a block of a csv_download file)

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


def parse_partition(spec: DatasetSpec, manifest, bodies: Iterable[bytes]) -> ParsedPartition:
    """Parse the manifest's pages (``bodies``, in its objects' order) as ``ibdc.pipeline`` does."""
    parts, position = [], 0
    for obj, body in zip(manifest.objects, bodies, strict=True):
        for part in parse_page_file(spec.name, spec.validate, manifest, obj, io.BytesIO(body), position):
            position += part.records_served
            parts.append(part)
    return ParsedPartition(parts)
