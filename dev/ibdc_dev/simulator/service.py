"""What every style's routes share: the records a province serves (after data faults), paging, the
HTTP faults on the way out, the portals' style assignment and the client secret."""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import yaml
from fastapi import HTTPException, Response

from ibdc.periods import add_months, month_start, parse_day, parse_period
from ibdc.reference import provinces
from ibdc.schemas import SCHEMAS, Cadence, Kind, RecordSchema
from ibdc.settings import get_settings
from ibdc.uscc import check_digit
from ibdc_dev.simulator.datasets import DATASETS
from ibdc_dev.simulator.faults import Fault, FaultBoard, FaultKind, Malformation

PORTALS_FILE = Path(__file__).with_name("portals.yaml")


@functools.cache
def board() -> FaultBoard:
    return FaultBoard(get_settings().simulator_faults)


@functools.cache
def portals() -> dict[str, dict]:
    """Province -> its portal: ``style``, the style's options, and ``via`` (dataset -> the style of
    the shared portal it publishes that dataset through: ``nbs_easyquery``, the simulated NBS)."""
    doc = yaml.safe_load(PORTALS_FILE.read_text(encoding="utf-8"))
    return {str(code): ({"style": p} if isinstance(p, str) else p) for code, p in doc.items()}


def style_of(province: str, dataset: str) -> str:
    """The style a province's ``dataset`` is served in."""
    options = portals()[province]
    return options.get("via", {}).get(dataset, options["style"])


# NBS publishes industrial output for a month around the middle of the next month; CEC's electricity
# figures come out about as late. Before that a portal has nothing for the month.
RELEASE_DAY = 15
STATISTICS = ("industrial_output", "electricity_consumption")


def released(dataset: str, province: str, period: str, today: date | None = None) -> bool:
    """Whether the province's ``dataset`` for ``period`` is out: not while a ``not_released`` fault
    covers it, and for monthly statistics not before the release day of the following month."""
    for fault in board().data_faults(dataset, province):
        if fault.kind is FaultKind.NOT_RELEASED and (not fault.periods or period in fault.periods):
            return False
    if dataset not in STATISTICS:
        return True
    release = month_start(add_months(period, 1)).replace(day=RELEASE_DAY)
    return (today or datetime.now(UTC).date()) >= release


def portal(adcode: str, style: str) -> dict:
    """The province's portal options; 404 unless the province publishes in ``style``."""
    if adcode not in provinces():
        raise HTTPException(404, f"no provincial source {adcode}")
    options = portals().get(adcode)
    if not options or options["style"] != style:
        raise HTTPException(404, f"province {adcode} does not publish through a {style} API")
    return options


UNPAGED_STYLES = ("csv_download", "nbs_easyquery")  # the whole partition in one response


def check_fault(fault: Fault) -> None:
    """422 for a fault the province's portal cannot have: an unknown province or dataset, or records
    repeated across pages where the whole partition comes in one response."""
    if fault.province not in portals():
        raise HTTPException(422, f"no provincial source {fault.province}")
    schema(fault.dataset)
    style = style_of(fault.province, fault.dataset)
    if fault.kind is FaultKind.DUPLICATE_ROWS and style in UNPAGED_STYLES:
        raise HTTPException(422, f"duplicate_rows needs pages; {fault.province} serves {style}, one response")
    if style == "nbs_easyquery" and not _nbs_can_have(fault):
        raise HTTPException(
            422,
            f"{fault.province} publishes {fault.dataset} through NBS easyquery, which cannot have {fault.kind}"
            f"{' ' + str(fault.malformation) if fault.malformation else ''}: no record count, indicator codes"
            " instead of product codes and field names, the period in the query",
        )


def _nbs_can_have(fault: Fault) -> bool:
    """NBS serves one figure per indicator cell: only figures can be malformed, and it claims no count."""
    if fault.kind in (FaultKind.OVERCOUNT, FaultKind.SCHEMA_DRIFT):
        return False
    if fault.kind is FaultKind.MALFORMED:
        return fault.malformation in (Malformation.BAD_NUMBER, Malformation.NEGATIVE) and fault.field in (
            "current_month",
            "cumulative",
        )
    return True


def secret() -> bytes:
    value = get_settings().simulator_client_secret
    if not value:
        raise RuntimeError("IBDC_SIMULATOR_CLIENT_SECRET is not set")
    return value.encode()


def secret_matches(candidate: str | None) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), secret())


def schema(dataset: str) -> RecordSchema:
    if dataset not in DATASETS:
        raise HTTPException(404, f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    return SCHEMAS[dataset]


def known_dataset(name: str | None) -> str | None:
    """``name`` when the simulator serves that dataset, else None (for portals that answer unknown
    resources with an error code of their own rather than a 404)."""
    return name if name in DATASETS else None


def is_count(value: str) -> bool:
    """A page number or size as a portal accepts it: ASCII digits only."""
    return value.isascii() and value.isdigit()


def check_period(dataset: str, period: str) -> str:
    try:
        (parse_period if schema(dataset).cadence is Cadence.MONTHLY else parse_day)(period)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return period


# --- records -------------------------------------------------------------------------------------


def _truth_table(dataset: str, province: str, period: str) -> tuple[pa.Table, list[Fault]]:
    faults = board().data_faults(dataset, province)
    revised = {p: f.factor for f in faults if f.kind is FaultKind.REVISION for p in f.periods}
    table = DATASETS[dataset].truth(get_settings().simulator_seed, province, period, revised)
    return table, faults


def _positions(table: pa.Table, sch: RecordSchema, fault: Fault) -> list[int]:
    if fault.every:
        return list(range(fault.every - 1, table.num_rows, fault.every))
    keys = table.column(sch.key[0]).to_pylist()
    return [i for i, k in enumerate(keys) if k == fault.key]


def _broken(value: str | None, kind: Kind, how: Malformation) -> str:
    value = value or "0"
    if how is Malformation.BAD_NUMBER:
        return value.replace("0", "O", 1).replace(".", ",") + "x"
    if how is Malformation.NEGATIVE:
        return "-" + value if value.strip("0.") else "-1"
    if how is Malformation.UNKNOWN_CODE:
        return value + "_v2"
    if how is Malformation.INVALID_CREDIT_CODE:
        good = check_digit(value[:17])
        return value[:17] + ("1" if good != "1" else "2")
    if how is Malformation.FUTURE_DATE:
        return {Kind.TIMESTAMP: "2099-01-01T00:00:00Z", Kind.PERIOD: "2099-01"}.get(kind, "2099-01-01")
    raise ValueError(how)


def _malformed(table: pa.Table, sch: RecordSchema, faults: list[Fault]) -> tuple[pa.Table, list[dict]]:
    broken = []
    for fault in faults:
        if fault.kind is not FaultKind.MALFORMED:
            continue
        name = fault.field or sch.key[0]
        column = table.column(name).to_pylist()
        for i in _positions(table, sch, fault):
            column[i] = _broken(column[i], sch.field(name).kind, fault.malformation)
            broken.append({"position": i, "key": table.column(sch.key[0])[i].as_py(), "kind": str(fault.malformation)})
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(column, pa.string()))
    return table, broken


SERVED_TABLES_BYTES = 256 * 2**20  # Arrow buffers kept: two province-days of 1.2 million readings


class ServedTables:
    """The partitions served lately, built once for all their pages: least recently used first out
    once their Arrow buffers pass ``budget_bytes`` (the newest is kept whatever its size). A table is
    found by everything it is built from, so a fault switched on or off builds it anew."""

    def __init__(self, budget_bytes: int = SERVED_TABLES_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._tables: OrderedDict[Hashable, pa.Table] = OrderedDict()
        self._lock = threading.Lock()  # one build at a time: two requests of one page never build twice

    def __len__(self) -> int:
        return len(self._tables)

    def get(self, key: Hashable, build: Callable[[], pa.Table]) -> pa.Table:
        with self._lock:
            table = self._tables.get(key)
            if table is None:
                table = self._tables[key] = build()
            self._tables.move_to_end(key)
            while len(self._tables) > 1 and sum(t.nbytes for t in self._tables.values()) > self.budget_bytes:
                self._tables.popitem(last=False)
            return table

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()


@functools.cache
def served_tables() -> ServedTables:
    return ServedTables()


def served_key(dataset: str, province: str, period: str) -> tuple:
    """Everything the served partition is built from (HTTPException 422 for an invalid period): the
    partition, whether it is released, the data faults in force, the seed and the telemetry devices."""
    check_period(dataset, period)
    settings = get_settings()
    return (
        dataset,
        province,
        period,
        released(dataset, province, period),
        tuple(board().data_faults(dataset, province)),
        settings.simulator_seed,
        settings.simulator_telemetry_devices,
    )


def served_table(dataset: str, province: str, period: str) -> pa.Table:
    """The partition as the province serves it: string columns, faults applied, maybe drifted; no
    record for a period not :func:`released` yet. Built once for all its pages (:class:`ServedTables`):
    a page of a province-day of a million readings is a slice, not a day built anew."""
    key = served_key(dataset, province, period)
    return served_tables().get(key, lambda: _served_table(dataset, province, period))


# A page's body is encoded record by record (rest_json some 37,000 records/s, signed_gateway 16,000):
# slower than a client reads it. The bodies served lately are kept, so a partition read again (a
# retried extraction, a benchmark's rounds) is served at the speed of the HTTP stack.
PAGE_CACHE_MB_VARIABLE = "IBDC_SIMULATOR_PAGE_CACHE_MB"
PAGE_CACHE_MB = 512  # a province-day of 1.2 million readings in any style (jsonp's: about 250 MB)


class EncodedPages:
    """Answers' bodies encoded lately, by everything that determines them (:func:`page_body`'s key):
    least recently used first out once their bytes pass ``budget_bytes``; a body larger than the
    budget is served and not kept. ``hits`` and ``misses`` count lookups (a miss encodes the body).
    Two requests of one body at once encode it once; bodies of other keys are encoded meanwhile."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()  # held for the bookkeeping only, never while a body is encoded

    def __len__(self) -> int:
        return len(self._bodies)

    def _kept(self, key: Hashable) -> bytes | None:
        body = self._bodies.get(key)
        if body is not None:
            self._bodies.move_to_end(key)
            self.hits += 1
        return body

    def get(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """The body kept for ``key``, else ``build()`` kept and returned."""
        with self._lock:
            body = self._kept(key)
            if body is not None:
                return body
            building = self._building.setdefault(key, threading.Lock())
        with building:  # a second request of the same body waits for the first one's
            with self._lock:
                body = self._kept(key)
                if body is not None:
                    return body
            try:
                body = build()
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:  # kept as its build lock goes: a request in between would encode it again
                self._building.pop(key, None)
                self.misses += 1
                if len(body) <= self.budget_bytes:
                    self._bodies[key] = body
                    self.bytes += len(body)
                    while self.bytes > self.budget_bytes:
                        self.bytes -= len(self._bodies.popitem(last=False)[1])
            return body

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
            self.bytes = self.hits = self.misses = 0


@functools.cache
def encoded_pages() -> EncodedPages:
    """The simulator's page cache: ``IBDC_SIMULATOR_PAGE_CACHE_MB`` MiB (default 512; 0: none kept)."""
    return EncodedPages(int(os.environ.get(PAGE_CACHE_MB_VARIABLE, PAGE_CACHE_MB)) * 2**20)


def page_body(
    style: str, dataset: str, province: str, period: str, params: Hashable, encode: Callable[[pa.Table], bytes]
) -> bytes:
    """A data answer's body: ``encode(served table)`` once, then kept (:class:`EncodedPages`) under
    the style, :func:`served_key` (partition, release, data faults, seed, devices) and ``params``
    (what else the body depends on: the page's start and size, a callback, an encoding). The served
    table is built only when the body is not kept. HTTP faults (rate limits, truncation, ...) are
    applied to each answer after this (:func:`respond`): they vary per request, the body does not.
    HTTPException 422 for an invalid period."""
    key = (style, served_key(dataset, province, period), params)
    return encoded_pages().get(key, lambda: encode(served_table(dataset, province, period)))


def _served_table(dataset: str, province: str, period: str) -> pa.Table:
    sch = schema(dataset)
    table, faults = _truth_table(dataset, province, period)
    if not released(dataset, province, period):
        table = table.slice(0, 0)
    table, _ = _malformed(table, sch, faults)
    for fault in faults:
        if fault.kind is FaultKind.SCHEMA_DRIFT:
            table = table.rename_columns([fault.renamed_to if n == fault.field else n for n in table.column_names])
    return table


def truth(dataset: str, province: str, period: str) -> dict:
    """What a correct pipeline holds: the valid records, and the malformed ones by position."""
    sch = schema(dataset)
    table, faults = _truth_table(dataset, province, check_period(dataset, period))
    if not released(dataset, province, period):
        table = table.slice(0, 0)
    _, broken = _malformed(table, sch, faults)
    bad = {b["position"] for b in broken}
    expected = [r for i, r in enumerate(table.to_pylist()) if i not in bad]
    return {"dataset": dataset, "province_code": province, "period": period, "expected": expected, "malformed": broken}


def claimed(table: pa.Table, dataset: str, province: str) -> int:
    """The record count the source publishes for the partition: its records, plus any ``overcount``."""
    extra = sum(f.extra for f in board().data_faults(dataset, province) if f.kind is FaultKind.OVERCOUNT)
    return table.num_rows + extra


def page(table: pa.Table, dataset: str, province: str, start: int, count: int) -> pa.Table:
    """Records ``start`` .. ``start + count``; with ``duplicate_rows`` every later page also repeats
    the previous page's last record at its top (an unstable sort on the portal's side)."""
    duplicated = any(f.kind is FaultKind.DUPLICATE_ROWS for f in board().data_faults(dataset, province))
    if duplicated and start > 0:
        return table.slice(start - 1, count + 1)
    return table.slice(start, count)


# --- responses -----------------------------------------------------------------------------------


def too_many_requests(fault: Fault) -> Response:
    """How a portal says it is rate-limited, unless its style says otherwise: HTTP 429 with Retry-After."""
    return Response(
        json.dumps({"error": "rate limit exceeded"}),
        429,
        {"Retry-After": str(fault.retry_after)},
        media_type="application/json",
    )


async def respond(
    dataset: str,
    province: str,
    body: bytes,
    media_type: str,
    headers: dict[str, str] | None = None,
    rate_limited: Callable[[Fault], Response] = too_many_requests,
) -> Response:
    """The response to a data request, after the HTTP faults in force for (province, dataset).
    ``rate_limited``: the answer to a ``rate_limited`` fault (a style whose portals say so in an
    HTTP 200 body gives its own)."""
    for fault in board().take_http_faults(dataset, province):
        if fault.kind is FaultKind.RATE_LIMITED:
            return rate_limited(fault)
        if fault.kind is FaultKind.SERVER_ERROR:
            return Response(json.dumps({"error": "upstream unavailable"}), 503, media_type="application/json")
        if fault.kind is FaultKind.SLOW:
            await asyncio.sleep(fault.seconds)
        if fault.kind is FaultKind.TRUNCATED:
            body = body[: max(1, len(body) // 2)]
    return Response(body, 200, headers, media_type=media_type)
