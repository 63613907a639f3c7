"""Style ``app_key``: an open-data portal's app-key API, page-number paging (see :mod:`ibdc.formats.app_key`).

The appKey is the connection's secret (``password``); the resource id is the dataset name,
base64-encoded. The portal refuses a request with HTTP 200 and a non-``00000`` code: that raises
:class:`AppKeyRefused` at once (never retried, never taken for data).
"""

from __future__ import annotations

import base64
from typing import ClassVar

import requests

from ibdc.formats import app_key as fmt
from ibdc.sources.adapters.base import Extraction, SourceRefused, fetch_page
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
        result = Extraction(source=source, dataset=dataset, period=period)
        page_no = 1
        while True:
            # What the manifest records of the request: everything but the appKey (a secret).
            params = {"resId": resource_id(dataset), "period": period, "page": page_no, "rows": rows}
            what = f"{dataset} {period} page {page_no}"
            page = fetch_page(
                result,
                lambda p=params, w=what: self._get(source, url, {"appKey": app_key, **p}, w),
                {"method": "GET", "url": url, "params": params},
            )
            result.records_claimed = page.total
            # Advance by the page size asked for, not the records received: a portal that repeats
            # records across pages must not make the client skip any.
            if not page.num_records or page_no * rows >= result.records_claimed:
                break
            page_no += 1
        result.reconcile()
        return result
