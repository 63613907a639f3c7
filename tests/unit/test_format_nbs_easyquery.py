"""The nbs_easyquery wire format: datanodes pivot back into canonical records. (What every format shares --
exact round trips, empty pages, truncations, renamed fields -- is tested in test_formats.py.)"""

import json
import re

import pytest

from ibdc.formats import nbs_easyquery
from ibdc.formats.base import DecodeError, SchemaDrift, table_from_records
from ibdc.schemas import ELECTRICITY_CONSUMPTION, INDUSTRIAL_OUTPUT, SCHEMAS, Cadence, Kind
from tests.unit.format_helpers import kinds_table

# Hainan's electricity consumption for June 2025, two divisions: one value missing, one malformed. The
# datanodes come indicator by indicator (as NBS lists them), not record by record.
GOLDEN = """{"returncode": 200, "returndata": {
  "datanodes": [
    {"code": "zb.province_code.13_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "460000"},
     "wds": [{"wdcode": "zb", "valuecode": "province_code.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.province_code.26_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "460000"},
     "wds": [{"wdcode": "zb", "valuecode": "province_code.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.period.13_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "2025-06"},
     "wds": [{"wdcode": "zb", "valuecode": "period.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.period.26_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "2025-06"},
     "wds": [{"wdcode": "zb", "valuecode": "period.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.division_code.26_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "26"},
     "wds": [{"wdcode": "zb", "valuecode": "division_code.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.division_code.13_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "13"},
     "wds": [{"wdcode": "zb", "valuecode": "division_code.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.division_name.13_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "农副食品加工业"},
     "wds": [{"wdcode": "zb", "valuecode": "division_name.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.division_name.26_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "化学原料和化学制品制造业"},
     "wds": [{"wdcode": "zb", "valuecode": "division_name.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.consumption.13_reg.460000_sj.202506",
     "data": {"data": 12.3, "dotcount": 2, "hasdata": true, "strdata": "12.30"},
     "wds": [{"wdcode": "zb", "valuecode": "consumption.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.consumption.26_reg.460000_sj.202506",
     "data": {"data": 0, "dotcount": 0, "hasdata": false, "strdata": ""},
     "wds": [{"wdcode": "zb", "valuecode": "consumption.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.cumulative.26_reg.460000_sj.202506",
     "data": {"data": null, "dotcount": 0, "hasdata": true, "strdata": "12O,5x"},
     "wds": [{"wdcode": "zb", "valuecode": "cumulative.26"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]},
    {"code": "zb.cumulative.13_reg.460000_sj.202506",
     "data": {"data": 70.5, "dotcount": 1, "hasdata": true, "strdata": "70.5"},
     "wds": [{"wdcode": "zb", "valuecode": "cumulative.13"}, {"wdcode": "reg", "valuecode": "460000"},
             {"wdcode": "sj", "valuecode": "202506"}]}

  ],
  "wdnodes": [
    {"wdcode": "zb", "wdname": "指标", "nodes": [
      {"code": "province_code", "cname": "地区代码", "unit": ""}, {"code": "period", "cname": "统计月份", "unit": ""},
      {"code": "division_code", "cname": "行业代码", "unit": ""},
      {"code": "division_name", "cname": "行业名称", "unit": ""},
      {"code": "consumption", "cname": "本月用电量", "unit": "10k_kwh"},
      {"code": "cumulative", "cname": "1-本月累计用电量", "unit": "10k_kwh"}]},
    {"wdcode": "reg", "wdname": "地区", "nodes": [{"code": "460000", "cname": "海南省"}]},
    {"wdcode": "sj", "wdname": "时间", "nodes": [{"code": "202506", "cname": "2025年6月"}]},
    {"wdcode": "rec", "wdname": "名录", "nodes": [{"code": "13", "cname": "13"}, {"code": "26", "cname": "26"}]}
  ],
  "hasdatacount": 11,
  "recordcount": 2}}
""".encode()


def test_golden_response_pivots_into_canonical_records():
    page = nbs_easyquery.decode(ELECTRICITY_CONSUMPTION, GOLDEN)
    assert page.total == 2
    assert page.table.column_names == list(ELECTRICITY_CONSUMPTION.names)
    assert page.table.to_pylist() == [
        {
            "province_code": "460000",
            "period": "2025-06",
            "division_code": "13",
            "division_name": "农副食品加工业",
            "consumption": "12.30",  # strdata: the digits as published
            "cumulative": "70.5",
        },
        {
            "province_code": "460000",
            "period": "2025-06",
            "division_code": "26",
            "division_name": "化学原料和化学制品制造业",
            "consumption": None,  # hasdata false
            "cumulative": "12O,5x",  # hasdata true, data null: the text as served
        },
    ]
    raw = json.loads(page.raw_text(1))  # record 2's (division 26's) datanodes as served
    assert len(raw) == 6 and {n["wds"][0]["valuecode"].partition(".")[2] for n in raw} == {"26"}
    assert {n["code"] for n in raw} >= {"zb.cumulative.26_reg.460000_sj.202506"}


@pytest.mark.parametrize("dataset", sorted(SCHEMAS))
def test_encode_serves_each_value_as_a_datanode(dataset):
    schema = SCHEMAS[dataset]
    table = kinds_table(schema)
    period = "2025-06" if schema.cadence is Cadence.MONTHLY else "2025-06-03"
    body = nbs_easyquery.encode(schema, table, "540000", period, "西藏自治区")
    data = json.loads(body)["returndata"]
    assert data["recordcount"] == 4 and len(data["datanodes"]) == 4 * len(schema.fields)
    sj = period.replace("-", "")
    records = [n["code"] for n in next(w for w in data["wdnodes"] if w["wdcode"] == "rec")["nodes"]]
    keys = ["/".join(str(r[k]) for k in schema.key) for r in table.to_pylist()]
    assert records == (keys if len(set(keys)) == len(keys) else ["1", "2", "3", "4"])
    for node in data["datanodes"]:
        dims = {w["wdcode"]: w["valuecode"] for w in node["wds"]}
        field, _, record = dims["zb"].partition(".")
        assert list(dims) == ["zb", "reg", "sj"] and node["code"] == f"zb.{field}.{record}_reg.540000_sj.{sj}"
        kind = schema.field(field).kind
        value = table.column(field)[records.index(record)].as_py()
        cell = node["data"]
        if value is None:
            assert cell == {"data": 0, "dotcount": 0, "hasdata": False, "strdata": ""}
        elif kind in (Kind.DECIMAL, Kind.INT) and re.fullmatch(r"-?[0-9.]+", value):
            assert cell["hasdata"] and isinstance(cell["data"], int | float) and cell["strdata"] == value
            assert cell["dotcount"] == len(value.partition(".")[2])
        else:
            assert cell["hasdata"] and cell["strdata"] == value
            if kind is not Kind.BOOL:
                assert cell["data"] is None
    assert data["hasdatacount"] == sum(n["data"]["hasdata"] for n in data["datanodes"])


def test_records_keep_the_served_order():
    schema = INDUSTRIAL_OUTPUT
    codes = [f"p{n:02d}" for n in (12, 3, 11, 1, 10, 2, 9, 4, 8, 5, 7, 6)]  # more than 9: "10" after "9"
    base = kinds_table(schema).to_pylist()[0]
    table = table_from_records(schema, [{**base, "product_code": c} for c in codes])
    page = nbs_easyquery.decode(schema, nbs_easyquery.encode(schema, table, "630000", "2025-06"))
    assert page.table.column("product_code").to_pylist() == codes


def test_an_empty_partition_still_checks_the_contract():
    # The indicators are listed in wdnodes whether or not there are records.
    schema = INDUSTRIAL_OUTPUT
    empty = kinds_table(schema).slice(0, 0)
    drifted = empty.rename_columns([c.replace("unit", "unit_zh") for c in empty.column_names])
    with pytest.raises(SchemaDrift, match="unit"):
        nbs_easyquery.decode(schema, nbs_easyquery.encode(schema, drifted, "630000", "2025-01"))


def _golden() -> dict:
    return json.loads(GOLDEN)


def _garbled():
    def edit(change):
        doc = _golden()
        change(doc["returndata"])
        return json.dumps(doc).encode()

    yield "truncated", GOLDEN[: len(GOLDEN) // 2]
    yield "empty", b""
    yield "not json", b"<html>502 Bad Gateway</html>"
    yield "no returncode", json.dumps({"returndata": _golden()["returndata"]}).encode()
    yield "no datanodes", edit(lambda d: d.pop("datanodes"))
    yield "no rec dimension", edit(lambda d: d["wdnodes"].pop(3))
    yield "no record count", edit(lambda d: d.pop("recordcount"))
    yield "a datanode missing", edit(lambda d: d["datanodes"].pop(4))
    yield "a datanode twice", edit(lambda d: d["datanodes"].append(d["datanodes"][0]))
    yield "code and wds disagree", edit(lambda d: d["datanodes"][0].update(code="zb.period.13_reg.460000_sj.202506"))
    yield "unknown record", edit(lambda d: d["datanodes"][0]["wds"][0].update(valuecode="province_code.99"))
    yield "unlisted indicator", edit(lambda d: d["wdnodes"][0]["nodes"].pop(0))
    yield "hasdata not a bool", edit(lambda d: d["datanodes"][0]["data"].update(hasdata="true"))
    yield "wds without sj", edit(lambda d: d["datanodes"][0]["wds"].pop(2))

    def two_periods(d):
        node = d["datanodes"][0]
        node["wds"][2]["valuecode"] = "202505"
        node["code"] = node["code"].replace("202506", "202505")

    yield "two periods", edit(two_periods)


@pytest.mark.parametrize(("why", "body"), list(_garbled()), ids=[w for w, _ in _garbled()])
def test_truncated_or_garbled_responses_raise_decode_error(why, body):
    with pytest.raises(DecodeError):
        nbs_easyquery.decode(ELECTRICITY_CONSUMPTION, body)


def test_a_returncode_other_than_200_is_an_easyquery_error():
    body = '{"returncode": 501, "returndata": "对不起，未能找到您要的数据"}'.encode()
    with pytest.raises(nbs_easyquery.EasyqueryError, match="returncode 501: 对不起") as caught:
        nbs_easyquery.decode(ELECTRICITY_CONSUMPTION, body)
    assert isinstance(caught.value, DecodeError) and caught.value.returncode == 501


def test_periods_on_the_wire():
    assert nbs_easyquery.wire_period("2025-06") == "202506"
    assert nbs_easyquery.wire_period("2025-06-03") == "20250603"
    assert nbs_easyquery.canonical_period("202506", Cadence.MONTHLY) == "2025-06"
    assert nbs_easyquery.canonical_period("20250603", Cadence.DAILY) == "2025-06-03"
    for sj, cadence in (("20250603", Cadence.MONTHLY), ("202506", Cadence.DAILY), ("2025-6", Cadence.MONTHLY)):
        with pytest.raises(ValueError):
            nbs_easyquery.canonical_period(sj, cadence)
    assert len(set(nbs_easyquery.DBCODES.values())) == len(SCHEMAS) == len(nbs_easyquery.DBCODES)
    assert all(nbs_easyquery.dataset_of(code) == d for d, code in nbs_easyquery.DBCODES.items())
