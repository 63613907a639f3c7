"""Style ``nbs_easyquery`` end to end: the simulated NBS over HTTP (QueryData per indicator group,
getTree, every cell missing for a month not released), and the answers NBS really gives (the handed
cases in tests/cases/nbs-*) served over HTTP by a recorded-answer server standing in for
data.stats.gov.cn, through the adapter, the raw zone and the loader."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import requests

from ibdc import pipeline
from ibdc.errors import LayoutError, NotReleased
from ibdc.formats import nbs_easyquery as fmt
from ibdc.sources.adapters.base import ReconciliationError
from ibdc.sources.registry import source_for
from ibdc.transform.dbt import run_dbt
from tests.integration.recorded import RecordedPortal
from tests.integration.style_truth import check_partition, malformed_fault, raw_keys
from tests.partitions import Claim

CASES = Path(__file__).resolve().parents[1] / "cases"
OUTPUT = "industrial_output"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim(OUTPUT, ["460000"], ["2023-01", "2023-02", "2024-01", "2024-02", "2024-03"]),
        Claim(OUTPUT, ["540000"], ["2023-08"]),
        Claim(OUTPUT, ["610000"], ["2022-06", "2022-09", "2024-06"]),
        Claim(OUTPUT, ["620000"], ["2022-07"]),
        Claim(OUTPUT, ["640000"], ["2023-06", "2026-11"]),
    ),
]


def _query(services, **overrides) -> requests.Response:
    params = {**fmt.query_params("640000", "2023-06", "A02090Y", 1750000000000), **overrides}
    return requests.get(f"{services.sources_url}/nbs/easyquery.htm", params=params, timeout=30)


def test_the_simulated_nbs_answers_as_easyquery_does_without_credentials(services, truth):
    resp = _query(services)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    data = resp.json()["returndata"]
    assert "recordcount" not in data  # NBS gives no count
    codes = [n["code"] for n in data["datanodes"]]
    assert codes == [f"zb.A02090Y0{m}_reg.640000_sj.202306" for m in "1234"]
    cement = next(e for e in truth("640000", "2023-06")["expected"] if e["product_code"] == "cement")
    assert data["datanodes"][0]["data"]["strdata"] == cement["current_month"]
    assert data["datanodes"][1]["data"]["strdata"] == cement["cumulative"]
    assert [w["wdcode"] for w in data["wdnodes"]] == ["zb", "reg", "sj"]
    assert data["wdnodes"][0]["nodes"][0]["unit"] == "万吨"

    tree = requests.get(f"{services.sources_url}/nbs/easyquery.htm", params=fmt.tree_params("A0301"), timeout=30)
    assert fmt.decode_tree(tree.content) == ["A030106", "A03010G"]  # electricity and crude oil sit under energy

    no_data = {
        "unknown database": {"dbcode": "fsydqy"},
        "unknown method": {"m": "getData"},
        "unknown group": {"dfwds": json.dumps([{"wdcode": "zb", "valuecode": "A0209ZZ"}])},
        "no region": {"wds": "[]"},
        "wds not JSON": {"wds": "reg=640000"},
    }
    for why, overrides in no_data.items():
        answer = _query(services, **overrides)
        assert answer.status_code == 200 and answer.json()["returncode"] == 501, why


def test_a_partition_from_nbs_loads_exactly_the_truth(services, source_faults, truth, warehouse):
    province, period = "640000", "2023-06"
    records = len(truth(province, period)["expected"])
    source_faults([malformed_fault(OUTPUT, province, records)])
    expected = truth(province, period)
    assert expected["malformed"]

    summary = pipeline.extract_partition(OUTPUT, province, period)
    assert summary["status"] == "extracted"
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    checked = check_partition(warehouse, expected, load)
    objects = checked.manifest.objects
    groups = [i.group for i in fmt.indicators_for(period)]
    assert [json.loads(o.request["params"]["dfwds"])[0]["valuecode"] for o in objects] == groups
    assert all(o.request["url"] == f"{services.sources_url}/nbs/easyquery.htm" for o in objects)


def test_nbs_february_as_served_by_the_simulator_loads_without_current_month(services, truth, warehouse):
    province = "460000"
    assert pipeline.extract_partition(OUTPUT, province, "2023-01")["status"] == "not_published"
    summary = pipeline.extract_partition(OUTPUT, province, "2023-02")
    load = pipeline.load_partition_from_raw(OUTPUT, province, "2023-02")
    assert summary["status"] == "extracted" and load.rows_quarantined == 0 and load.rows_loaded > 0
    rows = warehouse.execute(
        "SELECT value_current_month FROM raw.industrial_output"
        " WHERE province_code = %s AND period_month = '2023-02-01'",
        (province,),
    ).fetchall()
    assert rows and all(r[0] is None for r in rows)


def test_a_month_not_released_leaves_the_loaded_partition_as_it_was(services, source_faults, warehouse):
    province, period = "540000", "2023-08"
    pipeline.load_extracted(pipeline.extract_partition(OUTPUT, province, period))
    query = "SELECT * FROM raw.industrial_output WHERE province_code = %s AND period_month = '2023-08-01' ORDER BY 3"
    before = warehouse.execute(query, (province,)).fetchall()
    objects = raw_keys(services, OUTPUT, province, period)
    assert before

    source_faults([{"dataset": OUTPUT, "province": province, "kind": "not_released", "periods": [period]}])
    summary = pipeline.extract_partition(OUTPUT, province, period)
    assert summary["status"] == "not_released" and "every cell" in summary["reason"]
    with pytest.raises(NotReleased, match="not released yet"):
        pipeline.load_extracted(summary)
    assert warehouse.execute(query, (province,)).fetchall() == before
    assert raw_keys(services, OUTPUT, province, period) == objects
    audit = warehouse.execute(
        "SELECT outcome, rows_loaded, error FROM raw.load_audit WHERE dataset = %s AND province_code = %s"
        " AND period = %s ORDER BY started_at DESC LIMIT 1",
        (OUTPUT, province, period),
    ).fetchone()
    assert audit[:2] == ("not_released", 0) and "every cell" in audit[2]


# --- answers NBS really gives, served over HTTP ----------------------------------------------------


class RecordedNbs:
    """Serves recorded easyquery answers as data.stats.gov.cn would: ``QueryData`` for a group gets
    the recorded answer's datanodes of that group (NBS answers one group per query), ``getTree`` the
    recorded answer's groups. ``answers``: period (yyyymm) -> file. ``answer`` may be replaced."""

    def __init__(self, answers: dict[str, Path]) -> None:
        self.answers = {sj: json.loads(path.read_bytes()) for sj, path in answers.items()}
        self.portal = RecordedPortal(lambda method, path, params: (200, self.answer(params)))
        self.url = self.portal.url

    def answer_whole(self, case_file: str, groups: dict[str, str]) -> None:
        """From now on every ``QueryData`` gets ``case_file`` whole, and the tree lists ``groups``."""
        body = (CASES / case_file).read_bytes()
        self.answer = lambda params: fmt.encode_tree(params["id"], groups) if params.get("m") == "getTree" else body

    @property
    def queries(self) -> list[dict]:
        return [params for _, _, params in self.portal.requests]

    def answer(self, params: dict) -> bytes:
        if params.get("m") == "getTree":
            groups = {
                n["wds"][0]["valuecode"][:7]
                for doc in self.answers.values()
                if isinstance(doc["returndata"], dict)
                for n in doc["returndata"]["datanodes"]
            }
            return fmt.encode_tree(params["id"], {g: g for g in sorted(groups) if g.startswith(params["id"])})
        selected = {d["wdcode"]: d["valuecode"] for d in json.loads(params["dfwds"])}
        doc = json.loads(json.dumps(self.answers[selected["sj"]]))
        if isinstance(doc["returndata"], dict):
            data = doc["returndata"]
            data["datanodes"] = [n for n in data["datanodes"] if n["wds"][0]["valuecode"][:7] == selected["zb"]]
        return json.dumps(doc, ensure_ascii=False).encode()

    def source(self, province: str):
        return source_for(province, OUTPUT).model_copy(update={"style": "nbs_easyquery", "base_url": self.url})

    def close(self) -> None:
        self.portal.close()


@pytest.fixture
def recorded_nbs():
    servers = []

    def serve(answers: dict[str, str]) -> RecordedNbs:
        server = RecordedNbs({sj: CASES / path for sj, path in answers.items()})
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.close()


def test_nbs_answer_case_over_http_loads_its_two_records(services, recorded_nbs, warehouse, caplog):
    nbs = recorded_nbs({"202406": "nbs-answer/fsyd_610000_202406.json"})
    with caplog.at_level(logging.WARNING, logger="ibdc.sources.adapters.nbs_easyquery"):
        summary = pipeline.extract_partition(OUTPUT, "610000", "2024-06", source=nbs.source("610000"))
    loaded = pipeline.load_extracted(summary)
    assert (summary["records"], loaded["rows_loaded"], loaded["rows_quarantined"]) == (2, 2, 0)
    rows = warehouse.execute(
        "SELECT product_code, unit_code, value_current_month::text, value_cumulative::text FROM raw.industrial_output"
        " WHERE province_code = '610000' AND period_month = '2024-06-01' ORDER BY 1"
    ).fetchall()
    assert rows == [("cement", "10k_tonnes", "250.00", "1300.50"), ("crude_steel", "10k_tonnes", "123.45", "700.10")]
    assert [q["m"] for q in nbs.queries].count("QueryData") == 2  # the two groups the tree lists
    # The other 14 products of the crosswalk are absent from this recorded tree: logged, not asked for.
    assert "NBS fsyd tree lists no ['A020915'" in caplog.text and "not asked for" in caplog.text


def test_nbs_not_released_case_over_http_changes_nothing(services, recorded_nbs, warehouse, caplog):
    """Ningxia, November 2026: loaded once from an answer with its cells published (the recorded
    answer with figures filled in), then NBS answers the recorded case, every cell missing: not
    released, the partition exactly as it was, nothing written to the raw zone."""
    recorded = json.loads((CASES / "nbs-not-released/fsyd_640000_202611.json").read_bytes())
    for n, node in enumerate(recorded["returndata"]["datanodes"]):  # current month, then year to date
        node["data"] = {"data": 1.0, "dotcount": 2, "hasdata": True, "strdata": f"{n % 2 * 9 + 1}.00"}
    released = json.dumps(recorded, ensure_ascii=False).encode()
    nbs = recorded_nbs({"202611": "nbs-not-released/fsyd_640000_202611.json"})
    answer = nbs.answer
    served = {"body": released}

    def serve(params: dict) -> bytes:
        if params.get("m") == "getTree":
            return answer(params)
        doc = json.loads(served["body"])
        group = json.loads(params["dfwds"])[0]["valuecode"]
        doc["returndata"]["datanodes"] = [
            n for n in doc["returndata"]["datanodes"] if n["wds"][0]["valuecode"][:7] == group
        ]
        return json.dumps(doc, ensure_ascii=False).encode()

    nbs.answer = serve
    source = nbs.source("640000")
    loaded = pipeline.load_extracted(pipeline.extract_partition(OUTPUT, "640000", "2026-11", source=source))
    assert (loaded["rows_loaded"], loaded["rows_quarantined"]) == (2, 0)
    query = (
        "SELECT * FROM raw.industrial_output WHERE province_code = '640000' AND period_month = '2026-11-01' ORDER BY 3"
    )
    before, objects = warehouse.execute(query).fetchall(), raw_keys(services, OUTPUT, "640000", "2026-11")

    served["body"] = (CASES / "nbs-not-released/fsyd_640000_202611.json").read_bytes()  # the case as recorded
    with caplog.at_level(logging.WARNING, logger="ibdc.pipeline"):
        summary = pipeline.extract_partition(OUTPUT, "640000", "2026-11", source=source)
    assert summary["status"] == "not_released" and "every cell" in summary["reason"]
    assert "not released yet" in caplog.text
    with pytest.raises(NotReleased):
        pipeline.load_extracted(summary)
    assert warehouse.execute(query).fetchall() == before
    assert raw_keys(services, OUTPUT, "640000", "2026-11") == objects


def test_a_crosswalk_the_portals_tree_does_not_list_is_a_permanent_error_not_a_month_to_wait_for(
    services, recorded_nbs
):
    nbs = recorded_nbs({"202406": "nbs-answer/fsyd_610000_202406.json"})
    nbs.answer = lambda params: b"[]" if params.get("m") == "getTree" else b"{}"
    with pytest.raises(LayoutError, match="no indicator group of the crosswalk valid for 2022-09"):
        pipeline.extract_partition(OUTPUT, "610000", "2022-09", source=nbs.source("610000"))
    assert [q["m"] for q in nbs.queries] == ["getTree", "getTree"]  # A0209 and A0301; no QueryData


def test_nbs_no_data_case_over_http_is_not_released_with_the_sources_message(services, recorded_nbs, caplog):
    nbs = recorded_nbs({"202306": "nbs-no-data/returncode_501.json"})
    nbs.answer = lambda params: (CASES / "nbs-no-data/returncode_501.json").read_bytes()  # every query: 501
    with caplog.at_level(logging.WARNING, logger="ibdc.pipeline"):
        summary = pipeline.extract_partition(OUTPUT, "640000", "2023-06", source=nbs.source("640000"))
    assert summary["status"] == "not_released"
    assert "no data matched the query" in summary["reason"] and "no data matched the query" in caplog.text


def test_nbs_national_answer_case_over_http_fails_at_once_and_writes_nothing(services, recorded_nbs):
    nbs = recorded_nbs({"202406": "nbs-national-answer/hgyd_reg610000_202406.json"})
    nbs.answer_whole("nbs-national-answer/hgyd_reg610000_202406.json", {"A020914": "粗钢"})
    with pytest.raises(LayoutError, match="national"):  # asked for 2022-06: no test writes that partition
        pipeline.extract_partition(OUTPUT, "610000", "2022-06", source=nbs.source("610000"))
    assert [q["m"] for q in nbs.queries].count("QueryData") == 1  # permanent: not fetched again
    assert raw_keys(services, OUTPUT, "610000", "2022-06") == []


def test_an_answer_for_another_province_or_month_fails_at_once(services, recorded_nbs):
    nbs = recorded_nbs({"202406": "nbs-answer/fsyd_610000_202406.json"})
    nbs.answer_whole("nbs-answer/fsyd_610000_202406.json", {"A020914": "粗钢"})
    with pytest.raises(LayoutError, match=r"answered for \[\('610000', '2024-06'\)\]"):  # Shaanxi's June 2024
        pipeline.extract_partition(OUTPUT, "620000", "2022-07", source=nbs.source("620000"))
    assert raw_keys(services, OUTPUT, "620000", "2022-07") == []


def test_a_cell_asked_for_and_not_answered_fails_reconciliation(services, recorded_nbs):
    """NBS gives no count: what is reconciled is every cell asked for (the current month and year to
    date of each group the tree lists) against the datanodes answered."""
    nbs = recorded_nbs({"202406": "nbs-answer/fsyd_610000_202406.json"})
    answer = nbs.answer
    nbs.answer = lambda params: (
        answer(params).replace(b'"A02090Y02"', b'"A02090Y05"').replace(b"A02090Y02_", b"A02090Y05_")
    )
    before = raw_keys(services, OUTPUT, "610000", "2024-06")
    with pytest.raises(ReconciliationError, match=r"answered no cell for \['A02090Y02'\]"):
        pipeline.extract_partition(OUTPUT, "610000", "2024-06", source=nbs.source("610000"))
    assert raw_keys(services, OUTPUT, "610000", "2024-06") == before


def test_nbs_february_case_over_http_to_the_mart(services, recorded_nbs, warehouse):
    """Hainan, January to March 2024, as NBS answers: January nothing (not even asked for), February the
    January-February year to date only, March both. The mart's February figure is the Jan-Feb year to
    date covering two months; March's is its published value, which equals the year-to-date difference."""
    nbs = recorded_nbs({f"20240{m}": f"nbs-february/fsyd_460000_20240{m}.json" for m in (1, 2, 3)})
    source = nbs.source("460000")
    statuses = {}
    for period in ("2024-01", "2024-02", "2024-03"):
        summary = pipeline.extract_partition(OUTPUT, "460000", period, source=source)
        statuses[period] = (summary["status"], pipeline.load_extracted(summary)["rows_quarantined"])
    assert statuses == {"2024-01": ("not_published", 0), "2024-02": ("extracted", 0), "2024-03": ("extracted", 0)}
    assert not any(json.loads(q["dfwds"])[1]["valuecode"] == "202401" for q in nbs.queries if q["m"] == "QueryData")

    run_dbt(
        "build",
        "--select",
        "+mart_industrial_output_monthly",
        "--exclude",
        "resource_type:test",
        "--vars",
        json.dumps({"ibdc_loaded_periods": json.dumps({OUTPUT: ["2024-02", "2024-03"]})}),
        "--quiet",
    )
    mart = {
        (period.isoformat()[:7], product): (str(value), covered)
        for period, product, value, covered in warehouse.execute(
            "SELECT period_month, product_code, output_value, months_covered FROM marts.mart_industrial_output_monthly"
            " WHERE province_code = '460000' AND period_month BETWEEN '2024-01-01' AND '2024-03-01'"
        ).fetchall()
    }
    assert mart == {
        ("2024-02", "cement"): ("301.25", 2),
        ("2024-02", "automobiles"): ("0.85", 2),
        ("2024-03", "cement"): ("160.40", 1),
        ("2024-03", "automobiles"): ("0.51", 1),
    }
    derived = warehouse.execute(
        "SELECT product_code, value_month_from_cumulative::text FROM intermediate.int_industrial_output_month_figures"
        " WHERE province_code = '460000' AND period_month = '2024-03-01' ORDER BY 1"
    ).fetchall()
    assert derived == [("automobiles", "0.51"), ("cement", "160.40")]  # 1.36 - 0.85, 461.65 - 301.25
