"""Which partitions each test module writes, declared, so that no two modules share one unknowingly.

The integration and end-to-end tests share one test warehouse and one raw bucket. A module that writes
partitions declares them with the marker ``partitions``, one claim as keywords or several as
``Claim`` objects::

    pytestmark = [
        pytest.mark.integration,
        pytest.mark.partitions(dataset="industrial_output", provinces=["370000"], periods=["2020-04"]),
    ]
    pytestmark = [pytest.mark.integration, pytest.mark.partitions(Claim(ANY, ["110000"], ["2022"]), ...)]

A period is a year (``"2022"``: each of its months and days, for a module that builds marts over the
year), a month (``"2022-06"``: its days too) or a day; ``ANY`` stands for every dataset, province or
period. At collection, ``tests/conftest.py`` refuses the session when claims of two modules overlap
(``collisions``), naming both modules and the partitions they share.

A test that needs partitions nobody else writes, but not particular ones, asks for the fixture
``fresh_partitions``: a month of the years ``FRESH_YEARS`` (which no module may name) that no other
test of the session is handed, the same one run after run; fresh for every dataset and province but
those a module claims for every period.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

ANY = "*"
PERIOD = re.compile(r"[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?")  # fullmatch: no "\n" after
# The fresh partitions' years: before any period a module claims, after the NBS calendar's 2013 change
# would matter to nothing handed out (a fresh month is a plain month, January and February included).
FRESH_YEARS = range(2000, 2010)
FRESH_MONTHS = [f"{year}-{month:02d}" for year in FRESH_YEARS for month in range(1, 13)]


@dataclass(frozen=True)
class Claim:
    """Partitions a module writes: ``dataset`` (a name or ANY), ``provinces`` (adcodes or ANY),
    ``periods`` (years, months, days, or ANY). ``ValueError`` for a period that is none of these."""

    dataset: str
    provinces: tuple[str, ...] | str
    periods: tuple[str, ...] | str

    def __init__(self, dataset: str, provinces: Iterable[str] | str, periods: Iterable[str] | str) -> None:
        provinces = ANY if provinces == ANY else tuple(provinces)
        periods = ANY if periods == ANY else tuple(periods)
        for period in () if periods == ANY else periods:
            if not PERIOD.fullmatch(period):
                raise ValueError(f"a claimed period is a year, a month or a day (YYYY[-MM[-DD]]), not {period!r}")
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "provinces", provinces)
        object.__setattr__(self, "periods", periods)

    def shared_with(self, other: Claim) -> str | None:
        """What this claim and ``other`` both cover, said in words; None when nothing."""
        if ANY not in (self.dataset, other.dataset) and self.dataset != other.dataset:
            return None
        provinces = _common(self.provinces, other.provinces)
        if not provinces:
            return None
        periods = _periods_in_common(self.periods, other.periods)
        if not periods:
            return None
        dataset = other.dataset if self.dataset == ANY else self.dataset
        said = _words(dataset, "every dataset"), _words(provinces, "every province"), _words(periods, "every period")
        return "{} of {} in {}".format(*said)

    def fresh_overlap(self) -> bool:
        """Whether the claim names a period in the years handed out by ``fresh_partitions`` (a claim of
        every period, a dataset's partitions of a province swept whole, is the one exception they
        allow: a fresh month is fresh for every other dataset and province)."""
        return self.periods != ANY and bool(_periods_in_common(self.periods, tuple(map(str, FRESH_YEARS))))


def _common(a: tuple[str, ...] | str, b: tuple[str, ...] | str) -> tuple[str, ...] | str:
    if a == ANY:
        return b
    if b == ANY:
        return a
    return tuple(sorted(set(a) & set(b)))


def _periods_in_common(a: tuple[str, ...] | str, b: tuple[str, ...] | str) -> tuple[str, ...] | str:
    """The narrower of each pair that overlaps: a year holds its months, a month its days."""
    if a == ANY:
        return b
    if b == ANY:
        return a
    shared = {x if len(x) >= len(y) else y for x in a for y in b if x.startswith(y) or y.startswith(x)}
    return tuple(sorted(shared))


def _words(value: tuple[str, ...] | str, every: str) -> str:
    return every if value == ANY else value if isinstance(value, str) else ", ".join(value)


def claims_of(marker_args: tuple, marker_kwargs: dict) -> list[Claim]:
    """The claims one ``partitions`` marker makes: ``Claim`` objects, or one claim's keywords."""
    if marker_kwargs:
        if marker_args:
            raise TypeError("pytest.mark.partitions takes Claim objects or one claim's keywords, not both")
        return [Claim(**marker_kwargs)]
    if not all(isinstance(a, Claim) for a in marker_args):
        raise TypeError(f"pytest.mark.partitions takes Claim objects, not {marker_args!r}")
    return list(marker_args)


def collisions(claims: dict[str, Sequence[Claim]]) -> list[str]:
    """Every overlap between claims of two different modules (``claims``: module -> its claims), and
    every claim reaching into the fresh partitions' years, one sentence each; empty when none."""
    found = []
    for module, own in sorted(claims.items()):
        found += [
            f"{module} claims {c.periods}, but {FRESH_YEARS.start}-{FRESH_YEARS.stop - 1} are fresh_partitions'"
            for c in own
            if c.fresh_overlap()
        ]
    for (first, a), (second, b) in combinations(sorted(claims.items()), 2):
        for x in a:
            for y in b:
                shared = x.shared_with(y)
                if shared:
                    found.append(f"{first} and {second} both write {shared}")
    return found


@dataclass(frozen=True)
class FreshPartitions:
    """A month only this test writes, for every dataset and province. ``month``: ``YYYY-MM``."""

    month: str

    def day(self, day: int = 1) -> str:
        """A day of the month, ``YYYY-MM-DD`` (the daily datasets' partition)."""
        return f"{self.month}-{day:02d}"

    def period(self, cadence: str, day: int = 1) -> str:
        """The partition of a dataset of ``cadence`` (``"monthly"`` or ``"daily"``) in the month."""
        return self.month if str(cadence) == "monthly" else self.day(day)


def fresh_months(test_ids: Iterable[str]) -> dict[str, str]:
    """A month of ``FRESH_MONTHS`` per test id, each its own: where the id's hash points (so a test
    keeps its month run after run), or the next free one. ``RuntimeError`` when more tests ask than
    there are months."""
    ids = sorted(set(test_ids))
    if len(ids) > len(FRESH_MONTHS):
        raise RuntimeError(f"{len(ids)} tests ask for fresh partitions; there are {len(FRESH_MONTHS)} months")
    given: dict[str, str] = {}
    taken: set[int] = set()
    for test_id in ids:
        slot = int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:4], "big") % len(FRESH_MONTHS)
        while slot in taken:
            slot = (slot + 1) % len(FRESH_MONTHS)
        taken.add(slot)
        given[test_id] = FRESH_MONTHS[slot]
    return given
