"""The source session's bounds against portals outside the platform that misbehave on purpose: an
answer too big, a body dripped a byte at a time, a Retry-After of hours, a redirect to another origin
(a small local HTTP server stands in for each); and the size cap against the simulator over HTTP."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ibdc.errors import ErrorKind, kind_of
from ibdc.sources.adapters import adapter_for
from ibdc.sources.http import (
    AnswerTooLarge,
    AnswerTooSlow,
    CrossOriginRedirect,
    RetryAfterTooLong,
    build_session,
)
from ibdc.sources.registry import ApiStyle, ProvinceSource, source_for

pytestmark = pytest.mark.integration

SECRET = "s3cret-never-elsewhere"
CONN = "ibdc_hostile_test"
Handler = Callable[[BaseHTTPRequestHandler], None]


class Portal:
    """A local HTTP server in a thread: ``routes`` maps a path (without query) to what it answers;
    ``seen`` records every request (method, path with query, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[dict] = []
        portal = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                portal.seen.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                route = portal.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                try:
                    route(self)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up on us: expected
                    self.close_connection = True

            do_GET = do_POST = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.close()


@pytest.fixture
def elsewhere() -> Iterator[Portal]:
    """A second server, on another port: another origin."""
    p = Portal()
    yield p
    p.close()


def answer(status: int, body: bytes = b"", headers: dict | None = None) -> Handler:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def chunked_forever(h: BaseHTTPRequestHandler) -> None:
    """A chunked body with no announced length and no end."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"[" + b"0," * 32_767 + b"0"
    while True:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def drip(h: BaseHTTPRequestHandler) -> None:
    """A small body announced in full, then served a byte every 0.2 s: each read answers well within
    the per-read timeout, so only a deadline on the whole answer stops it."""
    body = b'{"records": []}' * 20
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    for byte in body:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.2)


# --- size cap ------------------------------------------------------------------------------------


def test_an_answer_announcing_more_than_the_cap_is_refused_before_its_body_is_read(portal):
    portal.routes["/big"] = answer(200, b"x" * 5000)
    session = build_session(retries=0, max_answer_bytes=1000)
    with pytest.raises(AnswerTooLarge, match=r"5000 bytes .*1000") as err:
        session.get(f"{portal.origin}/big", params={"token": SECRET})
    assert f"{portal.origin}/big" in str(err.value) and SECRET not in str(err.value)
    assert kind_of(err.value) is ErrorKind.PERMANENT


def test_an_endless_body_without_a_length_is_cut_off_at_the_cap(portal):
    portal.routes["/endless"] = chunked_forever
    session = build_session(retries=0, max_answer_bytes=1_000_000)
    with pytest.raises(AnswerTooLarge, match=r"more than 1000000 bytes") as err:
        session.get(f"{portal.origin}/endless", params={"appKey": SECRET})
    assert "/endless" in str(err.value) and SECRET not in str(err.value)


def test_a_streamed_read_is_cut_off_at_the_cap_too(portal):
    portal.routes["/endless"] = chunked_forever
    resp = build_session(retries=0, max_answer_bytes=1_000_000).get(f"{portal.origin}/endless", stream=True)
    with pytest.raises(AnswerTooLarge):
        for _ in resp.iter_content(8192):
            pass
    resp = build_session(retries=0, max_answer_bytes=1_000_000).get(f"{portal.origin}/endless", stream=True)
    with pytest.raises(AnswerTooLarge):
        while resp.raw.read(8192):  # file-like use (an incremental decoder reading resp.raw)
            pass
    resp = build_session(retries=0, max_answer_bytes=1_000_000).get(f"{portal.origin}/endless", stream=True)
    with pytest.raises(AnswerTooLarge):
        for _ in io.TextIOWrapper(resp.raw, encoding="gb18030"):  # read1 / readinto
            pass


def test_an_answer_within_the_cap_arrives_whole(portal):
    body = json.dumps({"records": list(range(1000))}).encode()
    portal.routes["/ok"] = answer(200, body, {"Content-Type": "application/json"})
    resp = build_session(retries=0, max_answer_bytes=len(body)).get(f"{portal.origin}/ok")
    assert resp.content == body


def test_the_cap_holds_against_the_simulator_through_an_adapter(services):
    """A csv_download telemetry file (about 340 KB a province-day at the default 200 devices) with a
    cap below it: refused, naming the file's URL; with the default cap it arrives."""
    source, period = source_for("220000", "equipment_telemetry"), "2025-06-01"
    adapter = adapter_for(source.style)
    adapter.session = build_session(retries=0, max_answer_bytes=100_000)
    with pytest.raises(AnswerTooLarge, match=r"/p/220000/download/equipment_telemetry\.csv.*100000"):
        adapter.extract(source, "equipment_telemetry", period)
    adapter.session = build_session(retries=0)
    assert adapter.extract(source, "equipment_telemetry", period).records_received > 0


# --- deadline ------------------------------------------------------------------------------------


def test_a_body_dripped_a_byte_at_a_time_is_cut_off_at_the_deadline(portal):
    portal.routes["/drip"] = drip
    session = build_session(retries=0, timeout_s=5, answer_deadline_s=1)
    with pytest.raises(AnswerTooSlow, match=r"/drip.* 1(\.0)? s") as err:
        session.get(f"{portal.origin}/drip", params={"token": SECRET})
    assert SECRET not in str(err.value)
    assert kind_of(err.value) is ErrorKind.TRANSIENT


def test_headers_dripped_a_byte_at_a_time_are_cut_off_at_the_deadline(portal):
    """The status line at once, then a header line a byte every 0.1 s for 10 s: cut off while the
    portal is still dripping (before, the answer failed only when the portal stopped)."""
    dripped_all = threading.Event()

    def drip_headers(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Filler: ")
        for _ in range(100):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.1)
        dripped_all.set()
        h.close_connection = True

    portal.routes["/slow-head"] = drip_headers
    session = build_session(retries=0, timeout_s=5, answer_deadline_s=1)
    with pytest.raises(AnswerTooSlow, match=r"127\.0\.0\.1:\d+: no whole status line and headers within 1 s") as err:
        session.get(f"{portal.origin}/slow-head")
    assert not dripped_all.is_set()
    assert kind_of(err.value) is ErrorKind.TRANSIENT


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The waits the test's own thread sleeps, recorded, not slept (the portals' threads still sleep)."""
    import urllib3.util.retry

    recorded: list[float] = []
    sleep = time.sleep

    def record(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            recorded.append(seconds)
        else:
            sleep(seconds)

    monkeypatch.setattr(urllib3.util.retry.time, "sleep", record)
    return recorded


def test_a_retry_after_within_the_maximum_is_waited(portal, waits):
    calls = iter([answer(429, headers={"Retry-After": "45"}), answer(200, b"[]")])
    portal.routes["/limited"] = lambda h: next(calls)(h)
    resp = build_session(retries=2, retry_after_max_s=60).get(f"{portal.origin}/limited")
    assert resp.status_code == 200 and waits == [45]


@pytest.mark.parametrize("after", ["21600", "Wed, 21 Oct 2099 07:28:00 GMT"])
def test_a_retry_after_beyond_the_maximum_is_left_to_the_tasks_retries(portal, waits, after):
    portal.routes["/limited"] = answer(429, headers={"Retry-After": after})
    session = build_session(retries=3, retry_after_max_s=60)
    with pytest.raises(RetryAfterTooLong, match=rf"{portal.origin}/limited.*60") as err:
        session.get(f"{portal.origin}/limited", params={"appKey": SECRET})
    assert waits == [] and SECRET not in str(err.value)
    assert kind_of(err.value) is ErrorKind.TRANSIENT
    assert len(portal.seen) == 1  # asked once, not again and again


# --- redirects -----------------------------------------------------------------------------------


def _source(portal: Portal, style: ApiStyle) -> ProvinceSource:
    return ProvinceSource(
        code="110000",
        style=style,
        base_url=f"{portal.origin}/p/{{code}}",
        datasets={"industrial_output": "monthly"},
        conn_id=CONN,
    )


def redirect(status: int, to: str) -> Handler:
    return answer(status, headers={"Location": to})


# style -> (the path that redirects, extra routes to reach it)
REDIRECTED = {
    "rest_json token (307: the secret in a POST body)": (ApiStyle.REST_JSON, "/p/110000/oauth/token", 307, {}),
    "rest_json page (302: bearer header)": (
        ApiStyle.REST_JSON,
        "/p/110000/api/v1/industrial_output",
        302,
        {"/p/110000/oauth/token": answer(200, b'{"access_token": "tok-' + SECRET.encode() + b'"}')},
    ),
    "csv_download (302: basic auth)": (ApiStyle.CSV_DOWNLOAD, "/p/110000/download/industrial_output.csv", 302, {}),
    "jsonp (302: token in the query)": (ApiStyle.JSONP, "/p/110000/jsonp/industrial_output.do", 302, {}),
    "app_key (307: appKey in the query)": (ApiStyle.APP_KEY, "/p/110000/openapi/v2/resource", 307, {}),
    "signed_gateway (307: signed POST body)": (ApiStyle.SIGNED_GATEWAY, "/p/110000/gateway", 307, {}),
}


@pytest.mark.parametrize("case", list(REDIRECTED))
def test_no_redirect_carries_credentials_to_another_origin(portal, elsewhere, monkeypatch, case):
    style, path, status, routes = REDIRECTED[case]
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"login": "client-id", "password": SECRET}))
    portal.routes.update(routes)
    portal.routes[path] = redirect(status, f"{elsewhere.origin}/collect")
    elsewhere.routes["/collect"] = answer(200, b"{}", {"Content-Type": "application/json"})
    adapter = adapter_for(style)
    adapter.session = build_session(retries=0)
    with pytest.raises(CrossOriginRedirect) as err:
        adapter.extract(_source(portal, style), "industrial_output", "2024-05")
    assert portal.origin in str(err.value) and elsewhere.origin in str(err.value)
    assert kind_of(err.value) is ErrorKind.PERMANENT
    assert any(r["path"].startswith(path) for r in portal.seen)  # the portal was asked, and redirected
    # Nothing reached the other origin: no header, no query, no body, so no secret.
    assert elsewhere.seen == []


def test_a_redirect_within_the_origin_is_followed_with_its_credentials(portal):
    portal.routes["/old"] = redirect(307, "/new")
    portal.routes["/new"] = answer(200, b"moved")
    resp = build_session(retries=0).get(f"{portal.origin}/old", headers={"Authorization": "Bearer t"})
    assert resp.content == b"moved"
    assert portal.seen[-1]["path"] == "/new" and portal.seen[-1]["headers"]["Authorization"] == "Bearer t"


def test_a_redirect_to_the_same_host_on_another_port_is_another_origin(portal, elsewhere):
    portal.routes["/old"] = redirect(302, f"{elsewhere.origin}/new")
    with pytest.raises(CrossOriginRedirect):
        build_session(retries=0).get(f"{portal.origin}/old", headers={"X-Api-Token": SECRET})
    assert elsewhere.seen == []


def test_requests_errors_still_pass_through(portal):
    portal.routes["/gone"] = answer(404)
    resp = build_session(retries=0).get(f"{portal.origin}/gone")
    with pytest.raises(requests.HTTPError):
        resp.raise_for_status()


def test_an_endless_error_body_is_not_drained_before_a_retry(portal):
    """urllib3 reads a retried answer's body to its end before asking again: an endless 503 would hold
    the worker for ever. The session drops that connection instead; the last answer is read bounded."""

    def endless_503(h: BaseHTTPRequestHandler) -> None:
        h.send_response(503)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        while True:
            h.wfile.write(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")

    portal.routes["/busy"] = endless_503
    with pytest.raises(AnswerTooLarge):
        build_session(retries=1, max_answer_bytes=1_000_000).get(f"{portal.origin}/busy")
    assert len(portal.seen) == 2  # asked, and asked again
