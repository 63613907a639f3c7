"""The dbt docs routes' answers when the object store refuses: 404 only while nothing is published
(NoSuchKey, NoSuchBucket); any other refusal (a wrong docs-reader key, a policy that does not grant
the prefix) is logged and answered 502, so it is not mistaken for "not published yet"."""

import logging

import pytest
import urllib3
from fastapi.testclient import TestClient
from minio.error import S3Error

from ibdc.transform import docs


def _refusing(code: str):
    def get_bytes(mc, bucket, key):
        raise S3Error(urllib3.HTTPResponse(status=403), code, f"{code} message", key, "req-1", "host-1", bucket, key)

    return get_bytes


@pytest.fixture
def http(monkeypatch):
    monkeypatch.setattr(docs, "client", lambda: object())  # no object store in a unit test
    with TestClient(docs.docs_app(), raise_server_exceptions=False) as http:
        yield http


@pytest.mark.parametrize("code", ["NoSuchKey", "NoSuchBucket"])
def test_nothing_published_is_404(http, monkeypatch, code):
    monkeypatch.setattr(docs, "get_bytes", _refusing(code))
    answer = http.get("/index.html")
    assert answer.status_code == 404 and "no dbt docs published yet" in answer.json()["detail"]


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"])
def test_any_other_refusal_is_502_and_logged(http, monkeypatch, caplog, code):
    monkeypatch.setattr(docs, "get_bytes", _refusing(code))
    with caplog.at_level(logging.ERROR, logger="ibdc.transform.docs"):
        answer = http.get("/")
    assert answer.status_code == 502, answer.text
    assert answer.json()["detail"] == "the docs store refused the request"
    logged = [r.getMessage() for r in caplog.records if r.name == "ibdc.transform.docs"]
    assert any(code in m and f"{docs.DOCS_PREFIX}index.html" in m for m in logged), logged


def test_a_published_file_is_served(http, monkeypatch):
    monkeypatch.setattr(docs, "get_bytes", lambda mc, bucket, key: b"{}")
    answer = http.get("/manifest.json")
    assert answer.status_code == 200 and answer.content == b"{}"
    assert answer.headers["Content-Security-Policy"] == docs.DATA_CSP
