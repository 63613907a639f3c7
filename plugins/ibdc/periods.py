"""Partition periods. A monthly period is ``YYYY-MM``; it comes from a data interval or a validated
param, never from the wall clock."""

from __future__ import annotations

import re
from datetime import date, datetime

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(period: str) -> tuple[int, int]:
    m = PERIOD_RE.match(period or "")
    if not m:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(m.group(1)), int(m.group(2))


def parse_day(period: str) -> date:
    """A daily period, ``YYYY-MM-DD``."""
    try:
        if len(period) != 10:
            raise ValueError
        return date.fromisoformat(period)
    except (TypeError, ValueError):
        raise ValueError(f"daily period must be YYYY-MM-DD, got {period!r}") from None


def check_period(cadence: str, period: str) -> str:
    """``period`` validated for a dataset's cadence (``monthly``: YYYY-MM, ``daily``: YYYY-MM-DD)."""
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
