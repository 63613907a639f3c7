"""Style ``nbs_easyquery``: the National Bureau of Statistics' easyquery API (no credentials).

One extraction of a (province, month) of industrial output: ``getTree`` on ``fsyd`` for each parent
group of the crosswalk (which of the crosswalk's indicator groups the provincial tree lists; a group
absent from it is logged and not asked for), then one ``QueryData`` per listed group. NBS gives no
record count: reconciliation checks that every cell asked for (each group's current-month and
year-to-date codes) is answered, published or not.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import ClassVar

import requests

from ibdc.errors import LayoutError, NotReleased
from ibdc.formats import nbs_easyquery as fmt
from ibdc.sources.adapters.base import Extraction, PageSink, ReconciliationError, SourceRefused, fetch_page
from ibdc.sources.http import build_session
from ibdc.sources.registry import ApiStyle, ProvinceSource

log = logging.getLogger(__name__)


class NbsEasyqueryAdapter:
    style: ClassVar[ApiStyle] = ApiStyle.NBS_EASYQUERY

    def __init__(self, session: requests.Session | None = None) -> None:
        self.session = session or build_session()

    def _get(self, url: str, params: dict) -> requests.Response:
        resp = self.session.get(url, params=params)
        if resp.status_code in (401, 403):  # the site's firewall refuses the client (outside mainland China)
            raise SourceRefused(f"NBS easyquery answered HTTP {resp.status_code} for GET {url} {params}")
        return resp

    def listed_groups(self, url: str, period: str) -> list[str]:
        """The crosswalk's groups valid for ``period`` that the provincial tree lists, in crosswalk order."""
        wanted = fmt.indicators_for(period)
        listed: set[str] = set()
        for parent in sorted({i.parent for i in wanted}):
            resp = self._get(url, fmt.tree_params(parent))
            resp.raise_for_status()
            listed.update(fmt.decode_tree(resp.content))
        absent = [i.group for i in wanted if i.group not in listed]
        if absent:
            log.warning("NBS fsyd tree lists no %s for %s: not asked for", absent, period)
        asked = [i.group for i in wanted if i.group in listed]
        if not asked:  # nothing to ask is a crosswalk that does not fit the portal, not a month to wait for
            raise LayoutError(
                f"NBS fsyd: no indicator group of the crosswalk valid for {period} is in the provincial tree "
                f"(crosswalk: {[i.group for i in wanted]}; tree: {sorted(listed)})"
            )
        return asked

    def extract(self, source: ProvinceSource, dataset: str, period: str, sink: PageSink | None = None) -> Extraction:
        if dataset != fmt.DATASET:
            raise SourceRefused(f"NBS easyquery publishes {fmt.DATASET} only, not {dataset!r}")
        url = f"{source.url}/easyquery.htm"
        result = Extraction(source=source, dataset=dataset, period=period, sink=sink)
        k1 = int(time.time() * 1000)
        for group in self.listed_groups(url, period):
            params = fmt.query_params(source.code, period, group, k1)
            page = fetch_page(result, partial(self._get, url, params), {"method": "GET", "url": url, "params": params})
            answered_for = set(
                zip(
                    page.table.column("province_code").to_pylist(), page.table.column("period").to_pylist(), strict=True
                )
            )
            if answered_for - {(source.code, period)}:
                raise LayoutError(
                    f"{dataset} {source.code} {period}: NBS answered for {sorted(answered_for)} (asked {group})"
                )
            asked = {group + "01", group + "02"}
            missing = sorted(asked - (page.answered or frozenset()))
            if missing:
                raise ReconciliationError(
                    f"{dataset} {source.code} {period}: NBS answered no cell for {missing} (asked {sorted(asked)})"
                )
        if not result.records_distinct:
            raise NotReleased(
                f"NBS easyquery: every cell asked for {dataset} {source.code} {period} is missing (hasdata false)"
            )
        result.records_claimed = result.records_distinct  # no count from NBS: the cells are reconciled
        result.reconcile()
        return result
