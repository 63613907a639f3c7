"""What every API style shares, end to end against the simulator (extract over HTTP -> raw zone -> parse
-> load): a partition of each dataset, with malformed records, is exactly the simulator's truth; every
province of every style loads its industrial output; wrong credentials fail clearly and write nothing.

The per-style part is a table: the province (and the content type it serves), the request each page of
a partition is recorded with in the manifest (never a secret), and the wrong credentials to try. Each
style's protocol is tested in ``test_style_<style>.py``; source faults, for every style, in
``test_source_faults.py``."""

import base64
import json
import math
import re
from collections import Counter
from datetime import date, timedelta

import pytest
import requests

from ibdc import pipeline
from ibdc.datasets import DATASETS
from ibdc.errors import ErrorKind, kind_of
from ibdc.sources.adapters.base import SourceRefused
from ibdc.sources.registry import ApiStyle, load_registry, source_for
from tests.integration.style_truth import check_partition, malformed_fault, period_for, raw_keys, set_page_size
from tests.partitions import ANY, Claim

REGISTRY = load_registry()
OUTPUT = "industrial_output"
PAGED = (ApiStyle.REST_JSON, ApiStyle.APP_KEY, ApiStyle.SIGNED_GATEWAY, ApiStyle.JSONP)


# The request a page is recorded with in the manifest: (source, dataset, period, page size, page from 1).
REQUESTS = {
    ApiStyle.REST_JSON: lambda src, dataset, period, size, page: {
        "method": "GET",
        "url": f"{src.url}/api/v1/{dataset}",
        "params": {"period": period, "offset": (page - 1) * size, "limit": size},
    },
    ApiStyle.APP_KEY: lambda src, dataset, period, size, page: {  # without the appKey
        "method": "GET",
        "url": f"{src.url}/openapi/v2/resource",
        "params": {"resId": base64.b64encode(dataset.encode()).decode(), "period": period, "page": page, "rows": size},
    },
    ApiStyle.SIGNED_GATEWAY: lambda src, dataset, period, size, page: {  # timestamp and sign differ per send
        "method": "POST",
        "url": f"{src.url}/gateway",
        "form": {
            "app_id": src.code,
            "method": f"ibdc.data.{dataset}.query",
            "period": period,
            "page_no": str(page),
            "page_size": str(size),
        },
    },
    ApiStyle.JSONP: lambda src, dataset, period, size, page: {  # the token redacted
        "method": "GET",
        "url": f"{src.url}/jsonp/{dataset}.do",
        "params": {"callback": "ibdcJsonpCallback", "pageNo": page, "pageSize": size, "period": period, "token": "***"},
    },
    ApiStyle.CSV_DOWNLOAD: lambda src, dataset, period, size, page: {
        "method": "GET",
        "url": f"{src.url}/download/{dataset}.csv",
        "params": {"period": period},
    },
}

# Whose partitions of every dataset are checked, and what the province serves them as.
CASES = [
    (ApiStyle.REST_JSON, "320000", "application/json", ".json"),
    (ApiStyle.APP_KEY, "120000", "application/json", ".json"),
    (ApiStyle.SIGNED_GATEWAY, "310000", "application/json", ".json"),
    (ApiStyle.JSONP, "520000", "application/javascript", ".js"),
    (ApiStyle.CSV_DOWNLOAD, "220000", "text/csv; charset=gbk", ".csv"),
    (ApiStyle.CSV_DOWNLOAD, "410000", "text/csv; charset=gb18030", ".csv"),
]
# Every province with the style it publishes industrial output in (NBS's for four of them).
PROVINCES = sorted((str(source_for(code, OUTPUT).style), code) for code in REGISTRY)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim(ANY, [code for _, code, *_ in CASES], ["2024-06"]),  # every dataset
        Claim(OUTPUT, ANY, ["2024-07"]),  # every province
        Claim(OUTPUT, [code for _, code, *_ in CASES], ["2024-12"]),  # wrong credentials: nothing written
    ),
]

WRONG = "not-the-secret"
RIGHT = object()  # stands for the right secret
# Per style, wrong credentials: the connection's login and password, and the error they end in.
CREDENTIALS = {
    "rest_json-secret": (ApiStyle.REST_JSON, None, WRONG, requests.HTTPError, r"^401 Client Error.*/oauth/token"),
    "rest_json-client": (ApiStyle.REST_JSON, "999999", RIGHT, requests.HTTPError, r"^401 Client Error.*/oauth/token"),
    "app_key-key": (
        ApiStyle.APP_KEY,
        None,
        WRONG,
        SourceRefused,
        r"120000 refused industrial_output 2024-12 page 1: code 10001: invalid",
    ),
    "app_key-no-key": (ApiStyle.APP_KEY, None, None, SourceRefused, "code 10001"),
    "signed_gateway-secret": (
        ApiStyle.SIGNED_GATEWAY,
        None,
        WRONG,
        SourceRefused,
        r"310000 refused industrial_output 2024-12 page 1: code 1001: invalid sign",
    ),
    "signed_gateway-app_id": (
        ApiStyle.SIGNED_GATEWAY,
        "999999",
        RIGHT,
        SourceRefused,
        "code 1003: unknown app_id '999999'",
    ),
    "jsonp-token": (ApiStyle.JSONP, None, WRONG, requests.HTTPError, "refused the client secret"),
    "jsonp-no-token": (ApiStyle.JSONP, None, None, requests.HTTPError, "refused the client secret"),
    "csv_download-password": (ApiStyle.CSV_DOWNLOAD, None, WRONG, requests.HTTPError, r"^401 Client Error"),
    "csv_download-no-password": (ApiStyle.CSV_DOWNLOAD, None, None, requests.HTTPError, r"^401 Client Error"),
}


def _csv_period(period: str) -> str:
    """How a CSV line shows the partition: the month in Chinese, a reading's Beijing time (its day or the next)."""
    if len(period) == 7:
        return f"{period[:4]}年{period[5:]}月"
    day = date.fromisoformat(period)
    return rf",({day}|{day + timedelta(days=1)}) [0-9]{{2}}:00:00,"


def _province_of(style: ApiStyle) -> str:
    return next(province for s, province, *_ in CASES if s is style)


def test_the_registry_agrees_with_the_simulator_on_every_province_s_style(services):
    served = requests.get(f"{services.sources_url}/portals", timeout=10).json()
    assert {code: p["style"] for code, p in served.items()} == {code: str(s.style) for code, s in REGISTRY.items()}
    assert {code: p.get("via", {}) for code, p in served.items()} == {
        code: {d: str(source_for(code, d).style) for d in s.via} for code, s in REGISTRY.items()
    }
    assert Counter(p["style"] for p in served.values()) == {
        "rest_json": 8,
        "app_key": 6,
        "signed_gateway": 5,
        "jsonp": 6,
        "csv_download": 6,
    }
    assert Counter(style for style, _ in PROVINCES)["nbs_easyquery"] == 4
    assert all(REGISTRY[province].style is style for style, province, *_ in CASES)
    # Every provincial portal style carries every dataset; NBS (industrial output only) in test_style_nbs_easyquery.py.
    assert {style for style, *_ in CASES} | {ApiStyle.NBS_EASYQUERY} == set(ApiStyle)
    assert set(REQUESTS) == {style for style, *_ in CASES}


@pytest.mark.parametrize("dataset", sorted(DATASETS))
@pytest.mark.parametrize(
    ("style", "province", "content_type", "extension"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_a_partition_of_every_dataset_loads_exactly_the_truth(
    style, province, content_type, extension, dataset, services, source_faults, truth, warehouse, monkeypatch
):
    period = period_for(dataset, "2024-06")
    records = len(truth(province, period, dataset)["expected"])
    fault = malformed_fault(dataset, province, records)
    source_faults([fault])
    expected = truth(province, period, dataset)
    assert expected["malformed"], "the fault breaks some records"
    size = set_page_size(monkeypatch, province, dataset, records)

    summary = pipeline.extract_partition(dataset, province, period)
    load = pipeline.load_partition_from_raw(dataset, province, period)
    checked = check_partition(warehouse, expected, load)
    assert summary["records"] == len(expected["expected"]) + len(expected["malformed"])
    assert all(fault["field"] in reason for _, _, reason in checked.quarantined)

    manifest = checked.manifest
    objects = manifest.objects
    pages = math.ceil(manifest.records_claimed / size) if style in PAGED else 1
    assert len(objects) == pages and (pages > 1 or style not in PAGED)
    assert all(o.content_type == content_type and o.key.endswith(extension) for o in objects)
    source = REGISTRY[province]
    assert [o.request for o in objects] == [
        REQUESTS[style](source, dataset, period, size, page) for page in range(1, pages + 1)
    ]
    assert services.simulator_client_secret not in manifest.model_dump_json()
    if style is ApiStyle.CSV_DOWNLOAD:  # a quarantined record is its line as published
        assert all(re.search(_csv_period(period), raw_text) for _, raw_text, _ in checked.quarantined)


@pytest.mark.parametrize(("style", "province"), PROVINCES, ids=[f"{s}-{p}" for s, p in PROVINCES])
def test_every_province_of_every_style_loads_its_industrial_output(style, province, truth, warehouse):
    period = "2024-07"
    pipeline.extract_partition(OUTPUT, province, period)
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    check_partition(warehouse, truth(province, period), load)


@pytest.mark.parametrize(
    ("style", "login", "password", "error", "message"), list(CREDENTIALS.values()), ids=list(CREDENTIALS)
)
def test_wrong_credentials_fail_clearly_and_write_nothing(
    style, login, password, error, message, services, monkeypatch
):
    province, period, secret = _province_of(style), "2024-12", services.simulator_client_secret
    connection = {"conn_type": "http", "login": login, "password": secret if password is RIGHT else password}
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", json.dumps({k: v for k, v in connection.items() if v}))
    with pytest.raises(error, match=message) as caught:
        pipeline.extract_partition(OUTPUT, province, period)
    if isinstance(caught.value, requests.HTTPError):
        assert caught.value.response.status_code == 401
    assert kind_of(caught.value) is ErrorKind.PERMANENT  # the task fails at once, not after its retries
    assert WRONG not in str(caught.value) and secret not in str(caught.value)
    assert raw_keys(services, OUTPUT, province, period) == []
