"""What every source adapter returns: the pages exactly as served, and the reconciliation figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from ibdc.sources.registry import ApiStyle, ProvinceSource


class ReconciliationError(RuntimeError):
    """The records received differ from what the source claims to hold."""


@dataclass(frozen=True)
class RawPage:
    body: bytes
    content_type: str
    request: dict
    records: int


@dataclass
class Extraction:
    source: ProvinceSource
    dataset: str
    period: str
    pages: list[RawPage] = field(default_factory=list)
    records_claimed: int = 0

    @property
    def records_received(self) -> int:
        return sum(p.records for p in self.pages)

    def reconcile(self) -> None:
        if self.records_received != self.records_claimed:
            raise ReconciliationError(
                f"{self.dataset} {self.source.code} {self.period}: source claims "
                f"{self.records_claimed} records, received {self.records_received}"
            )


class SourceAdapter(Protocol):
    style: ClassVar[ApiStyle]

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction: ...
