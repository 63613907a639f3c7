"""Style ``app_key``: an open-data portal's app-key API, page-number paging (see :mod:`ibdc.formats.app_key`).

The appKey is the connection's secret (``password``); the resource id is the dataset name,
base64-encoded. The portal refuses a request with HTTP 200 and a non-``00000`` code: that raises
:class:`AppKeyRefused` at once (never retried, never taken for data).
"""

from __future__ import annotations

import base64
from functools import partial
from typing import ClassVar

import requests

from ibdc.formats import app_key as fmt
from ibdc.sources.adapters.base import Extraction, SourceRefused, fetch_paged
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


class AppKeyRefused(SourceRefused):
    """The portal answered with an error code instead of data (wrong appKey, unknown resource...)."""


def resource_id(dataset: str) -> str:
    return base64.b64encode(dataset.encode()).decode("ascii")


class AppKeyAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.APP_KEY

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _get(self, source: ProvinceSource, url: str, params: dict, what: str) -> requests.Response:
        resp = self.session.get(url, params=params)
        if resp.ok and (refusal := fmt.error_of(resp.content)):
            code, msg = refusal
            raise AppKeyRefused(f"app_key source {source.code} refused {what}: code {code}: {msg}")
        return resp

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction:
        url = f"{source.url}/openapi/v2/resource"
        app_key = get_credentials(source.conn_id).password or ""
        rows = source.page_size(dataset)

        def request_for(index: int):
            # What the manifest records of the request: everything but the appKey (a secret).
            params = {"resId": resource_id(dataset), "period": period, "page": index + 1, "rows": rows}
            what = f"{dataset} {period} page {index + 1}"
            send = partial(self._get, source, url, {"appKey": app_key, **params}, what)
            return send, {"method": "GET", "url": url, "params": params}

        return fetch_paged(Extraction(source=source, dataset=dataset, period=period), rows, request_for)
