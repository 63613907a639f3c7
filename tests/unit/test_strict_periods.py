"""Strict periods at every entry point: ASCII digits, the whole string, one spelling (issue 13, point 5).

``"2022-06\\n"`` passed Python's ``$``, full-width digits passed ``\\d``; both then reached object keys
and SQL, where PostgreSQL's ``to_date`` mapped them onto the real partition."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ibdc.errors import ErrorKind, kind_of
from ibdc.periods import CADENCES, InvalidPeriod, check_period, parse_day, parse_period

BAD_MONTHS = [
    "2022-06\n",
    "2022-06\r\n",
    " 2022-06",
    "2022-06 ",
    "２０２２-０６",  # full-width digits
    "２０２２-06",  # full-width year: passed \d{4}
    "٢٠٢٢-06",  # Arabic-Indic year
    "٢٠٢٢-٠٦",  # Arabic-Indic digits
    "2022-6",
    "2022-06-01",
    "+2022-06",
    "0000-01",
]
BAD_DAYS = [
    "2022-06-01\n",
    "２０２２-０６-０１",
    "２０２２-06-01",
    "2022-W01-1",  # ten characters that date.fromisoformat reads as 2022-01-03
    "20220601",
    "2022-06-1 ",
    "2022-02-30",
    "2022-06-01T00:00",
]


@pytest.mark.parametrize(
    ("cadence", "parse", "bad"),
    [*(("monthly", parse_period, bad) for bad in BAD_MONTHS), *(("daily", parse_day, bad) for bad in BAD_DAYS)],
)
def test_a_period_that_is_not_exactly_its_cadences_spelling_in_ascii_is_refused(cadence, parse, bad):
    with pytest.raises(InvalidPeriod, match=CADENCES[cadence].format):
        parse(bad)
    with pytest.raises(InvalidPeriod):
        check_period(cadence, bad)


def test_a_malformed_period_is_a_permanent_error_and_still_a_value_error():
    with pytest.raises(ValueError) as raised:
        check_period("monthly", "2022-06\n")
    assert kind_of(raised.value) is ErrorKind.PERMANENT


# Periods near the real ones: a real month or day, some digits replaced by other Unicode digits, and
# a suffix; and any short text.
_DIGITS = st.sampled_from("0123456789０１２３４５６７８９٠١٢٣٤٥٦٧٨٩")
NEAR_PERIODS = st.builds(
    lambda day, monthly, swaps, suffix: (
        "".join(swaps.get(i, c) for i, c in enumerate(day.isoformat()[: 7 if monthly else 10])) + suffix
    ),
    st.dates(),
    st.booleans(),
    st.dictionaries(st.integers(0, 9), _DIGITS, max_size=2),
    st.sampled_from(["", "\n", "\r\n", " ", "\t", "\x00", "-01"]),
)


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=12), NEAR_PERIODS))
def test_every_accepted_period_round_trips(text):
    for cadence, parse, fmt in (
        ("monthly", parse_period, lambda ym: f"{ym[0]:04d}-{ym[1]:02d}"),
        ("daily", parse_day, lambda d: d.isoformat()),
    ):
        try:
            value = parse(text)
        except InvalidPeriod:
            continue
        assert text.isascii() and fmt(value) == text == check_period(cadence, text)


def test_plan_refuses_a_period_param_that_does_not_round_trip():
    from ibdc.orchestration import plan_partitions

    for dataset, bad in (("industrial_output", "2022-06\n"), ("equipment_telemetry", "２０２２-06-01")):
        with pytest.raises(InvalidPeriod):
            plan_partitions(dataset, {"period": bad}, None)
        # even when the run has a data interval (the param is then ignored, but never malformed)
        with pytest.raises(InvalidPeriod):
            plan_partitions(dataset, {"period": bad}, datetime(2022, 6, 1, tzinfo=UTC))


def test_loaded_periods_refuse_a_period_that_does_not_round_trip():
    """The transform hands these periods to dbt, which writes them into SQL."""
    from ibdc.transform.changes import LoadedPartition, periods_by_dataset

    good = LoadedPartition("industrial_output", "110000", "2022-06", "b")
    assert periods_by_dataset([good]) == {"industrial_output": ["2022-06"]}
    for dataset, bad in (
        ("industrial_output", "2022-06\n"),
        ("industrial_output", "２０２２-06"),
        ("equipment_telemetry", "2022-06-01\n"),
        ("equipment_telemetry", "2022-06-01' or true --"),
        ("no_such_dataset", "2022-06"),
    ):
        with pytest.raises(ValueError):
            periods_by_dataset([good, LoadedPartition(dataset, "110000", bad, "b")])


@pytest.mark.parametrize(
    ("dataset", "bad"), [("industrial_output", "2022-06\n"), ("equipment_telemetry", "２０２２-06-01")]
)
def test_no_extraction_or_load_starts_for_a_period_that_does_not_round_trip(dataset, bad):
    """Refused before any object key is formed or any session opened (no services needed: a call
    that got further would fail on the network instead)."""
    from ibdc import pipeline

    with pytest.raises(InvalidPeriod):
        pipeline.extract_partition(dataset, "110000", bad)
    with pytest.raises(InvalidPeriod):
        pipeline.load_partition_from_raw(dataset, "110000", bad)
    summary = {"status": "not_released", "dataset": dataset, "province_code": "110000", "period": bad}
    with pytest.raises(InvalidPeriod):
        pipeline.load_extracted({**summary, "manifest_key": "x", "reason": "r"})
