"""Style ``jsonp``: ``GET /p/<adcode>/jsonp/<dataset>.do?callback=&pageNo=&pageSize=&period=&token=``
(``pageNo`` from 1; ``token`` is the client secret), answered as ``application/javascript``:
``<callback>({"totalCount": N, "pageNo": p, "pageSize": n, "list": [...]});``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from ibdc.formats import jsonp
from ibdc_dev.simulator import service

STYLE = "jsonp"
MAX_PAGE = 5000

router = APIRouter()


@router.get("/p/{adcode}/jsonp/{dataset}.do")
async def records(
    adcode: str,
    dataset: str,
    period: str,
    callback: str,
    page_no: Annotated[int, Query(alias="pageNo", ge=1)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE)] = 20,
    token: str | None = None,
):
    service.portal(adcode, STYLE)
    if not service.secret_matches(token):
        raise HTTPException(401, "invalid or missing token")
    if not jsonp.CALLBACK.fullmatch(callback):
        # Reflecting an arbitrary callback would let any page run script in the portal's origin.
        raise HTTPException(400, "callback must be a JavaScript identifier (letters, digits, _ and $)")
    schema = service.schema(dataset)

    def encode(table):
        page = service.page(table, dataset, adcode, (page_no - 1) * page_size, page_size)
        return jsonp.encode(schema, page, service.claimed(table, dataset, adcode), page_no, page_size, callback)

    body = service.page_body(STYLE, dataset, adcode, period, (page_no, page_size, callback), encode)
    return await service.respond(dataset, adcode, body, "application/javascript")
