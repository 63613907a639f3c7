"""Style ``signed_gateway``: ``POST /p/<adcode>/gateway``, one signed form for every query.

Form fields ``app_id`` (the province's code), ``timestamp`` (ms), ``method``
(``ibdc.data.<dataset>.query``), ``period``, ``page_no`` (1-based), ``page_size`` and ``sign`` (see
:mod:`ibdc.formats.signed_gateway`). A refused request is HTTP 200 with an inner code other than
``0000``: ``1001`` bad signature, ``1002`` timestamp missing or more than five minutes off,
``1003`` unknown app_id, ``2001`` unknown method, ``2002`` bad parameter.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, Response

from ibdc.formats import signed_gateway as fmt
from ibdc_dev.simulator import service

STYLE = "signed_gateway"
MAX_PAGE = 5000
MAX_SKEW_MS = 5 * 60 * 1000

BAD_SIGN = "1001"
BAD_TIMESTAMP = "1002"
UNKNOWN_APP = "1003"
UNKNOWN_METHOD = "2001"
BAD_PARAMETER = "2002"
REFUSALS = (BAD_SIGN, BAD_TIMESTAMP, UNKNOWN_APP, UNKNOWN_METHOD, BAD_PARAMETER)

router = APIRouter()


def _refuse(code: str, message: str) -> Response:
    return Response(fmt.encode_error(code, message), 200, media_type=fmt.MEDIA_TYPE)


def _dataset(method: str) -> str | None:
    return service.known_dataset(fmt.dataset_of(method))


@router.post("/p/{adcode}/gateway")
async def gateway(adcode: str, request: Request):
    service.portal(adcode, STYLE)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    missing = [k for k in ("app_id", "timestamp", "method", "sign") if not form.get(k)]
    if missing:
        return _refuse(BAD_PARAMETER, f"missing parameters: {missing}")
    if form["app_id"] != adcode:
        return _refuse(UNKNOWN_APP, f"unknown app_id {form['app_id']!r}")
    if not fmt.verify(form, service.secret()):
        return _refuse(BAD_SIGN, "invalid sign")
    try:
        skew = abs(int(form["timestamp"]) - int(time.time() * 1000))
    except ValueError:
        return _refuse(BAD_TIMESTAMP, "timestamp must be Unix time in milliseconds")
    if skew > MAX_SKEW_MS:
        return _refuse(BAD_TIMESTAMP, f"timestamp {skew // 1000} s off the gateway's clock (at most 300 s)")
    dataset = _dataset(form["method"])
    if dataset is None:
        return _refuse(UNKNOWN_METHOD, f"unknown method {form['method']!r}")
    page_no, page_size = form.get("page_no", "1"), form.get("page_size", "20")
    counts = service.is_count(page_no) and service.is_count(page_size)
    if not (counts and int(page_no) >= 1 and 1 <= int(page_size) <= MAX_PAGE):
        return _refuse(BAD_PARAMETER, f"page_no must be >= 1 and page_size 1..{MAX_PAGE}")
    number, size = int(page_no), int(page_size)

    def encode(table):
        served = service.page(table, dataset, adcode, (number - 1) * size, size)
        return fmt.encode(service.schema(dataset), served, service.claimed(table, dataset, adcode))

    # The body holds no timestamp nor signature (those are checked on the request above): one
    # page's body is the same at every request, and kept.
    try:
        body = service.page_body(STYLE, dataset, adcode, form.get("period", ""), (number, size), encode)
    except HTTPException as exc:  # an invalid period
        return _refuse(BAD_PARAMETER, f"invalid period: {exc.detail}")
    return await service.respond(dataset, adcode, body, fmt.MEDIA_TYPE)
