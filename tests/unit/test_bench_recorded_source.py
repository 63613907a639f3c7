"""The scale bench's static source (issue 20): recorded answers served again to an adapter's requests,
matched by method, path and parameters less the volatile ones (a signature, a timestamp, a secret)."""

from __future__ import annotations

import requests

from ibdc_dev.bench.scale import TOKEN_ANSWER, Answer, RecordedSource, request_key

PAGE = "/p/310000/gateway"


def test_volatile_parameters_are_not_matched():
    recorded = request_key("POST", PAGE, {"page_no": "1", "page_size": 2000, "app_id": "310000"})
    sent = {"app_id": "310000", "page_size": "2000", "page_no": "1", "timestamp": "1764", "sign": "ab12"}
    assert request_key("post", PAGE, sent) == recorded
    assert request_key("POST", PAGE, {**sent, "page_no": "2"}) != recorded
    jsonp = request_key("GET", "/p/140000/jsonp/x.do", {"pageNo": 1, "token": "***"})
    assert request_key("GET", "/p/140000/jsonp/x.do", {"pageNo": "1", "token": "the-secret"}) == jsonp


def test_the_recorded_bodies_are_served_to_the_requests_that_fetched_them():
    answers = {
        request_key("POST", PAGE, {"page_no": "1"}): Answer(b'{"status": 200}', "application/json"),
        request_key("GET", "/p/140000/jsonp/x.do", {"pageNo": 1, "callback": "cb"}): Answer(
            b"cb({});", "application/javascript"
        ),
    }
    with RecordedSource(answers) as source, requests.Session() as session:
        posted = session.post(source.url + PAGE, data={"page_no": "1", "timestamp": "1", "sign": "x"}, timeout=5)
        got = session.get(
            source.url + "/p/140000/jsonp/x.do", params={"callback": "cb", "pageNo": 1, "token": "t"}, timeout=5
        )
        token = session.post(source.url + "/p/110000/oauth/token", data={"grant_type": "x"}, timeout=5)
        missing = session.post(source.url + PAGE, data={"page_no": "2"}, timeout=5)
    assert (posted.status_code, posted.content, posted.headers["Content-Type"]) == (
        200,
        b'{"status": 200}',
        "application/json",
    )
    assert got.content == b"cb({});" and got.headers["Content-Type"] == "application/javascript"
    assert token.content == TOKEN_ANSWER
    assert missing.status_code == 404 and source.unmatched == [request_key("POST", PAGE, {"page_no": "2"})]
