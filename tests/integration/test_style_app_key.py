"""Style ``app_key`` end to end against the simulator: extract -> raw zone -> parse -> load, checked
against the simulator's ground truth; refusals and transient faults."""

import base64

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import DecodeError
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client
from ibdc.schemas import SCHEMAS
from ibdc.sources.adapters.app_key import AppKeyAdapter, AppKeyRefused
from ibdc.sources.adapters.base import PAGE_ATTEMPTS
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, load_registry
from tests.integration.style_truth import (
    check_against_truth,
    collected_datasets,
    first_numeric_field,
    period_for,
    set_faults,
    truth,
)

pytestmark = pytest.mark.integration

STYLE = ApiStyle.APP_KEY
PROVINCE = "120000"  # no other test extracts this province's partitions
PROVINCES = sorted(code for code, s in load_registry().items() if s.style is STYLE)
OUTPUT = "industrial_output"


@pytest.fixture
def faults(services):
    """Set simulator faults for one test; cleared before and after."""
    set_faults(services, [])
    yield lambda fs: set_faults(services, fs)
    set_faults(services, [])


def _raw_keys(services, dataset: str, province: str, period: str) -> list[str]:
    prefix = raw_zone.partition_prefix(dataset, province, period)
    return sorted(o.object_name for o in client().list_objects(services.raw_bucket, prefix=prefix, recursive=True))


def _resource(services, province: str, **params) -> dict:
    resp = requests.get(f"{services.sources_url}/p/{province}/openapi/v2/resource", params=params, timeout=10)
    assert resp.status_code == 200  # the portal refuses with a code in the body, never an HTTP status
    return resp.json()


def test_the_registry_agrees_with_the_simulator_on_the_style_s_provinces(services):
    served = requests.get(f"{services.sources_url}/portals", timeout=10).json()
    assert sorted(code for code, p in served.items() if p["style"] == STYLE) == PROVINCES
    assert PROVINCE in PROVINCES and len(PROVINCES) == 5


@pytest.mark.parametrize("dataset", collected_datasets())
def test_a_partition_loads_exactly_the_truth_with_malformed_records_quarantined(dataset, services, faults, warehouse):
    period = period_for(dataset, "2025-06")
    schema = SCHEMAS[dataset]
    first = truth(services, dataset, PROVINCE, period)["expected"][0]
    numeric = first_numeric_field(schema)
    if numeric:  # every record of the first record's first key value carries a bad number
        faults(
            [
                {
                    "dataset": dataset,
                    "province": PROVINCE,
                    "kind": "malformed",
                    "malformation": "bad_number",
                    "field": numeric,
                    "key": first[schema.key[0]],
                }
            ]
        )
    summary = pipeline.extract_partition(dataset, PROVINCE, period)
    load = pipeline.load_partition_from_raw(dataset, PROVINCE, period)
    expected = check_against_truth(services, warehouse, STYLE, dataset, PROVINCE, period, load)
    assert summary["records"] == len(expected["expected"]) + len(expected["malformed"])
    assert bool(expected["malformed"]) == bool(numeric)
    manifest = raw_zone.read_manifest(dataset, PROVINCE, period)
    # The manifest records each page's request, without the appKey (a secret).
    pages = [o["request"]["params"] for o in manifest["objects"]]
    assert [p["page"] for p in pages] == list(range(1, len(pages) + 1))
    assert all(base64.b64decode(p["resId"]).decode() == dataset and "appKey" not in p for p in pages)
    assert services.simulator_client_secret not in repr(manifest)


@pytest.mark.parametrize("province", PROVINCES)
def test_every_province_of_the_style_is_extracted_and_loaded(province, services, warehouse):
    period = "2024-06"
    pipeline.extract_partition(OUTPUT, province, period)
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, province, period, load)


def test_a_wrong_app_key_fails_clearly_and_writes_nothing(services, monkeypatch):
    period = "2024-12"
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", '{"conn_type": "http", "password": "not-the-key"}')
    with pytest.raises(AppKeyRefused, match=r"120000 refused industrial_output 2024-12 page 1: code 10001: invalid"):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", '{"conn_type": "http"}')  # no secret at all
    with pytest.raises(AppKeyRefused, match="code 10001"):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)
    assert _raw_keys(services, OUTPUT, PROVINCE, period) == []


def test_the_portal_refuses_unknown_resources_and_bad_parameters_with_codes(services):
    key = services.simulator_client_secret
    good = {"appKey": key, "resId": base64.b64encode(b"industrial_output").decode(), "period": "2025-06"}
    assert _resource(services, PROVINCE, **good)["code"] == "00000"
    assert _resource(services, PROVINCE, **{**good, "appKey": key + "x"})["code"] == "10001"
    for res_id in ("aW5kdXN0cmlhbF9vdXRwdXQ", "industrial_output", base64.b64encode(b"secret_data").decode()):
        refused = _resource(services, PROVINCE, **{**good, "resId": res_id})
        assert (refused["code"], refused["data"]) == ("20001", None), res_id
    assert _resource(services, PROVINCE, **{**good, "period": "2025-13"})["code"] == "30001"
    assert _resource(services, PROVINCE, **{**good, "page": "0"})["code"] == "30001"
    assert _resource(services, PROVINCE, **{**good, "rows": "100000"})["code"] == "30001"
    # A province of another style has no app_key portal.
    assert (
        requests.get(f"{services.sources_url}/p/110000/openapi/v2/resource", params=good, timeout=10).status_code == 404
    )


def test_pages_beyond_the_end_are_empty_and_the_total_is_stable(services):
    params = {
        "appKey": services.simulator_client_secret,
        "resId": base64.b64encode(b"industrial_output").decode(),
        "period": "2025-06",
        "rows": 4,
    }
    seen, page = [], 1
    while True:
        data = _resource(services, PROVINCE, **params, page=page)["data"]
        assert data["page"] == page
        if not data["rows"]:
            break
        seen += [r["PRODUCT_CODE"] for r in data["rows"]]
        page += 1
    assert len(seen) == len(set(seen)) == data["total"] > 4
    assert page == -(-data["total"] // 4) + 1


@pytest.mark.parametrize(("kind", "status"), [("rate_limited", 429), ("server_error", 503)])
def test_rate_limits_and_server_errors_are_retried_to_success(kind, status, services, faults, warehouse):
    period = {"rate_limited": "2025-11", "server_error": "2025-02"}[kind]  # (no January: NBS publishes Jan-Feb)
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": kind, "times": 2}])
    source = load_registry()[PROVINCE]
    # Without retries the fault shows (one hit taken) ...
    with pytest.raises(requests.HTTPError, match=str(status)):
        AppKeyAdapter(build_session(retries=0)).extract(source, OUTPUT, period)
    # ... with the platform's session the remaining hit is retried away.
    pipeline.extract_partition(OUTPUT, PROVINCE, period)
    load = pipeline.load_partition_from_raw(OUTPUT, PROVINCE, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, PROVINCE, period, load)


def test_a_truncated_page_is_fetched_again_to_success(services, faults, warehouse):
    period = "2025-03"
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "truncated", "times": PAGE_ATTEMPTS}])
    with pytest.raises(DecodeError, match=f"undecodable after {PAGE_ATTEMPTS} attempts"):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "truncated", "times": PAGE_ATTEMPTS - 1}])
    pipeline.extract_partition(OUTPUT, PROVINCE, period)
    load = pipeline.load_partition_from_raw(OUTPUT, PROVINCE, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, PROVINCE, period, load)


def test_records_repeated_across_pages_are_neither_skipped_nor_loaded_twice(services, faults, warehouse):
    period = "2025-10"
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "duplicate_rows"}])
    pipeline.extract_partition(OUTPUT, PROVINCE, period)
    manifest = raw_zone.read_manifest(OUTPUT, PROVINCE, period)
    assert len(manifest["objects"]) > 1 and len(manifest["duplicates"]) == len(manifest["objects"]) - 1
    assert all(d["identical"] for d in manifest["duplicates"])
    load = pipeline.load_partition_from_raw(OUTPUT, PROVINCE, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, PROVINCE, period, load)
