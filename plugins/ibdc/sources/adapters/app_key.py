"""Style ``app_key``: an open-data portal's app-key API, page-number paging (see :mod:`ibdc.formats.app_key`).

The appKey is the connection's secret (``password``); the resource id is the dataset name,
base64-encoded. The portal answers HTTP 200 with a code in the body; ``fetch_page`` reads it with the
portal's envelope (the registry's, else the style's): a rate limit is sent again like an HTTP 429, no
data is a month not released yet, any other code than success a refusal (``SourceRefused``, at once,
never retried, never taken for data).
"""

from __future__ import annotations

import base64
from functools import partial
from typing import ClassVar

import requests

from ibdc.sources.adapters.base import Extraction, PageSink, fetch_paged
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


def resource_id(dataset: str) -> str:
    return base64.b64encode(dataset.encode()).decode("ascii")


class AppKeyAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.APP_KEY

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        url = f"{source.url}/openapi/v2/resource"
        app_key = get_credentials(source.conn_id).password or ""
        rows = source.page_size(dataset)

        def request_for(index: int):
            # What the manifest records of the request: everything but the appKey (a secret).
            params = {"resId": resource_id(dataset), "period": period, "page": index + 1, "rows": rows}
            send = partial(self.session.get, url, params={"appKey": app_key, **params})
            return send, {"method": "GET", "url": url, "params": params}

        return fetch_paged(Extraction(source=source, dataset=dataset, period=period, sink=sink), rows, request_for)
