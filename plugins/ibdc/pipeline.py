"""The stages of one partition, as the DAG tasks, the CLI and the tests call them."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from ibdc.datasets import DATASETS
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client
from ibdc.loading.postgres import LoadResult, load_partition
from ibdc.periods import check_period
from ibdc.settings import get_settings
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import load_registry

log = logging.getLogger(__name__)


def extract_partition(dataset: str, province: str, period: str) -> dict:
    """Source over HTTP -> raw zone. Returns a summary of the committed manifest."""
    check_period(DATASETS[dataset].cadence, period)
    source = load_registry()[province]
    extraction = adapter_for(source.style).extract(source, dataset, period)
    manifest = raw_zone.write_partition(extraction)
    log.info(
        "extracted %s %s %s: %d records in %d objects (%d bytes)",
        dataset,
        province,
        period,
        manifest["records_received"],
        len(manifest["objects"]),
        manifest["bytes"],
    )
    return {
        "dataset": dataset,
        "province_code": province,
        "period": period,
        "manifest_key": raw_zone.manifest_key(dataset, province, period),
        "records": manifest["records_received"],
    }


def load_partition_from_raw(dataset: str, province: str, period: str) -> LoadResult:
    """Raw zone -> parse -> PostgreSQL. Replays from the stored bytes; never calls the source.

    The next page is fetched, checksum-verified and parsed in a background thread while the current
    one is being copied, so PostgreSQL's COPY and the platform's parsing use both cores.
    """
    spec = DATASETS[dataset]
    settings = get_settings()
    mc = client()
    manifest = raw_zone.read_manifest(dataset, province, period, mc)
    objects = manifest["objects"]

    def fetch_and_parse(i: int, first_position: int):
        body = raw_zone.read_page(manifest, i, mc)
        return spec.parse_page(manifest, objects[i], body, first_position)

    def pages():
        position = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ibdc-parse") as pool:
            ahead = pool.submit(fetch_and_parse, 0, 0) if objects else None
            for i in range(len(objects)):
                page = ahead.result()
                position += page.records_served
                ahead = pool.submit(fetch_and_parse, i + 1, position) if i + 1 < len(objects) else None
                yield page

    result = load_partition(
        settings.loader,
        spec,
        province,
        period,
        pages(),
        manifest_key=raw_zone.manifest_key(dataset, province, period),
        manifest_version=manifest.get("extract_id"),
        max_quarantine_share=spec.max_quarantine_share,
    )
    log.info(
        "loaded %s %s %s: %d in, %d loaded, %d quarantined (batch %s)",
        dataset,
        province,
        period,
        result.rows_in,
        result.rows_loaded,
        result.rows_quarantined,
        result.batch_id,
    )
    return result
