"""dbt docs: generated on every transform run, published to the docs bucket, and served from there
(inside the Airflow UI by the ``ibdc`` plugin, and standalone by ``make docs``). Each run also checks
the freshness of the raw sources against their cadence's thresholds (``sources.json``, published
beside the docs; a stale source is logged as a warning, and does not stop the docs)."""

from __future__ import annotations

import logging
import mimetypes

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from minio.error import S3Error

from ibdc.landing.object_store import client, get_bytes, put_bytes
from ibdc.settings import get_settings
from ibdc.transform.dbt import DBT_TARGET_DIR, run_dbt

DOCS_FILES = {
    "index.html": "text/html",
    "manifest.json": "application/json",
    "catalog.json": "application/json",
    "sources.json": "application/json",
}
DOCS_PREFIX = "dbt-docs/latest/"
log = logging.getLogger("ibdc.transform.docs")


def check_freshness() -> dict[str, str]:
    """``dbt source freshness`` over the raw sources: source -> pass, warn, error (or runtime error)."""
    results = run_dbt("source", "freshness", check=False).results
    statuses = {r.node.unique_id.removeprefix("source.ibdc."): str(r.status) for r in results}
    for source, status in sorted(statuses.items()):
        if status != "pass":
            log.warning(
                "source %s is not fresh: %s (thresholds: dbt_project/models/staging/_provincial__sources.yml)",
                source,
                status,
            )
    return statuses


def generate_and_publish() -> list[str]:
    check_freshness()
    run_dbt("docs", "generate")
    mc = client()
    bucket = get_settings().docs_bucket
    keys = []
    for name, content_type in DOCS_FILES.items():
        key = DOCS_PREFIX + name
        put_bytes(mc, bucket, key, (DBT_TARGET_DIR / name).read_bytes(), content_type)
        keys.append(f"s3://{bucket}/{key}")
    return keys


def published() -> bool:
    try:
        client().stat_object(get_settings().docs_bucket, DOCS_PREFIX + "index.html")
    except S3Error:
        return False
    return True


docs_app = FastAPI(title="IBDC dbt docs", docs_url=None, redoc_url=None, openapi_url=None)


@docs_app.get("/")
def _index() -> Response:
    return _file("index.html")


@docs_app.get("/{name}")
def _file(name: str) -> Response:
    if name not in DOCS_FILES:
        raise HTTPException(404, f"{name} is not part of the dbt docs")
    try:
        body = get_bytes(client(), get_settings().docs_bucket, DOCS_PREFIX + name)
    except S3Error as exc:
        raise HTTPException(404, "no dbt docs published yet: run the ibdc_transform_dbt DAG") from exc
    return Response(body, media_type=mimetypes.guess_type(name)[0] or DOCS_FILES[name])
