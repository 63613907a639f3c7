"""What decoding a page gives, and the errors a page can raise."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from ibdc.schemas import RecordSchema


class DecodeError(ValueError):
    """The bytes are not a complete page of the style (truncated, garbled, an error page)."""


class SchemaDrift(ValueError):
    """The source's records no longer carry the fields of the contract (renamed or dropped)."""


@dataclass(frozen=True)
class DecodedPage:
    """One page as served, as canonical records.

    ``table`` has exactly the schema's fields, in order, as string columns (null = missing).
    ``raw_text(i)`` is record ``i`` as the source served it (for the quarantine).
    ``total`` is the number of records the source claims the whole query holds, when the page says.
    """

    table: pa.Table
    raw_text: Callable[[int], str]
    total: int | None = None

    @property
    def num_records(self) -> int:
        return self.table.num_rows


class WireFormat(Protocol):
    """A style module: ``decode`` is all the platform needs; encoding is the simulator's business."""

    def decode(self, schema: RecordSchema, body: bytes) -> DecodedPage: ...


def check_fields(schema: RecordSchema, served: Iterable[str], where: str = "") -> None:
    """Fail with :class:`SchemaDrift` when a contract field is absent from what the source serves."""
    served = set(served)
    missing = [n for n in schema.names if n not in served]
    if missing:
        unexpected = sorted(served - set(schema.names))
        raise SchemaDrift(
            f"{where or schema.dataset}: fields missing from the source: {missing}"
            + (f"; unexpected fields: {unexpected}" if unexpected else "")
        )


def table_from_records(schema: RecordSchema, records: list[dict], where: str = "") -> pa.Table:
    """Canonical string table from a list of dicts keyed by canonical names (values already text)."""
    if records:
        check_fields(schema, records[0].keys(), where)
    columns = {n: pa.array([r.get(n) for r in records], pa.string()) for n in schema.names}
    return pa.table(columns)


def text(value: object) -> str | None:
    """A decoded JSON scalar as canonical-ish text: numbers keep their exact decimal digits."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return format(value, "f") if not isinstance(value, int) else str(value)
