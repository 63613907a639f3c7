"""The csv_download style end to end: simulator -> adapter (basic auth, GBK / GB18030 file) -> raw zone
-> parse and load, against the simulator's truth; and the failures it must make clear."""

import logging
import math
import re
from decimal import Decimal

import pytest
import requests

from ibdc import pipeline
from ibdc.datasets import DATASETS
from ibdc.formats import DecodeError
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client
from ibdc.schemas import SCHEMAS, Cadence, Kind, canonical_text
from ibdc.simulator.datasets import DATASETS as SIMULATED
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import ApiStyle, load_registry

pytestmark = pytest.mark.integration

PROVINCES = {"220000": "gbk", "410000": "gb18030"}  # Jilin, Henan
NUMERIC = (Kind.DECIMAL, Kind.INT)
# Parsed columns carrying a contract field under another name.
PARSED_AS = {
    "unit_code": "unit",
    "value_current_month": "current_month",
    "value_cumulative": "cumulative",
    "consumption_10k_kwh": "consumption",
    "cumulative_10k_kwh": "cumulative",
}
# Datasets both served and collected: electricity and the registry are covered once they land.
COLLECTED = sorted(set(SIMULATED) & set(DATASETS))


def _period(dataset: str) -> str:
    return "2025-06" if SCHEMAS[dataset].cadence is Cadence.MONTHLY else "2025-06-03"


@pytest.fixture
def faults(services):
    url = f"{services.sources_url}/admin/faults"
    headers = {"X-Admin-Secret": services.simulator_client_secret}

    def add(*items: dict) -> None:
        requests.post(url, json=list(items), headers=headers, timeout=10).raise_for_status()

    requests.delete(url, headers=headers, timeout=10).raise_for_status()
    try:
        yield add
    finally:
        requests.delete(url, headers=headers, timeout=10).raise_for_status()


def _truth(services, dataset: str, province: str, period: str) -> dict:
    resp = requests.get(
        f"{services.sources_url}/truth/{dataset}", params={"province": province, "period": period}, timeout=60
    )
    resp.raise_for_status()
    return resp.json()


def _normal(kind: Kind, value):
    if value is None:
        return None
    return Decimal(str(value)) if kind in NUMERIC else canonical_text(kind, value)


def _by_key(dataset: str, rows: list[dict]) -> dict[tuple, dict]:
    """Rows (parsed, or the truth's records) keyed by the dataset's key, as contract field -> value."""
    schema = SCHEMAS[dataset]
    out = {}
    for row in rows:
        record = {
            PARSED_AS.get(c, c): _normal(schema.field(PARSED_AS.get(c, c)).kind, v)
            for c, v in row.items()
            if PARSED_AS.get(c, c) in schema.names
        }
        out[tuple(record[k] for k in schema.key)] = record
    return out


def _malformed_fault(dataset: str, province: str, records: int) -> dict:
    """Break a number (else a date) of every n-th record (at least one), well within what the load
    tolerates."""
    schema = SCHEMAS[dataset]
    numeric = [f.name for f in schema.fields if f.kind in NUMERIC]
    dated = [f.name for f in schema.fields if f.kind in (Kind.DATE, Kind.TIMESTAMP)]
    field, how = (numeric[-1], "bad_number") if numeric else (dated[0], "future_date")
    return {
        "dataset": dataset,
        "province": province,
        "kind": "malformed",
        "malformation": how,
        "field": field,
        "every": min(math.ceil(2 / DATASETS[dataset].max_quarantine_share), records),
    }


def _raw_keys(services, dataset: str, province: str, period: str) -> list[str]:
    prefix = raw_zone.partition_prefix(dataset, province, period)
    return sorted(o.object_name for o in client().list_objects(services.raw_bucket, prefix=prefix, recursive=True))


@pytest.mark.parametrize("province", list(PROVINCES))
@pytest.mark.parametrize("dataset", COLLECTED)
def test_a_partition_is_extracted_loaded_and_equal_to_the_truth(dataset, province, services, faults, warehouse):
    assert load_registry()[province].style is ApiStyle.CSV_DOWNLOAD
    period = _period(dataset)
    faults(_malformed_fault(dataset, province, len(_truth(services, dataset, province, period)["expected"])))
    summary = pipeline.extract_partition(dataset, province, period)
    load = pipeline.load_partition_from_raw(dataset, province, period)
    truth = _truth(services, dataset, province, period)
    expected, malformed = truth["expected"], truth["malformed"]
    assert expected and malformed

    manifest = raw_zone.read_manifest(dataset, province, period)
    assert manifest["source"]["style"] == "csv_download" and len(manifest["objects"]) == 1
    assert manifest["objects"][0]["content_type"] == f"text/csv; charset={PROVINCES[province]}"
    assert summary["records"] == manifest["records_claimed"] == manifest["records_distinct"]
    assert manifest["records_claimed"] == len(expected) + len(malformed) and not manifest["duplicates"]

    parsed = DATASETS[dataset].parse(manifest, raw_zone.read_pages(manifest))
    assert parsed.rows_loaded == load.rows_loaded == len(expected)
    assert sorted(r.record_position for r in parsed.rejects) == sorted(m["position"] for m in malformed)
    assert load.rows_quarantined == len(malformed)
    rows = parsed.rows.to_pylist()
    fields = {PARSED_AS.get(c, c) for c in rows[0]} & set(SCHEMAS[dataset].names)  # what the parser keeps
    assert fields - set(SCHEMAS[dataset].key), f"only the key of {dataset} would be compared"
    assert _by_key(dataset, rows) == _by_key(dataset, [{f: r[f] for f in fields} for r in expected])
    loaded = warehouse.execute(
        f"SELECT count(*) FROM {DATASETS[dataset].table} WHERE {DATASETS[dataset].partition_predicate}",
        (province, period),
    ).fetchone()[0]
    assert loaded == len(expected)
    # A quarantined record keeps its line as the portal published it.
    reject = parsed.rejects[0]
    assert re.search(r"2025年06月|,2025-06-0[34] [0-9]{2}:00:00,", reject.raw_text), reject.raw_text


def test_the_raw_zone_holds_the_gbk_bytes_as_served(services):
    dataset, province, period = "industrial_output", "220000", "2025-05"
    pipeline.extract_partition(dataset, province, period)
    manifest = raw_zone.read_manifest(dataset, province, period)
    (stored,) = raw_zone.read_pages(manifest)
    request = manifest["objects"][0]["request"]
    served = requests.get(
        request["url"], params=request["params"], auth=(province, services.simulator_client_secret), timeout=30
    )
    assert served.headers["Content-Type"] == "text/csv; charset=gbk"
    assert served.content == stored
    with pytest.raises(UnicodeDecodeError):
        stored.decode("utf-8")  # GBK, not UTF-8
    text = stored.decode("gbk")
    assert text.startswith("地区代码,统计月份,产品代码,产品名称,计量单位,本月,1-本月累计\n")
    truth = _truth(services, dataset, province, period)
    assert text.splitlines()[-1] == f"合计(共{len(truth['expected'])}条),,,,,,"


def test_wrong_credentials_fail_clearly_with_401(services, monkeypatch):
    url = f"{services.sources_url}/p/220000/download/industrial_output.csv"
    for auth in (None, ("220000", "wrong"), ("230000", services.simulator_client_secret)):
        resp = requests.get(url, params={"period": "2025-06"}, auth=auth, timeout=10)
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", '{"conn_type": "http", "password": "not-the-secret"}')
    source = load_registry()["220000"]
    with pytest.raises(requests.HTTPError, match="401"):
        adapter_for(source.style).extract(source, "industrial_output", "2024-12")
    assert _raw_keys(services, "industrial_output", "220000", "2024-12") == []


def test_a_file_truncated_once_is_fetched_again(services, faults, caplog):
    dataset, province, period = "industrial_output", "220000", "2025-04"
    faults({"dataset": dataset, "province": province, "kind": "truncated", "times": 1})
    with caplog.at_level(logging.WARNING, logger="ibdc.sources.adapters.base"):
        pipeline.extract_partition(dataset, province, period)
    assert any("undecodable (attempt 1)" in r.getMessage() for r in caplog.records)
    manifest = raw_zone.read_manifest(dataset, province, period)
    truth = _truth(services, dataset, province, period)
    assert manifest["records_claimed"] == manifest["records_received"] == len(truth["expected"])


def test_a_file_truncated_every_time_fails_clearly_with_nothing_written(services, faults):
    dataset, province, period = "industrial_output", "220000", "2024-11"
    before = _raw_keys(services, dataset, province, period)
    faults({"dataset": dataset, "province": province, "kind": "truncated", "times": None})
    with pytest.raises(DecodeError, match="undecodable after 3 attempts"):
        pipeline.extract_partition(dataset, province, period)
    assert _raw_keys(services, dataset, province, period) == before == []
