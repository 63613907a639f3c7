"""Manifests for tests that parse pages without a raw zone: one page, as ``PartitionWriter.commit``
would describe it (the counts and checksum are not read by parsing)."""

from __future__ import annotations

from datetime import UTC, datetime

from ibdc.landing import raw_zone
from ibdc.landing.manifest import Duplicate, Manifest, ManifestObject, Source


def manifest_of(
    dataset: str,
    province: str,
    period: str,
    style: str = "rest_json",
    key: str | None = None,
    version_id: str | None = "v1",
    duplicates: list[dict] | None = None,
) -> Manifest:
    """A committed manifest of one page (``key``, by default under the partition's prefix)."""
    page = ManifestObject(
        page=0,
        key=key or f"{dataset}/province={province}/period={period}/page-0001",
        version_id=version_id,
        sha256="",
        bytes=0,
        records=0,
        content_type="application/octet-stream",
        request={},
    )
    return Manifest(
        dataset=dataset,
        province_code=province,
        period=period,
        extract_id="20250101T000000000000-test",
        source=Source(style=style, url="http://source.test/"),
        extracted_at=datetime(2025, 1, 1, tzinfo=UTC),
        records_claimed=0,
        records_received=0,
        records_distinct=0,
        duplicates=[Duplicate.model_validate(d) for d in duplicates or []],
        bytes=0,
        objects=[page],
    )


def stored_pages(manifest: Manifest) -> list[bytes]:
    """The bytes of every page the manifest lists, in order, each verified against its sha256
    (:func:`~ibdc.landing.raw_zone.read_page`; :class:`~ibdc.landing.raw_zone.ChecksumMismatch`)."""
    return [raw_zone.read_page(manifest, i) for i in range(len(manifest.objects))]
