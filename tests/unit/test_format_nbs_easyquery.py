"""The nbs_easyquery wire format against answers in the shape data.stats.gov.cn really gives (the
handed cases in tests/cases/nbs-*), and the simulator's encoding of the same shape."""

import json
from pathlib import Path

import pyarrow as pa
import pytest

from ibdc.errors import ErrorKind, LayoutError, NotReleased, kind_of
from ibdc.formats import nbs_easyquery as fmt
from ibdc.formats.base import DecodeError, table_from_records
from ibdc.parsing.base import Records
from ibdc.parsing.industrial_output import validate
from ibdc.reference import nbs_indicators
from ibdc.schemas import ELECTRICITY_CONSUMPTION, INDUSTRIAL_OUTPUT
from tests.manifests import manifest_of

CASES = Path(__file__).resolve().parents[1] / "cases"


def case(path: str) -> bytes:
    return (CASES / path).read_bytes()


def records(body: bytes) -> dict[str, dict]:
    page = fmt.decode(INDUSTRIAL_OUTPUT, body)
    return {r["product_code"]: r for r in page.table.to_pylist()}


def validated(body: bytes, period: str):
    """The page through the dataset's validator, as the loader runs it."""
    page = fmt.decode(INDUSTRIAL_OUTPUT, body)
    manifest = manifest_of("industrial_output", page.table.column("province_code")[0].as_py(), period, key="page-0")
    return validate(manifest, manifest.objects[0], Records(page.table, list(range(page.num_records)), page.raw_text))


def test_nbs_answer_case_gives_two_records_from_strdata():
    got = records(case("nbs-answer/fsyd_610000_202406.json"))
    assert got == {
        "crude_steel": {
            "province_code": "610000",
            "period": "2024-06",
            "product_code": "crude_steel",
            "product_name": "粗钢",
            "unit": "10k_tonnes",
            "current_month": "123.45",
            "cumulative": "700.10",  # strdata at its published precision, not data's 700.1
        },
        "cement": {
            "province_code": "610000",
            "period": "2024-06",
            "product_code": "cement",
            "product_name": "水泥",
            "unit": "10k_tonnes",
            "current_month": "250.00",
            "cumulative": "1300.50",
        },
    }
    rows = validated(case("nbs-answer/fsyd_610000_202406.json"), "2024-06")
    assert rows.rejects == [] and rows.rows.num_rows == 2


def test_nbs_answer_page_names_the_cells_it_answers_and_keeps_each_records_datanodes():
    page = fmt.decode(INDUSTRIAL_OUTPUT, case("nbs-answer/fsyd_610000_202406.json"))
    assert page.answered == {"A02091401", "A02091402", "A02090Y01", "A02090Y02"}
    assert page.total is None  # NBS claims no count
    nodes = json.loads(page.raw_text(0))
    assert [n["code"] for n in nodes] == ["zb.A02091401_reg.610000_sj.202406", "zb.A02091402_reg.610000_sj.202406"]


def test_data_carrying_more_digits_than_strdata_is_not_read():
    doc = json.loads(case("nbs-answer/fsyd_610000_202406.json"))
    doc["returndata"]["datanodes"][0]["data"]["data"] = 123.4500001
    assert records(json.dumps(doc).encode())["crude_steel"]["current_month"] == "123.45"


def test_nbs_february_case_january_nothing_february_ytd_only_march_both():
    january = fmt.decode(INDUSTRIAL_OUTPUT, case("nbs-february/fsyd_460000_202401.json"))
    assert january.num_records == 0 and january.answered == {"A02090Y01", "A02090Y02", "A02092301", "A02092302"}

    february = records(case("nbs-february/fsyd_460000_202402.json"))
    assert {p: (r["current_month"], r["cumulative"], r["unit"]) for p, r in february.items()} == {
        "cement": (None, "301.25", "10k_tonnes"),
        "automobiles": (None, "0.85", "10k_units"),
    }
    rows = validated(case("nbs-february/fsyd_460000_202402.json"), "2024-02")
    assert rows.rejects == [], "February without a current-month value is the calendar, not a bad record"
    assert rows.rows.num_rows == 2

    march = records(case("nbs-february/fsyd_460000_202403.json"))
    assert {p: (r["current_month"], r["cumulative"]) for p, r in march.items()} == {
        "cement": ("160.40", "461.65"),
        "automobiles": ("0.51", "1.36"),
    }


def test_a_current_month_missing_outside_january_february_is_quarantined():
    doc = json.loads(case("nbs-february/fsyd_460000_202403.json"))
    doc["returndata"]["datanodes"][0]["data"] = {"data": 0, "dotcount": 2, "hasdata": False, "strdata": ""}
    rows = validated(json.dumps(doc).encode(), "2024-03")
    assert [r.reason for r in rows.rejects] and "current" in rows.rejects[0].reason.lower()
    assert rows.rows.num_rows == 1


def test_nbs_not_released_case_has_no_record():
    page = fmt.decode(INDUSTRIAL_OUTPUT, case("nbs-not-released/fsyd_640000_202611.json"))
    assert page.num_records == 0
    assert page.answered == {"A02090Y01", "A02090Y02", "A03010G01", "A03010G02"}


def test_nbs_no_data_case_is_not_released_with_the_sources_message():
    with pytest.raises(NotReleased, match="501.*no data matched the query") as raised:
        fmt.decode(INDUSTRIAL_OUTPUT, case("nbs-no-data/returncode_501.json"))
    assert kind_of(raised.value) is ErrorKind.NOT_RELEASED


def test_nbs_national_answer_case_is_a_permanent_error():
    with pytest.raises(LayoutError, match="national") as raised:
        fmt.decode(INDUSTRIAL_OUTPUT, case("nbs-national-answer/hgyd_reg610000_202406.json"))
    assert kind_of(raised.value) is ErrorKind.PERMANENT


def test_another_returncode_is_a_refusal_and_nbs_carries_industrial_output_only():
    with pytest.raises(fmt.EasyqueryRefused, match="returncode 403: forbidden"):
        fmt.decode(INDUSTRIAL_OUTPUT, fmt.error_body("forbidden", 403))
    with pytest.raises(LayoutError, match="industrial_output only"):
        fmt.decode(ELECTRICITY_CONSUMPTION, case("nbs-answer/fsyd_610000_202406.json"))


def test_every_cut_of_an_answer_is_a_decode_error_fetched_again():
    body = case("nbs-answer/fsyd_610000_202406.json")
    for cut in range(0, len(body) - 1, 7):
        with pytest.raises(DecodeError):
            fmt.decode(INDUSTRIAL_OUTPUT, body[:cut])
    assert kind_of(DecodeError("cut")) is ErrorKind.TRANSIENT


def test_a_unit_the_unit_table_does_not_know_is_kept_and_the_record_quarantined():
    doc = json.loads(case("nbs-answer/fsyd_610000_202406.json"))
    for node in doc["returndata"]["wdnodes"][0]["nodes"][:2]:
        node["unit"] = "千吨"
    rows = validated(json.dumps(doc).encode(), "2024-06")
    assert [r.reason for r in rows.rejects] and "unit" in rows.rejects[0].reason
    assert rows.rows.num_rows == 1  # cement still loads


def _output(period: str, rows: list[tuple]) -> pa.Table:
    return table_from_records(
        INDUSTRIAL_OUTPUT,
        [
            {
                "province_code": "460000",
                "period": period,
                "product_code": p,
                "product_name": p,
                "unit": u,
                "current_month": c,
                "cumulative": y,
            }
            for p, u, c, y in rows
        ],
    )


def test_the_simulators_answer_decodes_back_to_the_records_it_serves():
    served = _output("2025-02", [("cement", "10k_tonnes", None, "45.16"), ("automobiles", "10k_units", "1.20", "3.40")])
    groups = [i.group for i in fmt.indicators_for("2025-02")]
    body = fmt.encode_answer(served, "460000", "海南省", "2025-02", groups)
    page = fmt.decode(INDUSTRIAL_OUTPUT, body)
    got = {r["product_code"]: (r["unit"], r["current_month"], r["cumulative"]) for r in page.table.to_pylist()}
    assert got == {"cement": ("10k_tonnes", None, "45.16"), "automobiles": ("10k_units", "1.20", "3.40")}
    # Every leaf of every group asked for is answered: published, missing, or a growth rate not simulated.
    assert page.answered == {g + m for g in groups for m in ("01", "02", "03", "04")}
    doc = json.loads(body)
    node = next(n for n in doc["returndata"]["datanodes"] if n["code"] == "zb.A02090Y02_reg.460000_sj.202502")
    assert node["data"] == {"data": 45.16, "dotcount": 2, "hasdata": True, "strdata": "45.16"}
    assert [w["wdcode"] for w in node["wds"]] == ["zb", "reg", "sj"]


def test_a_month_not_released_answers_every_cell_missing():
    served = _output("2025-06", [("cement", "10k_tonnes", "1.00", "9.00")])
    body = fmt.encode_answer(served, "460000", "海南省", "2025-06", ["A02090Y"], released=False)
    assert json.loads(body)["returndata"]["hasdatacount"] == 0
    assert fmt.decode(INDUSTRIAL_OUTPUT, body).num_records == 0


def test_requests_and_the_indicator_tree():
    params = fmt.query_params("460000", "2025-06", "A020914", 1700000000000)
    assert params["dbcode"] == "fsyd" and (params["rowcode"], params["colcode"]) == ("zb", "sj")
    assert json.loads(params["wds"]) == [{"wdcode": "reg", "valuecode": "460000"}]
    assert json.loads(params["dfwds"]) == [
        {"wdcode": "zb", "valuecode": "A020914"},
        {"wdcode": "sj", "valuecode": "202506"},
    ]
    tree = fmt.encode_tree("A0209", {"A020914": "粗钢", "A02090Y": "水泥"})
    assert fmt.decode_tree(tree) == ["A020914", "A02090Y"]
    with pytest.raises(NotReleased):
        fmt.decode_tree(fmt.error_body("no data"))
    with pytest.raises(LayoutError):
        fmt.decode_tree(b'{"nodes": []}')


def test_the_crosswalk_codes_are_group_plus_measure_valid_by_vintage():
    assert {i.product_code for i in nbs_indicators()} == {i.product_code for i in fmt.indicators_for("2025-06")}
    assert len(fmt.indicators_for("2025-06")) == 16
    assert fmt.indicators_for("2017-12") == []  # the 2018 vintage's codes do not reach back
    steel = next(i for i in nbs_indicators() if i.product_code == "crude_steel")
    assert (steel.group, steel.current_month_zb, steel.year_to_date_zb, steel.parent) == (
        "A020914",
        "A02091401",
        "A02091402",
        "A0209",
    )
    energy = {i.product_code: i.parent for i in nbs_indicators() if i.parent != "A0209"}
    assert energy == {"crude_oil_processed": "A0301", "electricity_generation": "A0301"}


def test_codes_of_an_earlier_vintage_decode_to_their_product(monkeypatch):
    """NBS re-issues codes with classification vintages: each answered code maps to the product and
    unit of its own vintage's row."""
    from dataclasses import replace

    current = nbs_indicators()
    steel = next(i for i in current if i.product_code == "crude_steel")
    old = replace(steel, group="A020904", current_month_zb="A02090401", year_to_date_zb="A02090402")
    old = replace(old, valid_from="2012-01", valid_to="2017-12")
    monkeypatch.setattr(fmt, "nbs_indicators", lambda: (old, *current))
    assert [i.group for i in fmt.indicators_for("2016-06") if i.product_code == "crude_steel"] == ["A020904"]
    assert [i.group for i in fmt.indicators_for("2024-06") if i.product_code == "crude_steel"] == ["A020914"]
    assert records(case("nbs-answer/fsyd_610000_202406.json"))["crude_steel"]["unit"] == "10k_tonnes"
    body = case("nbs-answer/fsyd_610000_202406.json").replace(b"A0209140", b"A0209040").replace(b"202406", b"201606")
    old_steel = records(body)["crude_steel"]
    assert (old_steel["period"], old_steel["unit"], old_steel["current_month"]) == ("2016-06", "10k_tonnes", "123.45")
