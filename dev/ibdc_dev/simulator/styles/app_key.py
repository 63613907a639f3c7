"""Style ``app_key``: ``GET /p/<adcode>/openapi/v2/resource?appKey=&resId=&period=&page=&rows=``.

``appKey`` is the client secret, ``resId`` the dataset name base64-encoded, ``page`` 1-based and
``rows`` the page size. Every answer is HTTP 200 with a code in the body (see
:mod:`ibdc.formats.app_key`): ``00000`` data; ``10004`` rate-limited (the ``rate_limited`` fault: this
portal family says so in the body, not with a 429); ``9201`` no data (a month not released yet: the
``not_released`` fault or the release calendar); refusals ``10001`` bad appKey, ``20001`` unknown
resource, ``30001`` bad parameter. The registry's envelope for these portals must agree (a test).
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from ibdc.formats import app_key
from ibdc_dev.simulator import service
from ibdc_dev.simulator.faults import Fault

STYLE = "app_key"
MAX_ROWS = 5000

RATE_LIMITED = "10004"
NO_DATA = "9201"
BAD_APP_KEY = "10001"
UNKNOWN_RESOURCE = "20001"
BAD_PARAMETER = "30001"
REFUSALS = (BAD_APP_KEY, UNKNOWN_RESOURCE, BAD_PARAMETER)
RATE_LIMITED_MSG = "调用频率超过限制，请稍后再试"
NO_DATA_MSG = "查询结果为空"

router = APIRouter()


def _refuse(code: str, msg: str) -> Response:
    return Response(app_key.encode_error(code, msg), 200, media_type=app_key.MEDIA_TYPE)


def _rate_limited(fault: Fault) -> Response:
    return _refuse(RATE_LIMITED, RATE_LIMITED_MSG)


def _dataset(res_id: str | None) -> str | None:
    if not res_id:
        return None
    try:
        name = base64.b64decode(res_id, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return service.known_dataset(name)


@router.get("/p/{adcode}/openapi/v2/resource")
async def resource(
    adcode: str,
    key: Annotated[str | None, Query(alias="appKey")] = None,
    res_id: Annotated[str | None, Query(alias="resId")] = None,
    period: str | None = None,
    page: str = "1",
    rows: str = "20",
):
    service.portal(adcode, STYLE)
    if not service.secret_matches(key):
        return _refuse(BAD_APP_KEY, "invalid appKey")
    dataset = _dataset(res_id)
    if dataset is None:
        return _refuse(UNKNOWN_RESOURCE, f"resource not found: {res_id!r}")
    if not (service.is_count(page) and service.is_count(rows) and int(page) >= 1 and 1 <= int(rows) <= MAX_ROWS):
        return _refuse(BAD_PARAMETER, f"page must be >= 1 and rows 1..{MAX_ROWS}")
    period = period or ""
    try:
        service.check_period(dataset, period)
    except HTTPException as exc:  # an invalid period
        return _refuse(BAD_PARAMETER, f"invalid period: {exc.detail}")
    if not service.released(dataset, adcode, period):
        body = app_key.encode_error(NO_DATA, NO_DATA_MSG)
    else:
        number, size = int(page), int(rows)

        def encode(table):
            served = service.page(table, dataset, adcode, (number - 1) * size, size)
            return app_key.encode(service.schema(dataset), served, service.claimed(table, dataset, adcode), number)

        body = service.page_body(STYLE, dataset, adcode, period, (number, size), encode)
    return await service.respond(dataset, adcode, body, app_key.MEDIA_TYPE, rate_limited=_rate_limited)
