"""Style ``csv_download``: the whole partition as one CSV file (GBK / GB18030, or UTF-8 with a BOM)
behind HTTP basic auth; the record count the source claims is in the file's 合计 row (see
:mod:`ibdc.formats.csv_download`). A 合计 row without a ``(共N条)`` count claims none: its sums are
checked, and the records received are all the source holds."""

from __future__ import annotations

from typing import ClassVar

import requests

from ibdc.sources.adapters.base import Extraction, PageSink, fetch_page
from ibdc.sources.credentials import get_credentials
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource


class CsvDownloadAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.CSV_DOWNLOAD

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        creds = get_credentials(source.conn_id)
        auth = (creds.login or source.code, creds.password or "")
        url = f"{source.url}/download/{dataset}.csv"
        params = {"period": period}
        result = Extraction(source=source, dataset=dataset, period=period, sink=sink)
        page = fetch_page(
            result,
            lambda: self.session.get(url, params=params, auth=auth, stream=True),
            {"method": "GET", "url": url, "params": params},
            streamed=True,  # the whole partition in one file: never held whole
        )
        result.records_claimed = result.records_distinct if page.total is None else page.total
        result.reconcile()
        return result
