"""What every parser returns: the valid rows as an Arrow table (columns = the raw table's loaded
columns, values as the loader writes them), and the rejects with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa


@dataclass(frozen=True)
class Reject:
    """A record that failed validation, kept with its raw text and the reason."""

    source_object: str
    record_position: int
    raw_text: str
    reason: str


@dataclass
class ParseResult:
    rows: pa.Table
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return self.rows.num_rows

    @property
    def rows_in(self) -> int:
        return self.rows.num_rows + len(self.rejects)
