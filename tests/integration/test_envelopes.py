"""Envelopes over HTTP: the handed cases (tests/cases/envelopes) served by a recorded-answer portal
through the adapter, the pipeline and the raw zone, and the simulated app_key portals answering rate
limits and months not released with their envelope's codes in an HTTP 200.

- ``app_key_rate_limited.json``: sent again with increasing waits like a 429, then the good pages
  extract; served for ever, a transient error (the task retries), never a permanent refusal.
- ``app_key_no_data.json``: a month not released: status not_released with the portal's message,
  nothing written, the partition loaded before left as it was.
- ``status_zero_failure.json``: for a portal whose registry entry declares ``status`` 0 failure and 1
  success, a permanent refusal naming the portal's message, fetched once.

(Months of 2020 for Tianjin, Beijing and Hebei.)"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml

from ibdc import pipeline
from ibdc.errors import ErrorKind, LayoutError, NotReleased, kind_of
from ibdc.formats import app_key, rest_json
from ibdc.formats.envelope import Answer, read
from ibdc.schemas import INDUSTRIAL_OUTPUT
from ibdc.settings import get_settings
from ibdc.sources.adapters import base
from ibdc.sources.adapters.base import RateLimited, SourceRefused
from ibdc.sources.registry import source_for
from ibdc_dev.simulator.datasets import DATASETS as SIMULATED
from tests.integration.recorded import RecordedPortal
from tests.integration.style_truth import raw_keys

CASES = Path(__file__).resolve().parents[1] / "cases" / "envelopes"
OUTPUT = "industrial_output"
# Tianjin, Beijing and Hebei (below).
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=OUTPUT, provinces=["120000", "110000", "130000"], periods=["2020"]),
]
TIANJIN = "120000"  # app_key


def _records(province: str, period: str):
    """A partition's records, as the simulator's truth has them (string columns)."""
    return SIMULATED[OUTPUT].truth(get_settings().simulator_seed, province, period, {})


@pytest.fixture
def portal():
    servers = []

    def serve(answer) -> RecordedPortal:
        server = RecordedPortal(answer)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.close()


@pytest.fixture
def waits(monkeypatch):
    """The waits fetch_page makes between sends, recorded instead of waited."""
    slept: list[float] = []
    monkeypatch.setattr(base.time, "sleep", slept.append)
    return slept


def app_key_portal(portal, province: str, period: str, first: list[bytes]) -> RecordedPortal:
    """An app_key portal answering the bodies ``first`` (one per request, in order), then the
    partition's pages for ever."""
    table = _records(province, period)
    queue = list(first)

    def answer(method: str, path: str, params: dict) -> tuple[int, bytes]:
        if queue:
            return 200, queue.pop(0)
        page, rows = int(params["page"]), int(params["rows"])
        served = table.slice((page - 1) * rows, rows)
        return 200, app_key.encode(INDUSTRIAL_OUTPUT, served, table.num_rows, page)

    return portal(answer)


def app_key_source(server: RecordedPortal, province: str = TIANJIN):
    return source_for(province, OUTPUT).model_copy(update={"base_url": f"{server.url}/p/{{code}}"})


# --- app_key_rate_limited.json -------------------------------------------------------------------------


def test_app_key_rate_limited_case_is_sent_again_with_increasing_waits_then_extracts(services, portal, waits, caplog):
    period, limited = "2020-11", (CASES / "app_key_rate_limited.json").read_bytes()
    server = app_key_portal(portal, TIANJIN, period, [limited] * 3)
    with caplog.at_level(logging.WARNING, logger="ibdc.sources.adapters.base"):
        summary = pipeline.extract_partition(OUTPUT, TIANJIN, period, source=app_key_source(server))
    records = _records(TIANJIN, period).num_rows
    assert (summary["status"], summary["records"]) == ("extracted", records)
    pages = -(-records // source_for(TIANJIN, OUTPUT).page_size(OUTPUT))
    assert server.data_requests("/openapi/v2/resource") == 3 + pages
    assert waits == [0.5, 1.0, 2.0]  # increasing, as the session backs off a 429 (backoff factor 0.5)
    assert caplog.text.count("code 10004: 调用频率超过限制，请稍后再试") == 3  # the portal's message, logged


def test_app_key_rate_limited_case_served_for_ever_is_transient_never_a_refusal(services, portal, waits):
    period, limited = "2020-12", (CASES / "app_key_rate_limited.json").read_bytes()
    server = portal(lambda method, path, params: (200, limited))
    with pytest.raises(RateLimited, match="code 10004: 调用频率超过限制，请稍后再试") as err:
        pipeline.extract_partition(OUTPUT, TIANJIN, period, source=app_key_source(server))
    assert kind_of(err.value) is ErrorKind.TRANSIENT  # the task's retries take over
    assert not isinstance(err.value, SourceRefused)
    retries = get_settings().http_retries  # as many as the session gives a 429
    assert server.data_requests("/openapi/v2/resource") == retries + 1
    assert waits == [min(30, 0.5 * 2**n) for n in range(retries)]
    assert raw_keys(services, OUTPUT, TIANJIN, period) == []


# --- app_key_no_data.json ------------------------------------------------------------------------------


def test_app_key_no_data_case_is_a_month_not_released_and_changes_nothing(services, portal, waits, warehouse, caplog):
    period, no_data = "2020-03", (CASES / "app_key_no_data.json").read_bytes()
    loaded = app_key_portal(portal, TIANJIN, period, [])
    pipeline.load_extracted(pipeline.extract_partition(OUTPUT, TIANJIN, period, source=app_key_source(loaded)))
    query = "SELECT * FROM raw.industrial_output WHERE province_code = %s AND period_month = '2020-03-01' ORDER BY 3"
    before, objects = warehouse.execute(query, (TIANJIN,)).fetchall(), raw_keys(services, OUTPUT, TIANJIN, period)
    assert before and objects

    server = portal(lambda method, path, params: (200, no_data))
    with caplog.at_level(logging.WARNING):
        summary = pipeline.extract_partition(OUTPUT, TIANJIN, period, source=app_key_source(server))
    assert summary["status"] == "not_released" and summary["records"] == 0
    assert "code 9201: 查询结果为空" in summary["reason"] and "code 9201: 查询结果为空" in caplog.text
    assert server.data_requests("/openapi/v2/resource") == 1 and waits == []
    assert raw_keys(services, OUTPUT, TIANJIN, period) == objects  # nothing written
    with pytest.raises(NotReleased, match="查询结果为空"):
        pipeline.load_extracted(summary)
    assert warehouse.execute(query, (TIANJIN,)).fetchall() == before


# --- status_zero_failure.json --------------------------------------------------------------------------

BEIJING = "110000"  # rest_json


def status_portal(portal, records: int = 2) -> RecordedPortal:
    """A REST portal wrapping its answers in ``{"status": 1, "msg": ...}`` (0: failure): the token
    endpoint, then ``status_zero_failure.json`` for the period 2020-06 and a page for the others."""
    failure = (CASES / "status_zero_failure.json").read_bytes()

    def answer(method: str, path: str, params: dict) -> tuple[int, bytes]:
        if path.endswith("/oauth/token"):
            return 200, json.dumps({"access_token": "t", "token_type": "Bearer"}).encode()
        if params["period"] == "2020-06":
            return 200, failure
        table = _records(BEIJING, params["period"]).slice(0, records)
        page = json.loads(rest_json.encode(INDUSTRIAL_OUTPUT, table, records, 0, 10))
        return 200, json.dumps({"status": 1, "msg": "成功", **page}, ensure_ascii=False).encode()

    return portal(answer)


def declared_registry(tmp_path, server: RecordedPortal) -> Path:
    """A registry declaring Beijing's portal with its envelope (``status`` 1 success, anything else not)."""
    path = tmp_path / "registry.yaml"
    entry = {
        "code": BEIJING,
        "style": "rest_json",
        "base_url": f"{server.url}/p/{{code}}",
        "datasets": {OUTPUT: "monthly"},
        "conn_id": "ibdc_simulator",
        "envelope": {"code": "status", "message": "msg", "success": [1]},
    }
    path.write_text(yaml.safe_dump({"provinces": [entry]}, allow_unicode=True), encoding="utf-8")
    return path


def test_status_zero_case_fails_at_once_naming_the_portal_s_message_where_declared(services, portal, tmp_path):
    server = status_portal(portal)
    source = source_for(BEIJING, OUTPUT, declared_registry(tmp_path, server))
    ok = pipeline.extract_partition(OUTPUT, BEIJING, "2020-07", source=source)  # status 1: data
    assert (ok["status"], ok["records"]) == ("extracted", 2)

    with pytest.raises(SourceRefused, match=r"rest_json source 110000 refused .*: code 0: 请求参数不合法") as err:
        pipeline.extract_partition(OUTPUT, BEIJING, "2020-06", source=source)
    assert kind_of(err.value) is ErrorKind.PERMANENT
    assert server.data_requests("/api/v1/industrial_output") == 2  # the failure fetched once
    assert raw_keys(services, OUTPUT, BEIJING, "2020-06") == []


def test_status_zero_case_undeclared_is_a_permanent_layout_error_still_naming_the_message(services, portal):
    """Without the declaration the body is not a rest_json page: permanent at once (it used to be
    taken for a cut page, fetched three times and retried by the task), the portal's answer in the message."""
    server = status_portal(portal)
    source = source_for(BEIJING, OUTPUT).model_copy(update={"base_url": f"{server.url}/p/{{code}}"})
    with pytest.raises(LayoutError, match="请求参数不合法") as err:
        pipeline.extract_partition(OUTPUT, BEIJING, "2020-06", source=source)
    assert kind_of(err.value) is ErrorKind.PERMANENT
    assert server.data_requests("/api/v1/industrial_output") == 1


# --- the simulated app_key portals -----------------------------------------------------------------------

HEBEI = "130000"  # app_key, no fault in the default profile


def _resource(services, province: str, period: str) -> requests.Response:
    params = {"appKey": services.simulator_client_secret, "resId": "aW5kdXN0cmlhbF9vdXRwdXQ=", "period": period}
    return requests.get(f"{services.sources_url}/p/{province}/openapi/v2/resource", params=params, timeout=10)


def test_the_simulated_app_key_portal_answers_its_envelope_s_codes_as_the_registry_declares_them(
    services, source_faults
):
    envelopes = source_for(HEBEI, OUTPUT).envelopes
    source_faults(
        [
            {"dataset": OUTPUT, "province": HEBEI, "kind": "rate_limited", "times": 1},
            {"dataset": OUTPUT, "province": HEBEI, "kind": "not_released", "periods": ["2020-08"]},
        ]
    )
    limited = _resource(services, HEBEI, "2020-09")
    assert limited.status_code == 200 and read(envelopes, limited.content).answer is Answer.RATE_LIMITED
    assert read(envelopes, _resource(services, HEBEI, "2020-09").content).answer is Answer.SUCCESS
    not_released = _resource(services, HEBEI, "2020-08")
    assert not_released.status_code == 200 and read(envelopes, not_released.content).answer is Answer.NO_DATA
    this_month = datetime.now(UTC).strftime("%Y-%m")  # the release calendar: out mid next month
    assert read(envelopes, _resource(services, HEBEI, this_month).content).answer is Answer.NO_DATA


def test_a_month_the_simulated_app_key_portal_has_not_released_is_not_released(services, source_faults, caplog):
    source_faults([{"dataset": OUTPUT, "province": HEBEI, "kind": "not_released", "periods": ["2020-10"]}])
    with caplog.at_level(logging.WARNING, logger="ibdc.pipeline"):
        summary = pipeline.extract_partition(OUTPUT, HEBEI, "2020-10")
    assert summary["status"] == "not_released" and "code 9201" in summary["reason"]
    assert "查询结果为空" in caplog.text
    assert raw_keys(services, OUTPUT, HEBEI, "2020-10") == []
