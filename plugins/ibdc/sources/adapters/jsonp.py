"""Style ``jsonp``: callback-wrapped JSON pages (``pageNo`` from 1, ``pageSize``), the client secret
as the ``token`` query parameter, the total count in every page.

The portal wants its secret in the URL, so this adapter keeps it out of everything that outlives the
request: the request recorded in the raw zone's manifest says ``token=***``, HTTP errors name the URL
without its query, and urllib3's retry log lines are redacted.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

import requests

from ibdc.sources.adapters.base import Extraction, fetch_page
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource

CALLBACK = "ibdcJsonpCallback"
REDACTED = "***"
TOKEN_PARAM = re.compile(r"((?:^|[?&])token=)[^&\s'\"]*")


class _RedactToken(logging.Filter):
    """urllib3 logs retried URLs (warnings on broken connections, debug on status retries)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", message), ()
        return True


for _logger in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_logger).addFilter(_RedactToken())


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
        try:
            resp = self.session.get(url, params={**params, "token": token})
        except requests.RequestException as exc:
            message = str(exc).replace(token, REDACTED) if token else str(exc)
            raise type(exc)(TOKEN_PARAM.sub(rf"\g<1>{REDACTED}", message), response=exc.response) from None
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

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction:
        url = f"{source.url}/jsonp/{dataset}.do"
        token = get_credentials(source.conn_id).password or ""
        size = source.page_size(dataset)
        result = Extraction(source=source, dataset=dataset, period=period)
        page_no = 1
        while True:
            params = {"callback": CALLBACK, "pageNo": page_no, "pageSize": size, "period": period}
            page = fetch_page(
                result,
                lambda p=params: self._get(source, url, p, token),
                {"method": "GET", "url": url, "params": {**params, "token": REDACTED}},
            )
            result.records_claimed = page.total
            # Advance by the page size asked for, not the records received: a portal that repeats
            # the previous page's last record at the top of the next must not make the client skip any.
            if not page.num_records or page_no * size >= result.records_claimed:
                break
            page_no += 1
        result.reconcile()
        return result
