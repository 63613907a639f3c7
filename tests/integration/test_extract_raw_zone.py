"""Extract over HTTP into the raw zone of the S3 endpoint, through the minio SDK."""

import hashlib
import json
from datetime import UTC, datetime
from unittest import mock

import pytest
import requests

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client, put_bytes
from ibdc.sources.adapters import adapter_for
from ibdc.sources.registry import load_registry

pytestmark = pytest.mark.integration


def test_partition_holds_the_bytes_as_served_with_a_manifest(services):
    pipeline.extract_partition("industrial_output", "370000", "2025-06")
    mc = client()
    assert mc.get_bucket_versioning(services.raw_bucket).status == "Enabled"
    manifest = raw_zone.read_manifest("industrial_output", "370000", "2025-06")
    pages = raw_zone.read_pages(manifest)
    assert (
        manifest["records_claimed"] == manifest["records_received"] == sum(len(json.loads(p)["items"]) for p in pages)
    )
    assert manifest["bytes"] == sum(len(p) for p in pages)
    for obj, body in zip(manifest["objects"], pages, strict=True):
        assert obj["key"].startswith("industrial_output/province=370000/period=2025-06/extract=")
        assert hashlib.sha256(body).hexdigest() == obj["sha256"]
        stat = mc.stat_object(services.raw_bucket, obj["key"])
        assert stat.metadata["x-amz-meta-sha256"] == obj["sha256"]
    # Byte-for-byte what the source serves for the same request.
    token = requests.post(
        f"{services.sources_url}/p/370000/oauth/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": "370000",
            "client_secret": services.simulator_client_secret,
        },
    ).json()["access_token"]
    first = manifest["objects"][0]["request"]
    served = requests.get(
        first["url"], params=first["params"], headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert served.content == pages[0]


def test_re_extracting_replaces_the_partition(services):
    first = pipeline.extract_partition("industrial_output", "510000", "2025-07")
    old = raw_zone.read_manifest("industrial_output", "510000", "2025-07")
    pipeline.extract_partition("industrial_output", "510000", "2025-07")
    new = raw_zone.read_manifest("industrial_output", "510000", "2025-07")
    assert new["extract_id"] != old["extract_id"]
    keys = [
        o.object_name
        for o in client().list_objects(
            services.raw_bucket, prefix="industrial_output/province=510000/period=2025-07/", recursive=True
        )
    ]
    assert sorted(keys) == sorted([o["key"] for o in new["objects"]] + [first["manifest_key"]])


def test_a_tampered_object_fails_the_checksum(services):
    pipeline.extract_partition("industrial_output", "610000", "2025-07")
    manifest = raw_zone.read_manifest("industrial_output", "610000", "2025-07")
    obj = manifest["objects"][0]
    written = put_bytes(client(), services.raw_bucket, obj["key"], b'{"items": []}', "application/json")
    manifest["objects"][0]["version_id"] = written.version_id
    with pytest.raises(raw_zone.ChecksumMismatch, match=obj["key"]):
        raw_zone.read_pages(manifest)


def test_a_writer_never_deletes_a_later_writers_pages_nor_commits_over_it(services):
    """Two extractions of one partition at once (a backfill over a scheduled run): the one that started
    writing first finishes last; it neither deletes the other's pages nor commits over its manifest, and
    the partition is the later extraction, whole."""
    dataset, province, period = "industrial_output", "610000", "2025-08"
    source = load_registry()[province]
    mc = client()
    started_first = adapter_for(source.style).extract(source, dataset, period)
    later = raw_zone.write_partition(adapter_for(source.style).extract(source, dataset, period))
    # A writer that started after `later` and has written its pages, not yet its manifest.
    in_flight = raw_zone.partition_prefix(dataset, province, period) + "extract=99991231T000000-x/page-0001.json"
    put_bytes(mc, services.raw_bucket, in_flight, b"{}", "application/json")
    with mock.patch.object(raw_zone, "datetime", wraps=raw_zone.datetime) as clock:  # started before `later`
        clock.now.return_value = datetime(2000, 1, 1, tzinfo=UTC)
        kept = raw_zone.write_partition(started_first)
    prefix = raw_zone.partition_prefix(dataset, province, period)
    names = {o.object_name for o in mc.list_objects(services.raw_bucket, prefix=prefix, recursive=True)}
    assert kept["extract_id"] == later["extract_id"] == raw_zone.read_manifest(dataset, province, period)["extract_id"]
    assert in_flight in names  # not deleted by a writer that started before it
    assert {o["key"] for o in later["objects"]} <= names  # nor the committed later extraction's pages
    assert not any("extract=2000" in n for n in names)  # the dropped extraction's own pages are gone
    assert len(raw_zone.read_pages(later)) == len(later["objects"]) > 0


def test_a_bucket_without_versioning_is_refused(services):
    mc = client()
    bucket = "ibdc-raw-test-unversioned"
    if not mc.bucket_exists(bucket):
        mc.make_bucket(bucket)
    source = load_registry()["610000"]
    extraction = adapter_for(source.style).extract(source, "industrial_output", "2025-09")
    with pytest.raises(raw_zone.VersioningOff, match=bucket):
        raw_zone.write_partition(extraction, mc, bucket)
    assert not list(mc.list_objects(bucket, recursive=True))


def test_a_reader_during_a_re_extraction_sees_the_previous_partition_whole(services, monkeypatch):
    """Between the new extraction's first page and its manifest, a reader gets the previous extraction
    (its manifest and every one of its pages, checksums verified), never a mix."""
    dataset, province, period = "industrial_output", "320000", "2025-10"
    monkeypatch.setitem(load_registry()[province].page_sizes, dataset, 5)  # a few pages
    pipeline.extract_partition(dataset, province, period)
    before = raw_zone.read_manifest(dataset, province, period)
    assert len(before["objects"]) > 1
    seen = []
    real_put = raw_zone.put_bytes

    def put_then_read(mc, bucket, key, body, content_type, metadata=None):
        written = real_put(mc, bucket, key, body, content_type, metadata)
        if not key.endswith(raw_zone.MANIFEST):  # a page of the new extraction is in; its manifest is not
            current = raw_zone.read_manifest(dataset, province, period)
            seen.append((current["extract_id"], [hashlib.sha256(b).hexdigest() for b in raw_zone.read_pages(current)]))
        return written

    monkeypatch.setattr(raw_zone, "put_bytes", put_then_read)
    pipeline.extract_partition(dataset, province, period)
    after = raw_zone.read_manifest(dataset, province, period)
    assert after["extract_id"] != before["extract_id"]
    assert len(seen) == len(after["objects"]) > 1  # read after each page of the new extraction
    previous = (before["extract_id"], [o["sha256"] for o in before["objects"]])
    assert all(reading == previous for reading in seen)
