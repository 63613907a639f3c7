"""The partition claims of the test modules (tests/partitions.py): overlapping claims of two modules are
found and named, whatever their granularity; the fresh months are each test's own."""

import pytest

from tests.partitions import ANY, FRESH_MONTHS, Claim, FreshPartitions, claims_of, collisions, fresh_months

OUTPUT = "industrial_output"


def test_a_year_claim_collides_with_a_month_of_it_and_both_modules_are_named():
    found = collisions(
        {
            "tests/integration/test_governance.py": [Claim(ANY, ["110000", "320000"], ["2022"])],
            "tests/integration/test_transform_periods.py": [Claim(OUTPUT, ["110000"], ["2021-03", "2022-03"])],
        }
    )
    assert found == [
        "tests/integration/test_governance.py and tests/integration/test_transform_periods.py both write"
        " industrial_output of 110000 in 2022-03"
    ]


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        (Claim(OUTPUT, ["110000"], ["2022-06"]), Claim(OUTPUT, ["110000"], ["2022-06"]), "2022-06"),
        (Claim(ANY, ["110000"], ["2022-06"]), Claim("equipment_telemetry", ["110000"], ["2022-06-15"]), "2022-06-15"),
        (Claim(OUTPUT, ANY, ["2024-07"]), Claim(OUTPUT, ["450000"], ["2024"]), "2024-07"),
        (Claim("enterprises", ["610000"], ANY), Claim("enterprises", ["610000"], ["2019-10"]), "2019-10"),
    ],
)
def test_claims_overlap_at_every_granularity(a, b, shared):
    (found,) = collisions({"a.py": [a], "b.py": [b]})
    assert found.startswith("a.py and b.py both write ") and found.endswith(f" in {shared}")


@pytest.mark.parametrize(
    "b",
    [
        Claim(OUTPUT, ["110000"], ["2022-07"]),  # another month
        Claim(OUTPUT, ["320000"], ["2022-06"]),  # another province
        Claim("enterprises", ["110000"], ["2022-06"]),  # another dataset
        Claim(OUTPUT, ["110000"], ["2021"]),  # another year
    ],
)
def test_disjoint_claims_do_not_collide(b):
    assert collisions({"a.py": [Claim(OUTPUT, ["110000"], ["2022-06"])], "b.py": [b]}) == []


def test_claims_of_one_module_may_overlap():
    assert collisions({"a.py": [Claim(ANY, ANY, ["2023"]), Claim(OUTPUT, ["330000"], ["2023-04"])]}) == []


def test_no_module_may_name_the_fresh_months_but_one_may_sweep_every_period():
    assert collisions({"a.py": [Claim(OUTPUT, ["110000"], ["2003-04"])]}) == [
        "a.py claims ('2003-04',), but 2000-2009 are fresh_partitions'"
    ]
    assert collisions({"a.py": [Claim("enterprises", ["610000"], ANY)]}) == []


def test_a_marker_takes_claims_or_one_claim_s_keywords_and_periods_are_checked():
    assert claims_of((), {"dataset": OUTPUT, "provinces": ["370000"], "periods": ["2020-04"]}) == [
        Claim(OUTPUT, ["370000"], ["2020-04"])
    ]
    claim = Claim(ANY, ANY, ["2026-02"])
    assert claims_of((claim,), {}) == [claim]
    with pytest.raises(TypeError):
        claims_of(("industrial_output",), {})
    for bad in ("2022-13", "2022-6", "22-06", "2022-06-01\n", "２０２２-06"):
        with pytest.raises(ValueError, match="a year, a month or a day"):
            Claim(OUTPUT, ["110000"], [bad])


def test_each_test_has_its_own_fresh_month_the_same_run_after_run():
    ids = [f"tests/integration/test_x.py::test_{n}" for n in range(100)]
    given = fresh_months(ids)
    assert len(set(given.values())) == len(ids) and set(given.values()) <= set(FRESH_MONTHS)
    assert fresh_months(reversed(ids)) == given
    assert fresh_months(ids[:1]) == {ids[0]: given[ids[0]]}
    with pytest.raises(RuntimeError, match="fresh partitions"):
        fresh_months(f"t{n}" for n in range(len(FRESH_MONTHS) + 1))
    fresh = FreshPartitions("2004-02")
    assert (fresh.period("monthly"), fresh.period("daily"), fresh.day(28)) == ("2004-02", "2004-02-01", "2004-02-28")
