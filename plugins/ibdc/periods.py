"""Partition periods. A monthly period is ``YYYY-MM``, a daily one ``YYYY-MM-DD``; it comes from a
data interval or a validated param, never from the wall clock.

Strict: ASCII digits only, the whole string (no trailing newline, no padding), and only the one
spelling of the value (formatting the parsed period gives the same string back), so a period that
reaches an object key or SQL names exactly one partition.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from ibdc.errors import PermanentError

# re.ASCII: \d would otherwise take any Unicode digit; fullmatch: $ would accept a trailing newline.
MONTH_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])"
DAY_PATTERN = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
PERIOD_RE = re.compile(MONTH_PATTERN, re.ASCII)
DAY_RE = re.compile(DAY_PATTERN, re.ASCII)


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


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive."""
    y, m = parse_period(first)
    end = parse_period(last)
    if (y, m) > end:
        raise ValueError(f"{first} is after {last}")
    out = []
    while (y, m) <= end:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def last_complete_months(today: date, n: int) -> list[str]:
    """The ``n`` complete months before ``today``'s month, oldest first."""
    y, m = today.year, today.month
    months = []
    for _ in range(n):
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        months.append(f"{y:04d}-{m:02d}")
    return months[::-1]
