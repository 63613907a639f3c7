"""The simulated National Bureau of Statistics: ``GET /nbs/easyquery.htm``, as data.stats.gov.cn
answers (see :mod:`ibdc.formats.nbs_easyquery`): ``m=QueryData`` on ``dbcode=fsyd`` for one
indicator group of one province and month, ``m=getTree`` for the groups under a parent. No
credentials. A query with nothing to match answers HTTP 200 ``{"returncode": 501, ...}``; a month not
released yet answers every cell ``hasdata: false``, as NBS does. NBS publishes industrial output for
every province; the registry sends only some provinces' output here."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from ibdc.formats import nbs_easyquery as fmt
from ibdc.reference import provinces
from ibdc_dev.simulator import service

STYLE = "nbs_easyquery"

router = APIRouter()


def _no_data(message: str = "no data matched the query") -> Response:
    return Response(fmt.error_body(message), 200, media_type="application/json")


def _dimensions(raw: str) -> dict[str, str] | None:
    """``[{"wdcode": "reg", "valuecode": "140000"}]`` -> ``{"reg": "140000"}``; None if malformed."""
    try:
        dims = [(i["wdcode"], i["valuecode"]) for i in json.loads(raw)]
    except (ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(v, str) for d in dims for v in d) or len({d for d, _ in dims}) != len(dims):
        return None
    return dict(dims)


def tree(parent: str) -> dict[str, str]:
    """The provincial tree's groups under ``parent`` (the crosswalk's current vintage)."""
    return {i.group: i.nbs_name for i in fmt.nbs_indicators() if i.parent == parent and i.valid_to is None}


@router.get("/nbs/easyquery.htm")
async def easyquery(
    m: str = "",
    dbcode: str = "",
    rowcode: str = "",
    colcode: str = "",
    wds: str = "[]",
    dfwds: str = "[]",
    wdcode: str = "",
    id: str = "",  # noqa: A002 -- NBS's parameter name
    k1: int | None = None,  # the client's cache buster (milliseconds); any value
):
    if dbcode != fmt.DBCODE:
        return _no_data()
    if m == "getTree":
        body = fmt.encode_tree(id, tree(id)) if wdcode == "zb" else b"[]"
        return Response(body, 200, media_type="application/json")
    if m != "QueryData" or (rowcode, colcode) != ("zb", "sj"):
        return _no_data()
    fixed, selected = _dimensions(wds), _dimensions(dfwds)
    if fixed is None or selected is None or set(fixed) & set(selected):
        return _no_data()
    query = {**fixed, **selected}
    if set(query) != {"reg", "zb", "sj"} or query["reg"] not in provinces():
        return _no_data()
    try:
        period = fmt.canonical_period(query["sj"])
    except ValueError:
        return _no_data()
    if query["zb"] not in {i.group for i in fmt.indicators_for(period)}:
        return _no_data()
    region = query["reg"]
    table = service.served_table(fmt.DATASET, region, period)
    body = fmt.encode_answer(table, region, provinces()[region].name_zh, period, [query["zb"]])
    return await service.respond(fmt.DATASET, region, body, "application/json")
