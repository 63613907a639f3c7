"""Style ``csv_download``: ``GET /p/<adcode>/download/<dataset>.csv?period=<period>`` behind HTTP basic
auth (user: the adcode, password: the client secret) serves the whole partition as one CSV file in the
portal's encoding (``portals.yaml``: ``gbk`` or ``gb18030``); see :mod:`ibdc.formats.csv_download`."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from starlette.concurrency import run_in_threadpool

from ibdc.formats import csv_download
from ibdc_dev.simulator import service

STYLE = "csv_download"
REALM = {"WWW-Authenticate": 'Basic realm="provincial statistics download", charset="UTF-8"'}

router = APIRouter()


def _check_basic(adcode: str, authorization: str | None) -> None:
    if not authorization or not authorization.startswith("Basic "):
        raise HTTPException(401, "basic authentication required", REALM)
    try:
        user, _, password = (
            base64.b64decode(authorization.removeprefix("Basic "), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPException(401, "malformed basic credentials", REALM) from None
    if user != adcode or not service.secret_matches(password):
        raise HTTPException(401, "invalid user or password", REALM)


def _file(dataset: str, adcode: str, period: str, encoding: str) -> bytes:
    def encode(table):
        return csv_download.encode(service.schema(dataset), table, encoding, service.claimed(table, dataset, adcode))

    return service.page_body(STYLE, dataset, adcode, period, (encoding,), encode)


@router.get("/p/{adcode}/download/{dataset}.csv")
async def download(adcode: str, dataset: str, period: str, authorization: Annotated[str | None, Header()] = None):
    options = service.portal(adcode, STYLE)
    _check_basic(adcode, authorization)
    service.schema(dataset)
    encoding = options.get("encoding", "gbk")
    # A province-day of telemetry is millions of rows: encode off the event loop.
    body = await run_in_threadpool(_file, dataset, adcode, period, encoding)
    headers = {"Content-Disposition": f'attachment; filename="{adcode}_{dataset}_{period}.csv"'}
    return await service.respond(dataset, adcode, body, f"text/csv; charset={encoding}", headers)
