"""Style ``nbs_easyquery``: ``GET /p/<adcode>/easyquery.htm?m=QueryData&dbcode=&rowcode=zb&colcode=sj
&wds=[{"wdcode":"reg","valuecode":"<adcode>"}]&dfwds=[{"wdcode":"sj","valuecode":"<yyyymm|yyyymmdd>"}]
&k1=<ms>`` with the client secret in the ``X-Token`` header; the whole partition in one JSON answer
(see :mod:`ibdc.formats.nbs_easyquery`). A query the portal cannot answer gets HTTP 200 with
``{"returncode": 501, "returndata": "<why>"}``, as NBS does."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Response

from ibdc.formats import nbs_easyquery
from ibdc.reference import provinces
from ibdc.simulator import service

STYLE = "nbs_easyquery"

router = APIRouter()


def _refused(message: str) -> Response:
    return Response(nbs_easyquery.error_body(message), 200, media_type="application/json")


def _dimensions(name: str, raw: str) -> dict[str, str]:
    """``[{"wdcode": "reg", "valuecode": "140000"}]`` -> ``{"reg": "140000"}``."""
    try:
        items = json.loads(raw)
        dims = [(i["wdcode"], i["valuecode"]) for i in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{name} must be a JSON list of {{wdcode, valuecode}}: {raw!r}") from exc
    if not all(isinstance(v, str) for d in dims for v in d) or len({d for d, _ in dims}) != len(dims):
        raise ValueError(f"{name}: each wdcode once, values as strings: {raw!r}")
    return dict(dims)


@router.get("/p/{adcode}/easyquery.htm")
async def query(
    adcode: str,
    m: str = "",
    dbcode: str = "",
    rowcode: str = "",
    colcode: str = "",
    wds: str = "[]",
    dfwds: str = "[]",
    k1: int | None = None,  # the client's cache buster (milliseconds); any value
    x_token: Annotated[str | None, Header()] = None,
):
    service.portal(adcode, STYLE)
    if not service.secret_matches(x_token):
        raise HTTPException(401, "invalid or missing token")
    if m != "QueryData":
        return _refused(f"unsupported m={m!r}")
    dataset = nbs_easyquery.dataset_of(dbcode)
    if dataset is None:
        return _refused(f"unknown dbcode {dbcode!r}; known: {sorted(nbs_easyquery.DBCODES.values())}")
    if (rowcode, colcode) != ("zb", "sj"):
        return _refused("rowcode must be zb and colcode sj")
    try:
        dims = _dimensions("wds", wds)
        fixed = _dimensions("dfwds", dfwds)
    except ValueError as exc:
        return _refused(str(exc))
    if set(dims) & set(fixed) or set(dims) | set(fixed) != {"reg", "sj"}:
        return _refused("query by reg (the portal's province) and sj (one period), each once")
    dims.update(fixed)
    if dims["reg"] != adcode:
        return _refused(f"this portal publishes region {adcode} only, not {dims['reg']!r}")
    schema = service.schema(dataset)
    try:
        period = service.check_period(dataset, nbs_easyquery.canonical_period(dims["sj"], schema.cadence))
    except (ValueError, HTTPException) as exc:
        return _refused(str(getattr(exc, "detail", exc)))
    table = service.served_table(dataset, adcode, period)
    body = nbs_easyquery.encode(
        schema, table, adcode, period, provinces()[adcode].name_zh, service.claimed(table, dataset, adcode)
    )
    return await service.respond(dataset, adcode, body, "application/json")
