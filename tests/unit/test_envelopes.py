"""Envelopes declared per portal (ibdc.formats.envelope, registry.yaml ``envelope:``) and what each
answer does in ``fetch_page``: success decodes, a rate limit is retried like an HTTP 429 then is
transient, no data is "not released", any other code a permanent refusal naming the portal's code and
message. The handed cases in tests/cases/envelopes are read here through the declarations (over HTTP:
tests/integration/test_envelopes.py). And every style's 401/403 is permanent, sent once."""

import json
from pathlib import Path

import pyarrow as pa
import pytest
import requests
import yaml
from pydantic import ValidationError

from ibdc.errors import ErrorKind, LayoutError, NotReleased, kind_of
from ibdc.formats import app_key, rest_json, signed_gateway
from ibdc.formats.envelope import Answer, Envelope, Verdict, read
from ibdc.schemas import INDUSTRIAL_OUTPUT
from ibdc.sources.adapters import adapter_for, base
from ibdc.sources.adapters.base import Extraction, PartitionChangedWhilePaged, RateLimited, SourceRefused
from ibdc.sources.credentials import MissingCredentials, get_credentials
from ibdc.sources.registry import ApiStyle, load_registry, source_for
from ibdc_dev.simulator import service
from ibdc_dev.simulator.styles import app_key as sim_key
from ibdc_dev.simulator.styles import signed_gateway as sim_gateway

CASES = Path(__file__).resolve().parents[1] / "cases" / "envelopes"
OUTPUT = "industrial_output"
# The declaration of a portal whose status 0 means failure and 1 success, as registry.yaml writes it.
STATUS_ENVELOPE = {"code": "status", "message": "msg", "success": [1]}


def _registry(tmp_path, provinces: list[dict], portals: dict | None = None) -> Path:
    path = tmp_path / "registry.yaml"
    doc = {
        "defaults": {"base_url": "http://portal.test/p/{code}", "conn_id": "ibdc_test", "datasets": {OUTPUT: "monthly"}}
    }
    path.write_text(yaml.safe_dump({**doc, "portals": portals or {}, "provinces": provinces}, allow_unicode=True))
    return path


# --- the handed cases, read through the declarations ------------------------------------------------


def test_app_key_cases_are_a_rate_limit_and_no_data_under_the_registry_s_envelope():
    source = source_for("120000", OUTPUT)  # Tianjin, app_key: the style's envelope
    limited = read(source.envelopes, (CASES / "app_key_rate_limited.json").read_bytes())
    assert limited == Verdict(Answer.RATE_LIMITED, "10004", "调用频率超过限制，请稍后再试")
    empty = read(source.envelopes, (CASES / "app_key_no_data.json").read_bytes())
    assert empty == Verdict(Answer.NO_DATA, "9201", "查询结果为空")


def test_status_zero_case_is_a_refusal_with_its_message_where_declared(tmp_path):
    path = _registry(tmp_path, [{"code": "110000", "style": "rest_json", "envelope": STATUS_ENVELOPE}])
    source = source_for("110000", OUTPUT, path)
    assert source.envelopes == (Envelope(code="status", message="msg", success=("1",)),)
    body = (CASES / "status_zero_failure.json").read_bytes()
    assert read(source.envelopes, body) == Verdict(Answer.REFUSED, "0", "请求参数不合法")
    assert read(source.envelopes, b'{"status": 1, "msg": "ok", "total": 0, "items": []}').answer is Answer.SUCCESS
    # Undeclared (a plain rest_json portal): no envelope is read, and the page is not rest_json's layout.
    assert read(source_for("110000", OUTPUT).envelopes, body) is None
    with pytest.raises(LayoutError, match="请求参数不合法"):
        rest_json.decode(INDUSTRIAL_OUTPUT, body)


# --- declarations in the registry -------------------------------------------------------------------


def test_a_portal_s_envelope_is_declared_in_the_registry_per_province_and_per_shared_portal(tmp_path):
    gateway_levels = [
        {"code": "status", "success": [200]},
        {"inside": "result", "code": "code", "message": "message", "success": ["0000"], "no_data": ["3004"]},
    ]
    path = _registry(
        tmp_path,
        [
            {"code": "120000", "style": "app_key"},  # the style's
            {"code": "130000", "style": "app_key", "envelope": {**STATUS_ENVELOPE, "rate_limited": [2]}},
            {"code": "310000", "style": "signed_gateway", "envelope": gateway_levels},
            {"code": "140000", "style": "jsonp", "envelope": [], "via": {OUTPUT: "stats"}},
        ],
        {
            "stats": {
                "style": "rest_json",
                "base_url": "http://stats.test",
                "datasets": [OUTPUT],
                "envelope": STATUS_ENVELOPE,
            }
        },
    )
    registry = load_registry(path)
    assert registry["120000"].envelope is None and registry["120000"].envelopes == app_key.ENVELOPE
    assert registry["130000"].envelopes[0].rate_limited == ("2",)
    assert read(registry["130000"].envelopes, b'{"status": 2, "msg": "busy"}').answer is Answer.RATE_LIMITED
    with pytest.raises(LayoutError, match="'status'"):  # an app_key body is not this portal's envelope
        read(registry["130000"].envelopes, app_key.encode_error("00000", "success"))
    inner_no_data = json.dumps({"status": 200, "result": json.dumps({"code": "3004", "message": "暂无数据"})})
    assert read(registry["310000"].envelopes, inner_no_data.encode()) == Verdict(Answer.NO_DATA, "3004", "暂无数据")
    assert registry["140000"].envelopes == ()  # declared: none
    # A dataset published through a shared portal answers in that portal's envelope.
    shared = source_for("140000", OUTPUT, path)
    assert (shared.style, shared.envelopes) == (ApiStyle.REST_JSON, (Envelope(**STATUS_ENVELOPE),))


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        ({"code": "status", "success": []}, "at least one success code"),
        ({"code": "status", "success": [1], "no_data": ["1"]}, "'1' is in both success and no_data"),
        ({"code": "status", "success": [1], "retry": [2]}, "retry"),  # an unknown key: a typo is refused
        ({"message": "msg", "success": [1]}, "code"),
    ],
)
def test_a_declaration_that_cannot_be_read_is_refused_with_the_registry(tmp_path, envelope, error):
    path = _registry(tmp_path, [{"code": "110000", "style": "rest_json", "envelope": envelope}])
    with pytest.raises(ValidationError, match=error):
        load_registry(path)


def test_codes_are_compared_as_text_whatever_json_or_yaml_type_they_come_in():
    level = Envelope(code="ok", success=[True], no_data=[0], rate_limited=["00000"])
    assert level.success == ("true",) and level.no_data == ("0",)
    assert read((level,), b'{"ok": true}').answer is Answer.SUCCESS
    assert read((level,), b'{"ok": "0"}').answer is Answer.NO_DATA
    assert read((level,), b'{"ok": "00000"}').answer is Answer.RATE_LIMITED
    assert read((level,), b'{"ok": 0.0}').answer is Answer.REFUSED  # "0.0" is not "0"
    assert read((level,), b'cb({"ok": "0"});').answer is Answer.NO_DATA  # inside a JSONP callback
    assert read((level,), b'{"ok": tr') is None  # cut short: not read (decode says so, the page is re-fetched)


# --- the simulator and the registry agree --------------------------------------------------------------


def test_the_registry_s_envelopes_read_the_simulated_portals_codes_as_the_simulator_means_them():
    """Every province whose own portal the simulator serves in an enveloped style: each code that portal
    answers with is read, under the registry's declaration for the province, as what the portal means."""
    empty = pa.table({n: pa.array([], pa.string()) for n in INDUSTRIAL_OUTPUT.names})
    served = {
        "app_key": {
            app_key.encode(INDUSTRIAL_OUTPUT, empty, 0, 1): Answer.SUCCESS,
            app_key.encode_error(sim_key.RATE_LIMITED, sim_key.RATE_LIMITED_MSG): Answer.RATE_LIMITED,
            app_key.encode_error(sim_key.NO_DATA, sim_key.NO_DATA_MSG): Answer.NO_DATA,
            **{app_key.encode_error(code, "refused"): Answer.REFUSED for code in sim_key.REFUSALS},
        },
        "signed_gateway": {
            signed_gateway.encode(INDUSTRIAL_OUTPUT, empty, 0): Answer.SUCCESS,
            **{signed_gateway.encode_error(code, "refused"): Answer.REFUSED for code in sim_gateway.REFUSALS},
        },
    }
    checked = 0
    for code, source in load_registry().items():
        style = service.portals()[code]["style"]
        if style in served:
            assert str(source.style) == style
            assert {body: read(source.envelopes, body).answer for body in served[style]} == served[style], code
            checked += 1
        else:  # the simulator answers these styles' errors with HTTP statuses: no envelope to declare
            assert source.envelopes == (), code
    assert checked == 11


# --- what each answer does in fetch_page ---------------------------------------------------------------


def _response(body: bytes, status: int = 200, headers: dict | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content, resp.url = status, body, "http://portal.test/p/120000/openapi/v2/resource"
    resp.reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden"}.get(status, "")
    resp.headers.update({"Content-Type": "application/json", **(headers or {})})
    return resp


class Portal:
    """Answers each send with the next body of ``answers`` (the last for ever); counts the sends."""

    def __init__(self, *answers: requests.Response) -> None:
        self.answers, self.sent = list(answers), 0

    def send(self, *args, **kwargs) -> requests.Response:
        self.sent += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    get = post = send


GOOD_PAGE = _response(app_key.encode(INDUSTRIAL_OUTPUT, pa.table({n: ["x"] for n in INDUSTRIAL_OUTPUT.names}), 1, 1))
RATE_LIMITED = _response((CASES / "app_key_rate_limited.json").read_bytes())
NO_DATA = _response((CASES / "app_key_no_data.json").read_bytes())


@pytest.fixture
def waits(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(base.time, "sleep", slept.append)
    return slept


def _extraction(period: str = "2025-06") -> Extraction:
    return Extraction(source_for("120000", OUTPUT), OUTPUT, period)


def test_a_rate_limit_in_the_body_is_sent_again_with_increasing_waits_then_decodes(waits, caplog):
    portal = Portal(RATE_LIMITED, RATE_LIMITED, RATE_LIMITED, GOOD_PAGE)
    page = base.fetch_page(_extraction(), portal.send, {"page": 1})
    assert page.num_records == 1 and portal.sent == 4
    assert waits == [0.5, 1.0, 2.0]
    assert caplog.text.count("code 10004: 调用频率超过限制，请稍后再试") == 3


def test_a_rate_limit_that_lasts_is_transient_after_as_many_attempts_as_a_429_gets(waits, monkeypatch):
    from ibdc.settings import get_settings

    monkeypatch.setattr(get_settings(), "http_retries", 3)
    portal = Portal(RATE_LIMITED)
    with pytest.raises(
        RateLimited, match=r"rate-limited industrial_output 2025-06 page 1: code 10004: 调用频率"
    ) as err:
        base.fetch_page(_extraction(), portal.send, {"page": 1})
    assert kind_of(err.value) is ErrorKind.TRANSIENT and not isinstance(err.value, SourceRefused)
    assert "still after 4 attempts" in str(err.value)
    assert portal.sent == 4 and waits == [0.5, 1.0, 2.0]


def test_a_retry_after_given_with_the_rate_limit_is_the_wait(waits):
    limited = _response(RATE_LIMITED.content, headers={"Retry-After": "7"})
    base.fetch_page(_extraction(), Portal(limited, GOOD_PAGE).send, {"page": 1})
    assert waits == [7.0]


def test_a_retry_after_beyond_the_maximum_in_the_body_is_left_to_the_task_s_retries(waits, monkeypatch):
    """An in-band rate limit asking for longer than IBDC_HTTP_RETRY_AFTER_MAX_S is neither slept on nor
    shortened (the same rule as an HTTP 429's): RetryAfterTooLong, transient, at once."""
    from ibdc.settings import get_settings
    from ibdc.sources.http import RetryAfterTooLong

    monkeypatch.setattr(get_settings(), "http_retry_after_max_s", 60)
    portal = Portal(_response(RATE_LIMITED.content, headers={"Retry-After": "21600"}), GOOD_PAGE)
    with pytest.raises(RetryAfterTooLong, match="asks to wait '21600', over the maximum of 60 s") as err:
        base.fetch_page(_extraction(), portal.send, {"page": 1})
    assert kind_of(err.value) is ErrorKind.TRANSIENT
    assert portal.sent == 1 and waits == []


def test_no_data_is_not_released_with_the_portal_s_message_sent_once(waits):
    portal = Portal(NO_DATA)
    with pytest.raises(NotReleased, match="has no data for industrial_output 2025-06 page 1: code 9201: 查询结果为空"):
        base.fetch_page(_extraction(), portal.send, {"page": 1})
    assert portal.sent == 1 and waits == []


def test_a_refusal_is_permanent_naming_the_portal_s_code_and_message_sent_once(waits):
    portal = Portal(_response(app_key.encode_error("10001", "invalid appKey")))
    with pytest.raises(SourceRefused, match="app_key source 120000 refused .* page 1: code 10001: invalid appKey"):
        base.fetch_page(_extraction(), portal.send, {"page": 1})
    assert portal.sent == 1 and waits == []


def test_no_data_for_a_later_page_is_a_partition_that_changed_while_paged():
    portal = Portal(
        _response(app_key.encode(INDUSTRIAL_OUTPUT, pa.table({n: ["x"] for n in INDUSTRIAL_OUTPUT.names}), 2, 1)),
        NO_DATA,
    )
    with pytest.raises(PartitionChangedWhilePaged, match="page 2 answered no data after page 1 claimed 2"):
        base.fetch_paged(_extraction(), 1, lambda i: (portal.send, {"page": i + 1}))


# --- every style: a 401/403 or missing credentials is permanent, sent once ------------------------------

PAGE_STYLES = [ApiStyle.APP_KEY, ApiStyle.SIGNED_GATEWAY, ApiStyle.JSONP, ApiStyle.CSV_DOWNLOAD, ApiStyle.REST_JSON]


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("style", [*PAGE_STYLES, ApiStyle.NBS_EASYQUERY], ids=str)
def test_every_style_fails_a_401_or_403_permanently_at_the_first_answer(style, status, monkeypatch, waits):
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_SIMULATOR", json.dumps({"login": "x", "password": "wrong"}))
    province = {ApiStyle.NBS_EASYQUERY: "630000"}.get(style) or next(
        c for c, s in load_registry().items() if s.style is style
    )
    portal = Portal(_response(b'{"detail": "refused"}', status))
    adapter = adapter_for(style)
    adapter.session = portal
    with pytest.raises(Exception) as err:  # noqa: PT011 -- the kind is what is checked
        adapter.extract(source_for(province, OUTPUT), OUTPUT, "2025-06")
    assert kind_of(err.value) is ErrorKind.PERMANENT, repr(err.value)
    assert isinstance(err.value, requests.HTTPError | SourceRefused)
    assert portal.sent == 1 and waits == []


def test_a_connection_that_is_not_valid_json_is_missing_credentials_permanent(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_IBDC_BROKEN", '{"login": "x", "password": ')
    with pytest.raises(MissingCredentials, match="AIRFLOW_CONN_IBDC_BROKEN is not valid JSON") as err:
        get_credentials("ibdc_broken")
    assert kind_of(err.value) is ErrorKind.PERMANENT


def test_kinds_of_the_envelope_s_errors():
    assert kind_of(RateLimited("10004")) is ErrorKind.TRANSIENT
    assert kind_of(SourceRefused("10001")) is ErrorKind.PERMANENT
    assert kind_of(NotReleased("9201")) is ErrorKind.NOT_RELEASED
