"""Style ``rest_json``: paged REST JSON behind a bearer token (offset/limit, total count in the body)."""

from __future__ import annotations

import json
from typing import ClassVar

import requests

from ibdc.settings import get_settings
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource

ENDPOINTS = {"industrial_output": "api/v1/industrial-output"}


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
        return resp.json()["access_token"]

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction:
        url = f"{source.url}/{ENDPOINTS[dataset]}"
        headers = {"Authorization": f"Bearer {self._token(source)}"}
        limit = get_settings().page_size
        result = Extraction(source=source, dataset=dataset, period=period)
        offset = 0
        while True:
            params = {"period": period, "offset": offset, "limit": limit}
            resp = self.session.get(url, params=params, headers=headers)
            resp.raise_for_status()
            doc = json.loads(resp.content)
            items = doc["items"]
            result.records_claimed = int(doc["total"])
            result.pages.append(
                RawPage(
                    resp.content,
                    resp.headers.get("Content-Type", "application/json"),
                    {"method": "GET", "url": url, "params": params},
                    len(items),
                )
            )
            offset += len(items)
            if not items or offset >= result.records_claimed:
                break
        result.reconcile()
        return result
