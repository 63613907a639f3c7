"""Style ``nbs_easyquery``: one ``QueryData`` request per partition (the portal serves the whole
partition in one answer), the client secret in the ``X-Token`` header, the record count in the body."""

from __future__ import annotations

import json
import time
from functools import partial
from typing import ClassVar

import requests

from ibdc.formats import DecodeError
from ibdc.formats import nbs_easyquery as fmt
from ibdc.formats.nbs_easyquery import DBCODES, wire_period
from ibdc.sources.adapters.base import Extraction, SourceRefused, fetch_page
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


class EasyqueryRefused(SourceRefused):
    """The portal answered the query with a ``returncode`` other than 200."""


def _dims(**values: str) -> str:
    return json.dumps([{"wdcode": k, "valuecode": v} for k, v in values.items()], separators=(",", ":"))


class NbsEasyqueryAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.NBS_EASYQUERY

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _get(self, source: ProvinceSource, url: str, params: dict, headers: dict, what: str) -> requests.Response:
        resp = self.session.get(url, params=params, headers=headers)
        if resp.status_code == 401:
            raise requests.HTTPError(
                f"{source.code}: the easyquery portal refused the client secret of connection {source.conn_id!r} "
                f"(HTTP 401 for GET {url})",
                response=resp,
            )
        if resp.ok:
            try:
                refusal = fmt.refusal_of(resp.content)
            except DecodeError:
                refusal = None  # a truncated or garbled body: fetch_page fetches it again
            if refusal:
                raise EasyqueryRefused(
                    f"{what}: the easyquery portal answered returncode {refusal.returncode}: {refusal.message}"
                    f" (query {params})"
                )
        return resp

    def extract(self, source: ProvinceSource, dataset: str, period: str) -> Extraction:
        if dataset not in DBCODES:
            raise ValueError(f"no easyquery database for {dataset!r}; known: {sorted(DBCODES)}")
        url = f"{source.url}/easyquery.htm"
        headers = {"X-Token": get_credentials(source.conn_id).password or ""}
        params = {
            "m": "QueryData",
            "dbcode": DBCODES[dataset],
            "rowcode": "zb",
            "colcode": "sj",
            "wds": _dims(reg=source.code),
            "dfwds": _dims(sj=wire_period(period)),
            "k1": int(time.time() * 1000),
        }
        result = Extraction(source=source, dataset=dataset, period=period)
        page = fetch_page(
            result,
            partial(self._get, source, url, params, headers, f"{dataset} {source.code} {period}"),
            {"method": "GET", "url": url, "params": params},
        )
        result.records_claimed = page.total
        result.reconcile()
        return result
