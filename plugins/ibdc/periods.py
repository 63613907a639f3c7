"""Partition periods. A monthly period is ``YYYY-MM``, a daily one ``YYYY-MM-DD``; it comes from a
data interval or a validated param, never from the wall clock.

Strict: ASCII digits only, the whole string (no trailing newline, no padding), and only the one
spelling of the value (formatting the parsed period gives the same string back), so a period that
reaches an object key or SQL names exactly one partition.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ibdc.errors import PermanentError

# re.ASCII: \d would otherwise take any Unicode digit; fullmatch: $ would accept a trailing newline.
MONTH_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])"
DAY_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
PERIOD_RE = re.compile(MONTH_PATTERN, re.ASCII)
DAY_RE = re.compile(DAY_PATTERN, re.ASCII)


class Cadence(enum.StrEnum):
    MONTHLY = "monthly"
    DAILY = "daily"


@dataclass(frozen=True)
class CadenceSpec:
    """What a cadence fixes for every dataset collected at it: the DAG's schedule, the spelling of
    its periods, the earliest one, and the raw tables' partition column."""

    cadence: Cadence
    unit: str  # "month" or "day": what one period (and one run) covers
    cron: str  # the DAG's schedule, on data intervals (UTC): a run covers the interval that just ended
    period_regex: str  # one period, ASCII digits, unanchored
    format: str  # how the period is written, for people ("YYYY-MM")
    start_date: datetime  # the earliest period sources publish (backfills reach back to it)

    @property
    def pattern(self) -> str:
        """JSON schema (ECMA) pattern of the ``period`` param, which Airflow checks with Python's
        re.search: anchored, [0-9] (\\d takes any Unicode digit), and the length bound, as $ takes a
        trailing newline (:func:`check_period` is the rule)."""
        return f"^{self.period_regex}$"

    @property
    def length(self) -> int:
        return len(self.format)

    @property
    def period_column(self) -> str:
        """The raw tables' partition column (a date: a month's first day, or the day)."""
        return f"period_{self.unit}"

    @property
    def partition_predicate(self) -> str:
        """SQL matching one (province, period) partition of a raw table; two parameters, the province
        and the period (checked by :func:`check_period` before it reaches SQL)."""
        return f"province_code = %s AND {self.period_column} = to_date(%s, '{self.format}')"

    def period_of(self, moment: datetime) -> str:
        """The period holding ``moment`` (a data interval's start)."""
        return month_of(moment) if self.cadence is Cadence.MONTHLY else moment.date().isoformat()


class InvalidPeriod(PermanentError, ValueError):
    """A period that is not exactly ``YYYY-MM`` (or ``YYYY-MM-DD``) in ASCII digits."""


def parse_period(period: str) -> tuple[int, int]:
    """``(year, month)`` of a monthly period ``YYYY-MM``; raises :class:`InvalidPeriod` otherwise."""
    if not isinstance(period, str) or not PERIOD_RE.fullmatch(period):
        raise InvalidPeriod(f"period must be YYYY-MM, got {period!r}")
    year, month = int(period[:4]), int(period[5:])
    if year < 1 or f"{year:04d}-{month:02d}" != period:  # year 0 is no date's; the round trip is the rule
        raise InvalidPeriod(f"period must be YYYY-MM, got {period!r}")
    return year, month


def parse_day(period: str) -> date:
    """A daily period, ``YYYY-MM-DD`` (a real date); raises :class:`InvalidPeriod` otherwise."""
    if not isinstance(period, str) or not DAY_RE.fullmatch(period):
        raise InvalidPeriod(f"daily period must be YYYY-MM-DD, got {period!r}")
    try:
        day = date.fromisoformat(period)
    except ValueError:
        raise InvalidPeriod(f"daily period must be YYYY-MM-DD, got {period!r}") from None
    if day.isoformat() != period:
        raise InvalidPeriod(f"daily period must be YYYY-MM-DD, got {period!r}")
    return day


def check_period(cadence: str, period: str) -> str:
    """``period`` validated for a dataset's cadence (``monthly``: YYYY-MM, ``daily``: YYYY-MM-DD);
    raises :class:`InvalidPeriod` (permanent, a ValueError) otherwise."""
    if cadence == "daily":
        parse_day(period)
    else:
        parse_period(period)
    return period


def month_of(moment: date | datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def add_months(period: str, n: int) -> str:
    """The monthly period ``n`` months after ``period`` (before it for a negative ``n``): the one
    month arithmetic of the platform and its harness. Raises :class:`InvalidPeriod` for a malformed
    ``period``."""
    year, month = parse_period(period)
    index = 12 * year + month - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_start(period: str) -> date:
    """The first day of the monthly period ``period``."""
    return date(*parse_period(period), 1)


def month_end(period: str) -> date:
    """The last day of the monthly period ``period``."""
    return month_start(add_months(period, 1)) - timedelta(days=1)


def last_complete_months(today: date, n: int) -> list[str]:
    """The ``n`` complete months before ``today``'s month, oldest first."""
    return [add_months(month_of(today), -k) for k in range(n, 0, -1)]


CADENCES: dict[Cadence, CadenceSpec] = {
    c.cadence: c
    for c in (
        CadenceSpec(Cadence.MONTHLY, "month", "0 0 1 * *", MONTH_PATTERN, "YYYY-MM", datetime(2018, 1, 1, tzinfo=UTC)),
        # Midnight UTC: each run's data interval is exactly the UTC day its partition holds (the run
        # then waits for the dataset's available_after, see datasets.py).
        CadenceSpec(Cadence.DAILY, "day", "0 0 * * *", DAY_PATTERN, "YYYY-MM-DD", datetime(2024, 1, 1, tzinfo=UTC)),
    )
}
