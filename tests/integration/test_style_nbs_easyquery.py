"""The nbs_easyquery style end to end: simulator -> adapter -> raw zone -> parse and load, against the
truth (the checks are shared with the jsonp style's tests)."""

import json
import logging

import pytest
import requests

from ibdc import datasets as platform
from ibdc import pipeline
from ibdc.formats import SchemaDrift, nbs_easyquery
from ibdc.landing import raw_zone
from ibdc.simulator.datasets import DATASETS as SIMULATED
from ibdc.sources.adapters import adapter_for
from ibdc.sources.adapters.nbs_easyquery import EasyqueryRefused
from ibdc.sources.registry import load_registry
from tests.integration.test_style_jsonp import (
    check_partition,
    faults,  # noqa: F401 - a fixture
    get_truth,
    malformed_fault,
    period_of,
)

pytestmark = pytest.mark.integration

PROVINCE = "460000"  # Hainan


def _query(services, province: str = PROVINCE, token: str | None = None, **overrides) -> requests.Response:
    params = {
        "m": "QueryData",
        "dbcode": "fsyd",
        "rowcode": "zb",
        "colcode": "sj",
        "wds": json.dumps([{"wdcode": "reg", "valuecode": province}]),
        "dfwds": json.dumps([{"wdcode": "sj", "valuecode": "202506"}]),
        "k1": "1750000000000",
    }
    return requests.get(
        f"{services.sources_url}/p/{province}/easyquery.htm",
        params={**params, **overrides},
        headers={"X-Token": services.simulator_client_secret if token is None else token},
        timeout=30,
    )


@pytest.mark.parametrize("dataset", sorted(SIMULATED))
def test_partition_extracts_and_loads_as_the_truth(services, warehouse, faults, dataset):  # noqa: F811
    period = period_of(dataset)
    records = len(get_truth(services, dataset, PROVINCE, period)["expected"])
    faults(malformed_fault(dataset, PROVINCE, records))
    truth = get_truth(services, dataset, PROVINCE, period)
    assert truth["malformed"], "the fault breaks some records"
    if dataset in platform.DATASETS:
        pipeline.extract_partition(dataset, PROVINCE, period)
    else:  # not collected by the platform yet: extract straight into the raw zone
        source = load_registry()[PROVINCE]
        raw_zone.write_partition(adapter_for(source.style).extract(source, dataset, period))
    manifest = check_partition(warehouse, dataset, PROVINCE, truth)
    (obj,) = manifest["objects"]  # the whole partition in one answer
    assert obj["content_type"] == "application/json" and obj["key"].endswith(".json")
    params = obj["request"]["params"]
    assert params["dbcode"] == nbs_easyquery.DBCODES[dataset]
    assert json.loads(params["wds"]) == [{"wdcode": "reg", "valuecode": PROVINCE}]
    assert json.loads(params["dfwds"]) == [{"wdcode": "sj", "valuecode": period.replace("-", "")}]
    assert services.simulator_client_secret not in json.dumps(manifest)


@pytest.mark.parametrize("kind", ["rate_limited", "server_error", "truncated"])
def test_transient_faults_end_in_success(services, warehouse, faults, caplog, kind):  # noqa: F811
    province, period = "540000", "2025-06"
    faults({"dataset": "industrial_output", "province": province, "kind": kind, "times": 2})
    caplog.set_level(logging.WARNING, logger="ibdc.sources.adapters.base")
    caplog.set_level(logging.DEBUG, logger="urllib3")  # last: the capturing handler takes this level
    pipeline.extract_partition("industrial_output", province, period)
    check_partition(
        warehouse, "industrial_output", province, get_truth(services, "industrial_output", province, period)
    )
    if kind == "truncated":  # the answer was fetched again
        assert sum("undecodable (attempt" in r.getMessage() for r in caplog.records) == 2
    else:  # the session retried
        assert sum(r.getMessage().startswith("Retry: ") for r in caplog.records) == 2


def test_a_renamed_field_fails_the_extraction_as_schema_drift(services, faults):  # noqa: F811
    faults(
        {
            "dataset": "industrial_output",
            "province": "640000",
            "kind": "schema_drift",
            "field": "cumulative",
            "renamed_to": "cumulative_ytd",
        }
    )
    with pytest.raises(SchemaDrift, match=r"\['cumulative'\].*'cumulative_ytd'"):
        pipeline.extract_partition("industrial_output", "640000", "2025-06")


def test_a_bad_token_fails_clearly(services, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", json.dumps({"conn_type": "http", "password": "not-the-secret"}))
    source = load_registry()["630000"]
    with pytest.raises(requests.HTTPError, match="refused the client secret") as caught:
        adapter_for(source.style).extract(source, "industrial_output", "2025-06")
    assert caught.value.response.status_code == 401


def test_a_refused_query_fails_clearly(services, monkeypatch):
    # The client asks a database the portal does not have: returncode 501, reported as such.
    monkeypatch.setitem(nbs_easyquery.DBCODES, "industrial_output", "hgnd")
    source = load_registry()["630000"]
    with pytest.raises(EasyqueryRefused, match=r"returncode 501: unknown dbcode 'hgnd'"):
        adapter_for(source.style).extract(source, "industrial_output", "2025-06")


def test_the_portal_answers_queries_as_easyquery_does(services):
    resp = _query(services)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    doc = resp.json()
    assert doc["returncode"] == 200
    data = doc["returndata"]
    assert data["recordcount"] == len(get_truth(services, "industrial_output", PROVINCE, "2025-06")["expected"])
    node = data["datanodes"][0]
    assert node["code"] == "zb.province_code_reg.460000_sj.202506_rec.1"
    assert [w["wdcode"] for w in node["wds"]] == ["zb", "reg", "sj", "rec"]
    assert {w["wdcode"] for w in data["wdnodes"]} == {"zb", "reg", "sj", "rec"}
    refused = {
        "method": {"m": "getTree"},
        "dbcode": {"dbcode": "hgnd"},
        "row and column": {"rowcode": "sj", "colcode": "zb"},
        "other region": {"wds": json.dumps([{"wdcode": "reg", "valuecode": "110000"}])},
        "wds not JSON": {"wds": "reg=460000"},
        "no period": {"dfwds": "[]"},
        "daily period for monthly data": {"dfwds": json.dumps([{"wdcode": "sj", "valuecode": "20250603"}])},
        "month 13": {"dfwds": json.dumps([{"wdcode": "sj", "valuecode": "202513"}])},
    }
    for why, overrides in refused.items():
        answer = _query(services, **overrides)
        assert answer.status_code == 200, why
        assert answer.json()["returncode"] == 501 and answer.json()["returndata"], why
    assert _query(services, token="wrong").status_code == 401
    assert _query(services, token="").status_code == 401
    assert _query(services, province="110000").status_code == 404  # Beijing is a rest_json portal
