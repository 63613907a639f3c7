"""The stages of one partition, as the DAG tasks, the CLI and the tests call them."""

from __future__ import annotations

import logging

from ibdc.datasets import DATASETS
from ibdc.landing import raw_zone
from ibdc.loading.postgres import LoadResult, load_partition, record_failed_load
from ibdc.periods import parse_period
from ibdc.settings import get_settings
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import load_registry

log = logging.getLogger(__name__)


def extract_partition(dataset: str, province: str, period: str) -> dict:
    """Source over HTTP -> raw zone. Returns a summary of the committed manifest."""
    parse_period(period)
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
    """Raw zone -> parse -> PostgreSQL. Replays from the stored bytes; never calls the source."""
    spec = DATASETS[dataset]
    settings = get_settings()
    key = raw_zone.manifest_key(dataset, province, period)
    try:
        raw = raw_zone.read_partition(dataset, province, period)
    except raw_zone.ChecksumMismatch as exc:
        record_failed_load(settings.warehouse, spec, province, period, key, exc, checksum_verified=False)
        raise
    parsed = spec.parse(raw.manifest, raw.pages)
    result = load_partition(
        settings.warehouse,
        spec,
        province,
        period,
        parsed,
        manifest_key=key,
        manifest_version=raw.manifest.get("extract_id"),
        max_quarantine_share=settings.quarantine_max_share,
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
