"""dbt docs: generated on every transform run and published to the docs bucket."""

from __future__ import annotations

from ibdc.landing.object_store import client, put_bytes
from ibdc.settings import get_settings
from ibdc.transform.dbt import DBT_TARGET_DIR, run_dbt

DOCS_FILES = {"index.html": "text/html", "manifest.json": "application/json", "catalog.json": "application/json"}
DOCS_PREFIX = "dbt-docs/latest/"


def generate_and_publish() -> list[str]:
    run_dbt("docs", "generate")
    mc = client()
    bucket = get_settings().docs_bucket
    keys = []
    for name, content_type in DOCS_FILES.items():
        key = DOCS_PREFIX + name
        put_bytes(mc, bucket, key, (DBT_TARGET_DIR / name).read_bytes(), content_type)
        keys.append(f"s3://{bucket}/{key}")
    return keys
