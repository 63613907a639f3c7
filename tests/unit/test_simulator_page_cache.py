"""The simulator encodes a page's body once and serves it again from its page cache (issue 20: a
large partition served at least as fast as the client reads it), bounded in bytes; the faults that
vary per request (truncation, rate limits) still hit each answer, and a data fault switched on or
off changes what is served."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ibdc.formats import jsonp as jsonp_format
from ibdc.formats import rest_json as rest_json_format
from ibdc.formats import signed_gateway as gateway_format
from ibdc_dev.simulator import service
from ibdc_dev.simulator.app import app
from ibdc_dev.simulator.faults import Fault, FaultKind, Malformation

SECRET = "page-cache-test-secret"
DATASET, DAY = "equipment_telemetry", "2026-10-01"
REST, JSONP, GATEWAY = "110000", "140000", "310000"  # a province of each style (portals.yaml)


@pytest.fixture
def client(monkeypatch):
    """The simulator in process, an empty page cache before and after, no fault added."""
    monkeypatch.setattr(service, "secret", lambda: SECRET.encode())
    service.encoded_pages().clear()
    service.board().clear()
    with TestClient(app) as c:
        yield c
    service.encoded_pages().clear()
    service.board().clear()


@pytest.fixture
def encodes(monkeypatch):
    """Counts the page bodies each style's format encodes: style -> calls."""
    counted = {"rest_json": 0, "jsonp": 0, "signed_gateway": 0}
    for style, module in (("rest_json", rest_json_format), ("jsonp", jsonp_format), ("signed_gateway", gateway_format)):
        original = module.encode

        def counting(*args, _style=style, _original=original, **kwargs):
            counted[_style] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "encode", counting)
    return counted


def _rest_page(client: TestClient, offset: int = 0, limit: int = 500):
    token = client.post(
        f"/p/{REST}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": REST, "client_secret": SECRET},
    ).json()["access_token"]
    return client.get(
        f"/p/{REST}/api/v1/{DATASET}",
        params={"period": DAY, "offset": offset, "limit": limit},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_page_is_encoded_once_and_served_again_from_the_cache(client, encodes):
    first, again = _rest_page(client), _rest_page(client)
    assert first.status_code == again.status_code == 200
    assert first.content == again.content and len(first.json()["items"]) == 500
    assert encodes["rest_json"] == 1
    cache = service.encoded_pages()
    assert (cache.misses, cache.hits, len(cache)) == (1, 1, 1) and cache.bytes == len(first.content)
    other = _rest_page(client, offset=500)  # another page: its own body
    assert other.content != first.content and encodes["rest_json"] == 2


def test_a_jsonp_body_is_kept_per_callback(client, encodes):
    def get(callback: str):
        params = {"period": DAY, "pageNo": 1, "pageSize": 100, "callback": callback, "token": SECRET}
        return client.get(f"/p/{JSONP}/jsonp/{DATASET}.do", params=params).content

    a, b, a_again = get("cbA"), get("cbB"), get("cbA")
    assert a.startswith(b"cbA(") and b.startswith(b"cbB(") and a == a_again
    assert encodes["jsonp"] == 2


def test_signed_requests_of_one_page_share_its_body(client, encodes):
    """The gateway checks each request's timestamp and sign; its body holds neither: kept once."""
    params = {
        "app_id": GATEWAY,
        "method": gateway_format.method_for(DATASET),
        "period": DAY,
        "page_no": "2",
        "page_size": "300",
    }
    now = time.time_ns() // 1_000_000
    first = client.post(f"/p/{GATEWAY}/gateway", data=gateway_format.signed(params, SECRET, now))
    later = client.post(f"/p/{GATEWAY}/gateway", data=gateway_format.signed(params, SECRET, now + 1234))
    bad = client.post(f"/p/{GATEWAY}/gateway", data={**gateway_format.signed(params, SECRET, now), "sign": "0" * 64})
    assert first.content == later.content and b'\\"code\\": \\"0000\\"' in first.content
    assert b"1001" in bad.content  # a bad signature is refused, cache or not
    assert encodes["signed_gateway"] == 1


def test_faults_per_request_still_hit_each_answer(client, encodes):
    whole = _rest_page(client).content
    service.board().add(
        [
            Fault(dataset=DATASET, province=REST, kind=FaultKind.TRUNCATED, times=1),
            Fault(dataset=DATASET, province=REST, kind=FaultKind.RATE_LIMITED, times=1),
        ]
    )
    limited = _rest_page(client)  # both faults hit this request: rate-limited first
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    service.board().clear()
    service.board().add([Fault(dataset=DATASET, province=REST, kind=FaultKind.TRUNCATED, times=1)])
    truncated, after = _rest_page(client), _rest_page(client)
    assert truncated.content == whole[: len(whole) // 2] and after.content == whole
    assert encodes["rest_json"] == 1  # one encoding behind all four answers


def test_a_data_fault_switched_on_or_off_changes_what_is_served(client, encodes):
    before = _rest_page(client).content
    service.board().add(
        [
            Fault(
                dataset=DATASET,
                province=REST,
                kind=FaultKind.MALFORMED,
                malformation=Malformation.FUTURE_DATE,
                field="ts",
                every=100,
            )
        ]
    )
    broken = _rest_page(client).content
    assert b"2099-01-01T00:00:00Z" in broken and broken != before
    service.board().clear()
    assert _rest_page(client).content == before
    assert encodes["rest_json"] == 2  # the page as it was is still kept


def test_the_pages_kept_are_bounded_in_bytes():
    cache = service.EncodedPages(budget_bytes=100)
    built: list[str] = []

    def body(key: str, size: int):
        def build() -> bytes:
            built.append(key)
            return key.encode() * size

        return build

    assert cache.get("a", body("a", 40)) == b"a" * 40
    cache.get("b", body("b", 40))
    assert cache.get("a", body("a", 40)) == b"a" * 40 and built == ["a", "b"]  # a: kept, and now the newest
    cache.get("c", body("c", 40))  # 120 bytes: b, the least recently used, goes
    assert len(cache) == 2 and cache.bytes == 80
    cache.get("b", body("b", 40))
    assert built == ["a", "b", "c", "b"]
    assert cache.get("huge", body("huge", 100)) == b"huge" * 100  # larger than the budget: served, not kept
    assert "huge" not in cache._bodies and cache.bytes <= cache.budget_bytes


def test_the_budget_is_a_setting(monkeypatch):
    monkeypatch.setenv(service.PAGE_CACHE_MB_VARIABLE, "3")
    service.encoded_pages.cache_clear()
    try:
        assert service.encoded_pages().budget_bytes == 3 * 2**20
    finally:
        service.encoded_pages.cache_clear()
