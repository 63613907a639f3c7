"""Extract over HTTP into the raw zone of the S3 endpoint, through the minio SDK."""

import hashlib
import json

import pytest
import requests

from ibdc import pipeline
from ibdc.landing import raw_zone
from ibdc.landing.object_store import client, put_bytes

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
