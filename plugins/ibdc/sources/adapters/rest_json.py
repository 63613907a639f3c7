"""Style ``rest_json``: paged REST JSON behind a bearer token (offset/limit, total count in the body).

Refusals are HTTP statuses: a 401 for the token or a page raises ``requests.HTTPError`` with its
response (permanent, :func:`ibdc.errors.kind_of`); a token answer without a token is a
``LayoutError``."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import requests

from ibdc.errors import LayoutError
from ibdc.formats.envelope import head
from ibdc.sources.adapters.base import Extraction, PageSink, fetch_paged
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


class RestJsonAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.REST_JSON

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _token(self, source: ProvinceSource) -> str:
        creds = get_credentials(source.conn_id)
        resp = self.session.post(
            f"{source.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds.login or source.code,
                "client_secret": creds.password or "",
            },
        )
        resp.raise_for_status()
        try:
            return str(resp.json()["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LayoutError(f"{source.code}: no access_token in the token answer: {head(resp.content)}") from exc

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        url = f"{source.url}/api/v1/{dataset}"
        headers = {"Authorization": f"Bearer {self._token(source)}"}
        limit = source.page_size(dataset)

        def request_for(index: int):
            params = {"period": period, "offset": index * limit, "limit": limit}
            send = partial(self.session.get, url, params=params, headers=headers)
            return send, {"method": "GET", "url": url, "params": params}

        return fetch_paged(Extraction(source=source, dataset=dataset, period=period, sink=sink), limit, request_for)
