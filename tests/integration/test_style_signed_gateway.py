"""Style ``signed_gateway`` end to end against the simulator: extract -> raw zone -> parse -> load,
checked against the simulator's ground truth; signatures, refusals and transient faults."""

import json
import time
from urllib.parse import parse_qsl

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import DecodeError
from ibdc.formats import signed_gateway as fmt
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client
from ibdc.schemas import SCHEMAS
from ibdc.sources.adapters.base import PAGE_ATTEMPTS
from ibdc.sources.adapters.signed_gateway import GatewayRefused, SignedGatewayAdapter
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

STYLE = ApiStyle.SIGNED_GATEWAY
PROVINCE = "310000"  # no other test extracts this province's partitions
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


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _form(services, now_ms: int | None = None, **overrides) -> dict:
    params = {
        "app_id": PROVINCE,
        "method": fmt.method_for(OUTPUT),
        "period": "2025-06",
        "page_no": "1",
        "page_size": "5",
        **overrides,
    }
    return fmt.signed(params, services.simulator_client_secret, _now_ms() if now_ms is None else now_ms)


def _inner(services, form: dict, province: str = PROVINCE) -> dict:
    resp = requests.post(f"{services.sources_url}/p/{province}/gateway", data=form, timeout=10)
    assert resp.status_code == 200  # the gateway refuses with an inner code, never an HTTP status
    outer = resp.json()
    assert outer["status"] == 200
    return json.loads(outer["result"])


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
    # The manifest records each page's parameters; timestamp and signature are per send, not kept.
    forms = [o["request"]["form"] for o in manifest["objects"]]
    assert [int(f["page_no"]) for f in forms] == list(range(1, len(forms) + 1))
    assert all(f["method"] == f"ibdc.data.{dataset}.query" and "sign" not in f for f in forms)
    assert services.simulator_client_secret not in repr(manifest)


@pytest.mark.parametrize("province", PROVINCES)
def test_every_province_of_the_style_is_extracted_and_loaded(province, services, warehouse):
    period = "2024-06"
    pipeline.extract_partition(OUTPUT, province, period)
    load = pipeline.load_partition_from_raw(OUTPUT, province, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, province, period, load)


def test_wrong_credentials_fail_clearly_and_write_nothing(services, monkeypatch):
    period = "2024-12"
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", '{"conn_type": "http", "password": "not-the-secret"}')
    with pytest.raises(
        GatewayRefused, match=r"310000 refused industrial_output 2024-12 page 1: code 1001: invalid sign"
    ):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)
    secret = json.dumps(services.simulator_client_secret)
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", f'{{"login": "999999", "password": {secret}}}')
    with pytest.raises(GatewayRefused, match="code 1003: unknown app_id '999999'"):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)
    assert _raw_keys(services, OUTPUT, PROVINCE, period) == []


def test_the_gateway_checks_signature_timestamp_method_and_parameters(services):
    assert _inner(services, _form(services))["code"] == "0000"
    form = _form(services)
    for name in ("period", "page_no", "page_size", "method", "timestamp"):
        tampered = {**form, name: form[name] + "1"}
        assert _inner(services, tampered)["code"] == "1001", name
    assert _inner(services, {**form, "extra": "x"})["code"] == "1001"
    assert _inner(services, {**form, "sign": "0" * 64})["code"] == "1001"
    assert _inner(services, {k: v for k, v in form.items() if k != "sign"})["code"] == "2002"
    # Correctly signed, but the clock is more than five minutes off either way.
    for skew_s in (-301, 301):
        stale = _inner(services, _form(services, now_ms=_now_ms() + skew_s * 1000))
        assert stale["code"] == "1002" and "data" not in stale, skew_s
    assert _inner(services, _form(services, now_ms=_now_ms() - 200_000))["code"] == "0000"  # within the window
    assert _inner(services, _form(services, app_id="320000"))["code"] == "1003"
    assert _inner(services, _form(services, method="ibdc.data.secret_data.query"))["code"] == "2001"
    assert _inner(services, _form(services, method="ibdc.admin.industrial_output.delete"))["code"] == "2001"
    assert _inner(services, _form(services, period="2025-13"))["code"] == "2002"
    assert _inner(services, _form(services, page_no="0"))["code"] == "2002"
    assert _inner(services, _form(services, page_size="100000"))["code"] == "2002"
    # A province of another style has no gateway.
    resp = requests.post(f"{services.sources_url}/p/110000/gateway", data=_form(services, app_id="110000"), timeout=10)
    assert resp.status_code == 404


def test_pages_cover_the_total_exactly_once(services):
    seen, page_no = [], 1
    while True:
        inner = _inner(services, _form(services, page_no=str(page_no), page_size="4"))
        items = json.loads(inner["data"])
        if not items:
            break
        seen += [i["productCode"] for i in items]
        page_no += 1
    assert len(seen) == len(set(seen)) == inner["total"] > 4
    assert page_no == -(-inner["total"] // 4) + 1


@pytest.mark.parametrize(("kind", "status"), [("rate_limited", 429), ("server_error", 503)])
def test_rate_limits_and_server_errors_are_retried_to_success(kind, status, services, faults, warehouse):
    period = {"rate_limited": "2025-11", "server_error": "2025-02"}[kind]  # (no January: NBS publishes Jan-Feb)
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": kind, "times": 2}])
    source = load_registry()[PROVINCE]
    # Without retries the fault shows (one hit taken) ...
    with pytest.raises(requests.HTTPError, match=str(status)):
        SignedGatewayAdapter(build_session(retries=0)).extract(source, OUTPUT, period)
    # ... with the platform's session the remaining hit is retried away.
    pipeline.extract_partition(OUTPUT, PROVINCE, period)
    load = pipeline.load_partition_from_raw(OUTPUT, PROVINCE, period)
    check_against_truth(services, warehouse, STYLE, OUTPUT, PROVINCE, period, load)


def test_a_truncated_page_is_fetched_again_each_time_freshly_signed(services, faults, warehouse):
    period = "2025-03"
    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "truncated", "times": PAGE_ATTEMPTS}])
    with pytest.raises(DecodeError, match=f"undecodable after {PAGE_ATTEMPTS} attempts"):
        pipeline.extract_partition(OUTPUT, PROVINCE, period)

    faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "truncated", "times": PAGE_ATTEMPTS - 1}])
    session, sent = build_session(), []
    session.hooks["response"].append(lambda resp, *args, **kwargs: sent.append(dict(parse_qsl(resp.request.body))))
    extraction = SignedGatewayAdapter(session).extract(load_registry()[PROVINCE], OUTPUT, period)
    first_page = [form for form in sent if form["page_no"] == "1"]
    assert len(first_page) == PAGE_ATTEMPTS  # two truncated bodies, then the whole page
    assert len({f["timestamp"] for f in first_page}) == len({f["sign"] for f in first_page}) == PAGE_ATTEMPTS
    assert all(fmt.verify(f, services.simulator_client_secret) for f in sent)
    assert extraction.records_received == extraction.records_claimed

    raw_zone.write_partition(extraction)
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
