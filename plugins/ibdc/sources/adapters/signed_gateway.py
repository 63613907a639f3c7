"""Style ``signed_gateway``: one signed POST gateway, JSON nested in JSON strings (see
:mod:`ibdc.formats.signed_gateway`).

Every request is signed afresh (a new millisecond timestamp and HMAC-SHA256 with the connection's
secret), re-fetches of a page included: the request is built inside the callable handed to
``fetch_page``. (The session's own retries of a 429 / 5xx resend the same signed request, well
within the gateway's five-minute window.) ``fetch_page`` reads the gateway's codes with the portal's
envelope (the registry's, else the style's: outer status, inner code): a refusal -- HTTP 200 with an
inner code other than ``0000`` -- raises ``SourceRefused`` at once (never retried, never taken for
data).
"""

from __future__ import annotations

import time
from functools import partial
from typing import ClassVar

import requests

from ibdc.formats import signed_gateway as fmt
from ibdc.sources.adapters.base import Extraction, PageSink, fetch_paged
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


class SignedGatewayAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.SIGNED_GATEWAY

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _post(self, url: str, params: dict, secret: str) -> requests.Response:
        return self.session.post(url, data=fmt.signed(params, secret, time.time_ns() // 1_000_000))

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        url = f"{source.url}/gateway"
        creds = get_credentials(source.conn_id)
        app_id, secret = creds.login or source.code, creds.password or ""
        size = source.page_size(dataset)

        def request_for(index: int):
            # The manifest records the page's parameters; timestamp and sign differ at every send.
            params = {
                "app_id": app_id,
                "method": fmt.method_for(dataset),
                "period": period,
                "page_no": str(index + 1),
                "page_size": str(size),
            }
            send = partial(self._post, url, params, secret)
            return send, {"method": "POST", "url": url, "form": params}

        return fetch_paged(Extraction(source=source, dataset=dataset, period=period, sink=sink), size, request_for)
