"""The simulator's HTTP service (FastAPI): each province under ``/p/<adcode>`` in its API style.

Style ``rest_json`` (paged REST JSON with a bearer token): ``POST /p/<adcode>/oauth/token`` with client
credentials, then ``GET /p/<adcode>/api/v1/industrial-output?period=&offset=&limit=`` returning
``{"total", "offset", "limit", "items"}``. ``/truth/...`` gives tests the ground truth.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, Form, Header, HTTPException, Query

from ibdc.periods import parse_period
from ibdc.reference import products, provinces
from ibdc.settings import get_settings
from ibdc.simulator.faults import MalformedKind, malformed_records
from ibdc.simulator.truth import OutputRecord, published_output

DATASET = "industrial_output"
TOKEN_TTL_S = 3600
MAX_PAGE = 100

app = FastAPI(title="IBDC provincial source simulator")


def _secret() -> bytes:
    secret = get_settings().simulator_client_secret
    if not secret:
        raise RuntimeError("IBDC_SIMULATOR_CLIENT_SECRET is not set")
    return secret.encode()


def _sign(province: str, expires: int) -> str:
    return hmac.new(_secret(), f"{province}:{expires}".encode(), hashlib.sha256).hexdigest()


def _check_province(adcode: str) -> None:
    if adcode not in provinces():
        raise HTTPException(404, f"no provincial source {adcode}")


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


def _period(period: str) -> str:
    try:
        parse_period(period)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return period


def _served_item(record: OutputRecord, fault: MalformedKind | None) -> dict:
    item = {
        "province_code": record.province_code,
        "period": record.period,
        "product_code": record.product_code,
        "product_name": products()[record.product_code].name_zh,
        "unit": record.unit_code,
        "current_month": float(record.current_month),
        "cumulative": float(record.cumulative),
    }
    if fault is MalformedKind.BAD_NUMBER:
        item["current_month"] = str(record.current_month).replace("0", "O", 1).replace(".", ",") + "x"
    elif fault is MalformedKind.NEGATIVE:
        item["current_month"] = -float(record.current_month)
    elif fault is MalformedKind.UNKNOWN_PRODUCT:
        item["product_code"] = f"{record.product_code}_v2"
    return item


def _served(adcode: str, period: str) -> list[tuple[OutputRecord, MalformedKind | None]]:
    settings = get_settings()
    faults = malformed_records(settings.simulator_faults, DATASET, adcode)
    return [(r, faults.get(r.product_code)) for r in published_output(settings.simulator_seed, adcode, period)]


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "provinces": len(provinces())}


@app.post("/p/{adcode}/oauth/token")
def token(
    adcode: str,
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str, Form()],
    client_secret: Annotated[str, Form()],
) -> dict:
    _check_province(adcode)
    if grant_type != "client_credentials":
        raise HTTPException(400, "unsupported grant_type")
    if client_id != adcode or not hmac.compare_digest(client_secret.encode(), _secret()):
        raise HTTPException(401, "invalid client credentials")
    expires = int(time.time()) + TOKEN_TTL_S
    return {
        "access_token": f"{adcode}.{expires}.{_sign(adcode, expires)}",
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_S,
    }


@app.get("/p/{adcode}/api/v1/industrial-output")
def industrial_output(
    adcode: str,
    period: str,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    authorization: Annotated[str | None, Header()] = None,
) -> dict:
    _check_province(adcode)
    _check_token(adcode, authorization)
    served = _served(adcode, _period(period))
    page = served[offset : offset + limit]
    return {"total": len(served), "offset": offset, "limit": limit, "items": [_served_item(r, f) for r, f in page]}


def _decimal_str(value: Decimal) -> str:
    return format(value, "f")


@app.get("/truth/industrial-output")
def truth(province: str, period: str) -> dict:
    """What a correct pipeline holds for the partition: the valid records and the malformed ones."""
    _check_province(province)
    served = _served(province, _period(period))
    expected = [
        {
            "province_code": r.province_code,
            "period": r.period,
            "product_code": r.product_code,
            "unit": r.unit_code,
            "current_month": _decimal_str(r.current_month),
            "cumulative": _decimal_str(r.cumulative),
        }
        for r, fault in served
        if fault is None
    ]
    malformed = [
        {"product_code": r.product_code, "kind": str(f), "position": i}
        for i, (r, f) in enumerate(served)
        if f is not None
    ]
    return {"province_code": province, "period": period, "expected": expected, "malformed": malformed}
