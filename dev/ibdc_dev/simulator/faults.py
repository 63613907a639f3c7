"""Switchable source faults, per province and dataset.

A profile in ``faults.yaml`` (``IBDC_SIMULATOR_FAULTS``) sets the faults the simulator starts with;
tests and operators add or clear faults at run time through ``/admin/faults`` (see ``app.py``).

HTTP faults (``rate_limited``, ``server_error``, ``slow``, ``truncated``) hit a province's data
requests for one dataset, ``times`` requests in a row (unset: every request), then stop, so a client
that retries succeeds and one that does not fails. Data faults change what is served:
``malformed`` breaks one field of chosen records, ``schema_drift`` renames a field,
``duplicate_rows`` repeats the previous page's last record at the top of every later page (paged
styles only), ``overcount`` claims ``extra`` records more than the partition has (the total, the 合计
row or the record count the style publishes), ``revision`` multiplies the figures of earlier
months (their later year-to-date figures follow; the datasets with monthly figures only), and
``not_released`` answers the months in ``periods`` (none: every month) as the portal answers a month
it has not released yet (NBS: every cell missing; app_key: its no-data code; the others: no record).
A ``rate_limited`` request gets HTTP 429 with Retry-After, except from the app_key portals, which say
so with their rate-limit code in an HTTP 200 body (``styles/app_key.py``).
"""

from __future__ import annotations

import enum
import functools
import threading
from decimal import Decimal
from pathlib import Path

import yaml
from pydantic import BaseModel, model_validator

FAULTS_FILE = Path(__file__).with_name("faults.yaml")


class FaultKind(enum.StrEnum):
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After (app_key: its rate-limit code in an HTTP 200)
    SERVER_ERROR = "server_error"  # 503
    SLOW = "slow"  # answers after ``seconds`` (longer than the client's timeout)
    TRUNCATED = "truncated"  # the body is cut short
    DUPLICATE_ROWS = "duplicate_rows"
    MALFORMED = "malformed"
    SCHEMA_DRIFT = "schema_drift"
    REVISION = "revision"
    OVERCOUNT = "overcount"  # claims ``extra`` more records than it serves
    NOT_RELEASED = "not_released"  # the months in ``periods`` (none: every month) are not released yet


REVISABLE = ("industrial_output", "electricity_consumption")  # published figures with a year-to-date
HTTP_FAULTS = (FaultKind.RATE_LIMITED, FaultKind.SERVER_ERROR, FaultKind.SLOW, FaultKind.TRUNCATED)


class Malformation(enum.StrEnum):
    BAD_NUMBER = "bad_number"  # "12O,5x"
    NEGATIVE = "negative"  # "-123.4"
    UNKNOWN_CODE = "unknown_code"  # a product / division code the catalogue does not know
    INVALID_CREDIT_CODE = "invalid_credit_code"  # a USCC whose check digit is wrong
    FUTURE_DATE = "future_date"  # a date or timestamp in 2099


class Fault(BaseModel, frozen=True):
    dataset: str
    province: str
    kind: FaultKind
    times: int | None = None  # HTTP faults: requests hit before the source recovers; None = all
    seconds: float = 15.0  # slow
    retry_after: int = 1  # rate_limited
    malformation: Malformation | None = None
    field: str | None = None  # malformed: the field broken; schema_drift: the field renamed
    key: str | None = None  # malformed: the record whose first key field has this value
    every: int | None = None  # malformed: every n-th record (positions n-1, 2n-1, ...)
    renamed_to: str | None = None  # schema_drift
    periods: tuple[str, ...] = ()  # revision: months revised
    factor: Decimal = Decimal("1.05")  # revision
    extra: int = 1  # overcount

    @model_validator(mode="after")
    def _complete(self) -> Fault:
        if self.kind is FaultKind.MALFORMED and (
            self.malformation is None or (self.key is None) == (self.every is None)
        ):
            raise ValueError("a malformed fault needs a malformation and exactly one of key, every")
        if self.kind is FaultKind.SCHEMA_DRIFT and not (self.field and self.renamed_to):
            raise ValueError("a schema_drift fault needs field and renamed_to")
        if self.kind is FaultKind.REVISION and not self.periods:
            raise ValueError("a revision fault needs periods")
        if self.kind is FaultKind.REVISION and self.dataset not in REVISABLE:
            raise ValueError(f"revision applies to the monthly figures of {', '.join(REVISABLE)}, not {self.dataset}")
        return self


@functools.cache
def load_profile(name: str) -> tuple[Fault, ...]:
    profiles = yaml.safe_load(FAULTS_FILE.read_text(encoding="utf-8"))
    if name not in profiles:
        raise ValueError(f"unknown fault profile {name!r}; known: {sorted(profiles)}")
    return tuple(Fault(**f) for f in profiles[name] or [])


class FaultBoard:
    """The faults in force: the profile's plus those added at run time; counts HTTP fault hits."""

    def __init__(self, profile: str) -> None:
        self.profile = profile
        self._lock = threading.Lock()
        self._added: list[Fault] = []
        self._hits: dict[int, int] = {}

    def all(self) -> list[Fault]:
        return [*load_profile(self.profile), *self._added]

    def add(self, faults: list[Fault]) -> None:
        with self._lock:
            self._added.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._added.clear()
            self._hits.clear()

    def data_faults(self, dataset: str, province: str) -> list[Fault]:
        return [f for f in self.all() if (f.dataset, f.province) == (dataset, province) and f.kind not in HTTP_FAULTS]

    def take_http_faults(self, dataset: str, province: str) -> list[Fault]:
        """The HTTP faults that hit this request (each counts one more hit)."""
        hit = []
        with self._lock:
            for fault in self.all():
                if (fault.dataset, fault.province) != (dataset, province) or fault.kind not in HTTP_FAULTS:
                    continue
                n = self._hits.get(id(fault), 0)
                if fault.times is None or n < fault.times:
                    self._hits[id(fault)] = n + 1
                    hit.append(fault)
        return hit
