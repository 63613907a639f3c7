"""Style ``nbs_easyquery``, its protocol against the simulator: QueryData as NBS's easyquery answers it,
refusals as returncodes. (What every style shares -- partitions against the truth, every province,
wrong credentials -- is in test_styles.py; source faults in test_source_faults.py.)"""

import json

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import nbs_easyquery
from ibdc.sources.adapters.nbs_easyquery import EasyqueryRefused
from tests.integration.style_truth import raw_keys

pytestmark = pytest.mark.integration

PROVINCE = "460000"  # Hainan


def _query(services, province: str = PROVINCE, token: str | None = None, **overrides) -> requests.Response:
    params = {
        "m": "QueryData",
        "dbcode": "fsyd",
        "rowcode": "zb",
        "colcode": "sj",
        "wds": json.dumps([{"wdcode": "reg", "valuecode": province}]),
        "dfwds": json.dumps([{"wdcode": "sj", "valuecode": "202406"}]),
        "k1": "1750000000000",
    }
    return requests.get(
        f"{services.sources_url}/p/{province}/easyquery.htm",
        params={**params, **overrides},
        headers={"X-Token": services.simulator_client_secret if token is None else token},
        timeout=30,
    )


def test_a_refused_query_fails_clearly(services, monkeypatch):
    # The client asks a database the portal does not have: returncode 501, reported as such.
    monkeypatch.setitem(nbs_easyquery.DBCODES, "industrial_output", "hgnd")
    with pytest.raises(EasyqueryRefused, match=r"returncode 501: unknown dbcode 'hgnd'"):
        pipeline.extract_partition("industrial_output", "630000", "2024-12")
    assert raw_keys(services, "industrial_output", "630000", "2024-12") == []


def test_the_portal_answers_queries_as_easyquery_does(services, truth):
    resp = _query(services)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    doc = resp.json()
    assert doc["returncode"] == 200
    data = doc["returndata"]
    assert data["recordcount"] == len(truth(PROVINCE, "2024-06")["expected"])
    node = data["datanodes"][0]
    first = data["wdnodes"][3]["nodes"][0]["code"]  # the first record's key: a product code
    assert first in {e["product_code"] for e in truth(PROVINCE, "2024-06")["expected"]}
    assert node["code"] == f"zb.province_code.{first}_reg.460000_sj.202406"  # zb.<indicator>_reg.<adcode>_sj.<period>
    assert [w["wdcode"] for w in node["wds"]] == ["zb", "reg", "sj"]
    assert [w["wdcode"] for w in data["wdnodes"]] == ["zb", "reg", "sj", "rec"]
    refused = {
        "method": {"m": "getTree"},
        "dbcode": {"dbcode": "hgnd"},
        "row and column": {"rowcode": "sj", "colcode": "zb"},
        "other region": {"wds": json.dumps([{"wdcode": "reg", "valuecode": "110000"}])},
        "wds not JSON": {"wds": "reg=460000"},
        "no period": {"dfwds": "[]"},
        "daily period for monthly data": {"dfwds": json.dumps([{"wdcode": "sj", "valuecode": "20240603"}])},
        "month 13": {"dfwds": json.dumps([{"wdcode": "sj", "valuecode": "202413"}])},
    }
    for why, overrides in refused.items():
        answer = _query(services, **overrides)
        assert answer.status_code == 200, why
        assert answer.json()["returncode"] == 501 and answer.json()["returndata"], why
    assert _query(services, token="wrong").status_code == 401
    assert _query(services, token="").status_code == 401
    assert _query(services, province="110000").status_code == 404  # Beijing is a rest_json portal
