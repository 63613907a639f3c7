"""The NBS statistical calendar of industrial output: since 2013 January and February are released
together, so January publishes nothing and February only the January-February year to date, its
current-month value missing. The simulator publishes that way; every wire format carries the missing
value both ways (a CSV table's 合计 row sums only the figures present); validation accepts a missing
current month in February and quarantines it in any other month."""

import csv
import json
from decimal import Decimal

import pytest

from ibdc.datasets import INDUSTRIAL_OUTPUT as SPEC
from ibdc.formats import csv_download, format_for
from ibdc.formats.base import DecodeError, table_from_records
from ibdc.reference import provinces
from ibdc.schemas import INDUSTRIAL_OUTPUT
from ibdc_dev.simulator.datasets import industrial_output
from ibdc_dev.simulator.truth import monthly_output, published_output
from tests.manifests import manifest_of
from tests.parsed_partition import parse_partition
from tests.unit.test_formats import WIRES

SEED = 20260101
MISSING_REASON = "current_month: current-month value missing outside the January-February release"


def test_the_simulator_publishes_no_january_and_february_without_a_current_month():
    for code in provinces():
        assert published_output(SEED, code, "2025-01") == []
        feb = published_output(SEED, code, "2025-02")
        march = {r.product_code: r for r in published_output(SEED, code, "2025-03")}
        assert feb and march.keys() == {r.product_code for r in feb}, code
        for rec in feb:
            months = monthly_output(SEED, rec.product_code, code, 2025)
            assert rec.current_month is None, (code, rec)
            assert rec.cumulative == months[0] + months[1]
            assert march[rec.product_code].current_month == months[2]
            assert march[rec.product_code].cumulative == rec.cumulative + months[2]
    # A revised January changes February's year to date; the current month stays missing.
    revised = published_output(SEED, "440000", "2025-02", {"2025-01": Decimal("1.1")})
    original = {r.product_code: r.cumulative for r in published_output(SEED, "440000", "2025-02")}
    assert all(r.current_month is None for r in revised)
    assert any(r.cumulative > original[r.product_code] for r in revised)


def test_the_served_february_table_leaves_every_current_month_missing():
    table = industrial_output(SEED, "220000", "2025-02", {})
    assert table.num_rows > 0 and table.column("current_month").null_count == table.num_rows
    assert table.column("cumulative").null_count == 0
    march = industrial_output(SEED, "220000", "2025-03", {})
    assert march.column("current_month").null_count == 0


@pytest.mark.parametrize("wire", list(WIRES))
@pytest.mark.parametrize("period", ["2025-02", "2025-03"])
def test_every_wire_format_carries_the_missing_current_month_both_ways(wire, period):
    """A February partition as the simulator serves it (every current month missing), and a March one
    where some portal left a few out: decoded exactly as encoded."""
    w = WIRES[wire]
    table = industrial_output(SEED, "220000", period, {})
    if period == "2025-03":
        records = table.to_pylist()
        for i in (0, 3, len(records) - 1):
            records[i]["current_month"] = None
        table = table_from_records(INDUSTRIAL_OUTPUT, records)
    body = w.encode(INDUSTRIAL_OUTPUT, table)
    page = format_for(w.style).decode(INDUSTRIAL_OUTPUT, body)
    assert page.table.equals(table), (page.table.to_pylist(), table.to_pylist())


def _tables(body: bytes) -> list[list[list[str]]]:
    """A csv_download output file's tables, each as its rows of cells (header, records, 合计)."""
    text = body.decode("gb18030").rstrip("\n")
    return [list(csv.reader(block.splitlines())) for block in text.split("\n\n")[:-1]]


def test_a_csv_february_file_prints_missing_marks_and_its_total_rows_sum_only_the_year_to_date():
    table = industrial_output(SEED, "220000", "2025-02", {})
    body = csv_download.encode(INDUSTRIAL_OUTPUT, table, "gbk")
    tables = _tables(body)
    assert len(tables) > 1
    for header, *records, total in tables:
        current, ytd = header.index(next(h for h in header if h.startswith("本月("))), len(header) - 1
        assert [r[current] for r in records] == [csv_download.MISSING[i % 3] for i in range(len(records))]
        # 合计: the current-month column has no figure to sum (missing), the year to date its exact sum.
        assert total[0] == f"合计(共{len(records)}条)" and total[current] == "-"
        assert Decimal(total[ytd]) == sum(Decimal(r[ytd]) for r in records)
    decoded = csv_download.decode(INDUSTRIAL_OUTPUT, body)
    assert decoded.table.column("current_month").to_pylist() == [None] * table.num_rows


def test_a_csv_total_row_sums_the_current_months_present_and_a_wrong_one_is_refused():
    records = [
        {"province_code": "220000", "period": "2025-02", "product_code": code, "product_name": name,
         "unit": "10k_tonnes", "current_month": current, "cumulative": ytd}
        for code, name, current, ytd in [
            ("crude_steel", "粗钢", "120.50", "120.50"),  # a portal printing January-February as February's
            ("pig_iron", "生铁", None, "80.25"),
            ("cement", "水泥", "30.00", "30.00"),
        ]
    ]  # fmt: skip
    table = table_from_records(INDUSTRIAL_OUTPUT, records)
    body = csv_download.encode(INDUSTRIAL_OUTPUT, table, "gbk").decode("gbk")
    assert "\n合计(共3条),,,,150.50,230.75\n" in body
    assert "220000,2025年02月,pig_iron,生铁,—,80.25\n" in body
    assert csv_download.decode(INDUSTRIAL_OUTPUT, body.encode("gbk")).table.equals(table)
    # A total that counts the missing figure, or says missing over figures, is a corrupt file.
    for broken in (body.replace(",,,,150.50,", ",,,,230.75,"), body.replace(",,,,150.50,", ",,,,-,")):
        with pytest.raises(DecodeError, match="合计"):
            csv_download.decode(INDUSTRIAL_OUTPUT, broken.encode("gbk"))
    # Every current month missing: a figure in the 合计 row is refused, the missing mark taken.
    feb = table_from_records(INDUSTRIAL_OUTPUT, [dict(r, current_month=None) for r in records])
    body = csv_download.encode(INDUSTRIAL_OUTPUT, feb, "gbk").decode("gbk")
    assert "\n合计(共3条),,,,-,230.75\n" in body
    with pytest.raises(DecodeError, match="合计"):
        csv_download.decode(INDUSTRIAL_OUTPUT, body.replace(",,,,-,", ",,,,0,").encode("gbk"))


def _item(period: str, **overrides) -> dict:
    item = {
        "province_code": "130000",
        "period": period,
        "product_code": "crude_steel",
        "product_name": "粗钢",
        "unit": "10k_tonnes",
        "current_month": None,
        "cumulative": "430.06",
    }
    return {**item, **overrides}


def _parse(period: str, items: list[dict]):
    manifest = manifest_of(SPEC.name, "130000", period, key="k/page-0001.json")
    return parse_partition(SPEC, manifest, [json.dumps({"total": len(items), "items": items}).encode()])


def test_february_without_a_current_month_is_valid_and_loads_it_missing():
    result = _parse("2025-02", [_item("2025-02"), _item("2025-02", product_code="cement", cumulative="0")])
    assert result.rejects == []
    steel, cement = result.rows.to_pylist()
    assert (steel["value_current_month"], steel["value_current_month_base"]) == (None, None)
    assert (steel["value_cumulative"], steel["value_cumulative_base"]) == ("430.06", "4300600.00")
    assert (cement["value_current_month"], cement["value_cumulative"]) == (None, "0")


def test_february_with_both_figures_is_kept_as_published_and_still_checked():
    result = _parse(
        "2025-02",
        [
            _item("2025-02", current_month="430.06"),  # January-February printed as February's figure
            _item("2025-02", product_code="pig_iron", current_month="200.5"),  # February alone: kept too
            _item("2025-02", product_code="cement", current_month="500", cumulative="430"),
        ],
    )
    assert [r["value_current_month"] for r in result.rows.to_pylist()] == ["430.06", "200.5"]
    (reject,) = result.rejects
    assert reject.record_position == 2 and "current month 500 exceeds cumulative 430" in reject.reason


@pytest.mark.parametrize("period", ["2025-03", "2025-06", "2025-12", "2025-01"])
def test_a_missing_current_month_outside_the_january_february_release_is_quarantined(period):
    result = _parse(period, [_item(period), _item(period, product_code="cement", current_month="12.5")])
    assert result.rows.column("product_code").to_pylist() == ["cement"]
    (reject,) = result.rejects
    assert reject.record_position == 0
    assert reject.reason == f"{MISSING_REASON} (period {period})"
    assert json.loads(reject.raw_text)["current_month"] is None


def test_a_january_record_served_with_values_is_treated_like_any_month():
    result = _parse("2025-01", [_item("2025-01", current_month="210.3", cumulative="210.3")])
    assert result.rejects == []
    (row,) = result.rows.to_pylist()
    assert (row["value_current_month"], row["value_cumulative"]) == ("210.3", "210.3")


def test_february_missing_current_month_with_another_fault_gives_that_fault_only():
    result = _parse("2025-02", [_item("2025-02", cumulative="-1"), _item("2025-02", current_month="-3")])
    reasons = [r.reason for r in result.rejects]
    assert len(reasons) == 2 and all("non-negative" in r for r in reasons)
    assert not any("January-February" in r for r in reasons)
