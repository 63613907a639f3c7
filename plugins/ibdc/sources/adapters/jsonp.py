"""Style ``jsonp``: callback-wrapped JSON pages (``pageNo`` from 1, ``pageSize``), the client secret
as the ``token`` query parameter, the total count in every page.

The portal wants its secret in the URL, so this adapter keeps it out of everything that outlives the
request: the request recorded in the raw zone's manifest says ``token=***``, HTTP errors name the URL
without its query, and urllib3's retry log lines are redacted (``ibdc.sources.http``).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import requests

from ibdc.sources.adapters.base import Extraction, PageSink, fetch_paged
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import REDACTED, build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource

CALLBACK = "ibdcJsonpCallback"


def _detail(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("detail", ""))[:200]
    except ValueError:
        return resp.text[:200]


class JsonpAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.JSONP

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _get(self, source: ProvinceSource, url: str, params: dict, token: str) -> requests.Response:
        # A failed request's message names the URL, token included: fetch_page redacts it, as for every style.
        resp = self.session.get(url, params={**params, "token": token})
        if resp.status_code == 401:
            raise requests.HTTPError(
                f"{source.code}: the jsonp portal refused the client secret of connection {source.conn_id!r} "
                f"(HTTP 401 for GET {url}: {_detail(resp)})",
                response=resp,
            )
        if resp.status_code >= 400:
            raise requests.HTTPError(
                f"{source.code}: HTTP {resp.status_code} {resp.reason} for GET {url} page {params['pageNo']}: "
                f"{_detail(resp)}",
                response=resp,
            )
        return resp

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        url = f"{source.url}/jsonp/{dataset}.do"
        token = get_credentials(source.conn_id).password or ""
        size = source.page_size(dataset)

        def request_for(index: int):
            params = {"callback": CALLBACK, "pageNo": index + 1, "pageSize": size, "period": period}
            send = partial(self._get, source, url, params, token)
            return send, {"method": "GET", "url": url, "params": {**params, "token": REDACTED}}

        return fetch_paged(Extraction(source=source, dataset=dataset, period=period, sink=sink), size, request_for)
