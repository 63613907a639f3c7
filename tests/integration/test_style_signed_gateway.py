"""Style ``signed_gateway``, its protocol against the simulator: signatures, timestamps, methods and
parameters checked by the gateway, paging, and every re-fetch signed afresh. (What every style shares
-- partitions against the truth, every province, wrong credentials -- is in test_styles.py; source
faults in test_source_faults.py.)"""

import json
import time
from urllib.parse import parse_qsl

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import signed_gateway as fmt
from ibdc.landing import raw_zone
from ibdc.sources.adapters.base import PAGE_ATTEMPTS
from ibdc.sources.adapters.signed_gateway import SignedGatewayAdapter
from ibdc.sources.http import build_session
from ibdc.sources.registry import load_registry
from tests.integration.style_truth import check_partition

PROVINCE = "310000"
OUTPUT = "industrial_output"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=OUTPUT, provinces=[PROVINCE], periods=["2024-08"]),
]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _form(services, now_ms: int | None = None, **overrides) -> dict:
    params = {
        "app_id": PROVINCE,
        "method": fmt.method_for(OUTPUT),
        "period": "2024-06",
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
    assert _inner(services, _form(services, period="2024-13"))["code"] == "2002"
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


def test_a_truncated_page_is_fetched_again_each_time_freshly_signed(services, source_faults, truth, warehouse):
    # (That a page truncated every time fails, and once or twice ends in success, test_source_faults.py
    # tests for every style.)
    period = "2024-08"
    source_faults([{"dataset": OUTPUT, "province": PROVINCE, "kind": "truncated", "times": PAGE_ATTEMPTS - 1}])
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
    check_partition(warehouse, truth(PROVINCE, period), load)
