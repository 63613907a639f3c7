"""What every parser returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reject:
    """A record that failed validation, kept with its raw text and the reason."""

    source_object: str
    record_position: int
    raw_text: str
    reason: str


@dataclass
class ParseResult:
    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return len(self.records) + len(self.rejects)
