from datetime import date, datetime

import pytest

from ibdc.periods import add_months, last_complete_months, month_end, month_of, parse_period


@pytest.mark.parametrize("bad", ["2024-13", "2024-00", "24-01", "2024-1", "", "2024/01", None])
def test_parse_period_rejects_malformed(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_period(bad)


def test_month_arithmetic_crosses_years():
    assert [add_months("2024-11", n) for n in range(4)] == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert add_months("2025-01", -1) == "2024-12" and add_months("2025-03", -15) == "2023-12"
    assert month_end("2024-02") == date(2024, 2, 29) and month_end("2024-12") == date(2024, 12, 31)
    with pytest.raises(ValueError, match="YYYY-MM"):
        add_months("2025-13", 1)


def test_last_complete_months_excludes_the_current_month():
    assert last_complete_months(date(2026, 1, 15), 3) == ["2025-10", "2025-11", "2025-12"]
    assert month_of(datetime(2026, 3, 1, 0, 0)) == "2026-03"


def test_the_demo_collects_the_last_months_already_released():
    from ibdc_dev.cli import demo_plan

    # October's statistics come out mid-November: on 16 November the demo's months end with September.
    assert [p for d, p in demo_plan(date(2026, 11, 16), 3) if d == "industrial_output"] == [
        "2026-07",
        "2026-08",
        "2026-09",
    ]
    assert [p for d, p in demo_plan(date(2026, 11, 30), 3) if d == "industrial_output"] == [
        "2026-08",
        "2026-09",
        "2026-10",
    ]
    # Electricity's last released month too; the other datasets' latest periods are the scheduler's own runs.
    assert [d for d, p in demo_plan(date(2026, 11, 30), 3) if d != "industrial_output"] == ["electricity_consumption"]
    assert ("electricity_consumption", "2026-10") in demo_plan(date(2026, 11, 30), 3)
