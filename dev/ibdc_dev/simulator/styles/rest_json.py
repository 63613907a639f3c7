"""Style ``rest_json``: ``POST /p/<adcode>/oauth/token`` with client credentials, then
``GET /p/<adcode>/api/v1/<dataset>?period=&offset=&limit=`` with ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated

from fastapi import APIRouter, Form, Header, HTTPException, Query

from ibdc.formats import rest_json
from ibdc_dev.simulator import service

STYLE = "rest_json"
TOKEN_TTL_S = 3600
MAX_PAGE = 5000

router = APIRouter()


def _sign(province: str, expires: int) -> str:
    return hmac.new(service.secret(), f"{province}:{expires}".encode(), hashlib.sha256).hexdigest()


def _check_token(adcode: str, authorization: str | None) -> None:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "bearer token required")
    try:
        province, expires, sig = authorization.removeprefix("Bearer ").split(".")
        valid = province == adcode and int(expires) > time.time()
    except ValueError:
        valid = False
    if not valid or not hmac.compare_digest(sig, _sign(province, int(expires))):
        raise HTTPException(401, "invalid or expired token")


@router.post("/p/{adcode}/oauth/token")
def token(
    adcode: str,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
) -> dict:
    service.portal(adcode, STYLE)
    if grant_type != "client_credentials":
        raise HTTPException(400, "unsupported grant_type")
    if client_id != adcode or not service.secret_matches(client_secret):
        raise HTTPException(401, "invalid client credentials")
    expires = int(time.time()) + TOKEN_TTL_S
    return {
        "access_token": f"{adcode}.{expires}.{_sign(adcode, expires)}",
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_S,
    }


@router.get("/p/{adcode}/api/v1/{dataset}")
async def records(
    adcode: str,
    dataset: str,
    period: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    authorization: Annotated[str | None, Header()] = None,
):
    service.portal(adcode, STYLE)
    _check_token(adcode, authorization)
    schema = service.schema(dataset)

    def encode(table):
        page = service.page(table, dataset, adcode, offset, limit)
        return rest_json.encode(schema, page, service.claimed(table, dataset, adcode), offset, limit)

    body = service.page_body(STYLE, dataset, adcode, period, (offset, limit), encode)
    return await service.respond(dataset, adcode, body, "application/json")
