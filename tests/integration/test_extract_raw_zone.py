"""Extract over HTTP into the raw zone of the S3 endpoint, through the minio SDK."""

import hashlib
import json
import threading
from datetime import UTC, datetime
from unittest import mock

import pytest
import requests

from ibdc import pipeline
from ibdc.errors import kind_of
from ibdc.landing import raw_zone
from ibdc.landing.manifest import Manifest, Partition
from ibdc.landing.object_store import client, put_bytes
from ibdc.settings import get_settings
from ibdc.sources.adapters import adapter_for
from ibdc.sources.adapters.base import PartitionDeadlineExceeded, ReconciliationError
from ibdc.sources.registry import load_registry
from tests.manifests import stored_pages
from tests.partitions import Claim

OUTPUT = "industrial_output"
# Tests that need no particular period write telemetry of a day of their own month (fresh_partitions).
TELEMETRY = "equipment_telemetry"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(
        Claim(OUTPUT, ["320000"], ["2025-10"]),
        Claim(OUTPUT, ["370000"], ["2025-06", "2018-06", "2018-07"]),
        Claim(OUTPUT, ["440000"], ["2018-03"]),
        Claim(OUTPUT, ["510000"], ["2018-08"]),
        Claim(OUTPUT, ["610000"], ["2025-08", "2025-09", "2018-05"]),
        Claim(OUTPUT, ["650000"], ["2018-09"]),
        Claim("enterprises", ["370000"], ["2018-04"]),
    ),
]


def test_partition_holds_the_bytes_as_served_with_a_manifest(services):
    pipeline.extract_partition("industrial_output", "370000", "2025-06")
    mc = client()
    assert mc.get_bucket_versioning(services.raw_bucket).status == "Enabled"
    manifest = raw_zone.read_manifest(Partition(dataset="industrial_output", province_code="370000", period="2025-06"))
    pages = stored_pages(manifest)
    assert manifest.records_claimed == manifest.records_received == sum(len(json.loads(p)["items"]) for p in pages)
    assert manifest.bytes == sum(len(p) for p in pages)
    for obj, body in zip(manifest.objects, pages, strict=True):
        assert obj.key.startswith("industrial_output/province=370000/period=2025-06/extract=")
        assert hashlib.sha256(body).hexdigest() == obj.sha256
        stat = mc.stat_object(services.raw_bucket, obj.key)
        assert stat.metadata["x-amz-meta-sha256"] == obj.sha256
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
    first = manifest.objects[0].request
    served = requests.get(
        first["url"], params=first["params"], headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert served.content == pages[0]


def test_re_extracting_replaces_the_partition(services, fresh_partitions):
    partition = Partition(dataset=TELEMETRY, province_code="510000", period=fresh_partitions.day(7))
    first = pipeline.extract_partition(TELEMETRY, partition.province_code, partition.period)
    old = raw_zone.read_manifest(partition)
    pipeline.extract_partition(TELEMETRY, partition.province_code, partition.period)
    new = raw_zone.read_manifest(partition)
    assert new.extract_id != old.extract_id
    keys = [o.object_name for o in client().list_objects(services.raw_bucket, prefix=partition.prefix, recursive=True)]
    assert sorted(keys) == sorted([*new.object_keys, first["manifest_key"]])


def test_a_tampered_object_fails_the_checksum(services, fresh_partitions):
    pipeline.extract_partition(TELEMETRY, "610000", fresh_partitions.day(7))
    manifest = raw_zone.read_manifest(
        Partition(dataset=TELEMETRY, province_code="610000", period=fresh_partitions.day(7))
    )
    obj = manifest.objects[0]
    written = put_bytes(client(), services.raw_bucket, obj.key, b'{"items": []}', "application/json")
    tampered = manifest.model_copy(update={"objects": [obj.model_copy(update={"version_id": written.version_id})]})
    with pytest.raises(raw_zone.ChecksumMismatch, match=obj.key):
        raw_zone.read_page(tampered, 0)


def test_a_writer_never_deletes_a_later_writers_pages_nor_commits_over_it(services):
    """Two extractions of one partition at once (a backfill over a scheduled run): the one that started
    writing first finishes last; it neither deletes the other's pages nor commits over its manifest, and
    the partition is the later extraction, whole."""
    dataset, province, period = "industrial_output", "610000", "2025-08"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    source = load_registry()[province]
    mc = client()
    started_first = adapter_for(source.style).extract(source, dataset, period)
    later = raw_zone.write_partition(adapter_for(source.style).extract(source, dataset, period))
    # A writer that started after `later` and has written its pages, not yet its manifest.
    in_flight = partition.prefix + "extract=99991231T000000-x/page-0001.json"
    put_bytes(mc, services.raw_bucket, in_flight, b"{}", "application/json")
    with mock.patch.object(raw_zone, "datetime", wraps=raw_zone.datetime) as clock:  # started before `later`
        clock.now.return_value = datetime(2000, 1, 1, tzinfo=UTC)
        kept = raw_zone.write_partition(started_first)
    prefix = partition.prefix
    names = {o.object_name for o in mc.list_objects(services.raw_bucket, prefix=prefix, recursive=True)}
    assert kept.extract_id == later.extract_id == raw_zone.read_manifest(partition).extract_id
    assert in_flight in names  # not deleted by a writer that started before it
    assert {o.key for o in later.objects} <= names  # nor the committed later extraction's pages
    assert not any("extract=2000" in n for n in names)  # the dropped extraction's own pages are gone
    assert len(stored_pages(later)) == len(later.objects) > 0


def test_a_bucket_without_versioning_is_refused(services, s3_admin):
    mc = client()
    bucket = "ibdc-raw-test-unversioned"
    if not s3_admin.bucket_exists(bucket):
        s3_admin.make_bucket(bucket)
    source = load_registry()["610000"]
    extraction = adapter_for(source.style).extract(source, "industrial_output", "2025-09")
    with pytest.raises(raw_zone.VersioningOff, match=bucket):
        raw_zone.write_partition(extraction, mc, bucket)
    assert not list(mc.list_objects(bucket, recursive=True))


def test_a_reader_during_a_re_extraction_sees_the_previous_partition_whole(services, monkeypatch):
    """Between the new extraction's first page and its manifest, a reader gets the previous extraction
    (its manifest and every one of its pages, checksums verified), never a mix."""
    dataset, province, period = "industrial_output", "320000", "2025-10"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    monkeypatch.setitem(load_registry()[province].page_sizes, dataset, 5)  # a few pages
    pipeline.extract_partition(dataset, province, period)
    before = raw_zone.read_manifest(partition)
    assert len(before.objects) > 1
    seen = []
    real_put = raw_zone.put_bytes

    def put_then_read(mc, bucket, key, body, content_type, metadata=None):
        written = real_put(mc, bucket, key, body, content_type, metadata)
        if key != partition.manifest_key:  # a page of the new extraction is in; its manifest is not
            current = raw_zone.read_manifest(partition)
            seen.append((current.extract_id, [hashlib.sha256(b).hexdigest() for b in stored_pages(current)]))
        return written

    monkeypatch.setattr(raw_zone, "put_bytes", put_then_read)
    pipeline.extract_partition(dataset, province, period)
    after = raw_zone.read_manifest(partition)
    assert after.extract_id != before.extract_id
    assert len(seen) == len(after.objects) > 1  # read after each page of the new extraction
    previous = (before.extract_id, [o.sha256 for o in before.objects])
    assert all(reading == previous for reading in seen)


def _names(mc, bucket: str, prefix: str) -> set[str]:
    return {o.object_name for o in mc.list_objects(bucket, prefix=prefix, recursive=True)}


def test_pages_go_to_the_raw_zone_as_they_arrive_and_a_failed_extraction_leaves_none(
    services, source_faults, monkeypatch
):
    """Each page is written as soon as it is fetched (its bytes are not kept until the end); an
    extraction that fails after its pages were written (here: the source claims more records than it
    serves) deletes them, and the partition stays the previous extraction."""
    dataset, province, period = "industrial_output", "440000", "2018-03"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    monkeypatch.setitem(load_registry()[province].page_sizes, dataset, 5)  # a few pages
    pipeline.extract_partition(dataset, province, period)
    before = raw_zone.read_manifest(partition)
    source_faults([{"dataset": dataset, "province": province, "kind": "overcount", "extra": 3}])
    written, real_put = [], raw_zone.put_bytes

    def put(mc, bucket, key, body, content_type, metadata=None):
        written.append(key)
        return real_put(mc, bucket, key, body, content_type, metadata)

    monkeypatch.setattr(raw_zone, "put_bytes", put)
    with pytest.raises(ReconciliationError):
        pipeline.extract_partition(dataset, province, period)
    assert len(written) == len(before.objects) > 1  # every page written before reconciliation failed
    prefix = partition.prefix
    assert _names(client(), services.raw_bucket, prefix) == {*before.object_keys, partition.manifest_key}
    assert raw_zone.read_manifest(partition).extract_id == before.extract_id


def test_a_streamed_extraction_holds_stored_pages_not_their_bytes(services):
    dataset, province, period = "enterprises", "370000", "2018-04"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    source = load_registry()[province]
    with raw_zone.PartitionWriter(partition) as writer:
        extraction = adapter_for(source.style).extract(source, dataset, period, sink=writer)
        assert extraction.pages and not any(p.body for p in extraction.pages)  # the bytes went to the store
        prefix = partition.prefix
        stored = writer.flush()
        assert [p.records for p in stored] == [p.records for p in extraction.pages]
        assert _names(client(), services.raw_bucket, prefix + f"extract={writer.extract_id}/") == {
            p.key for p in stored
        }  # written, not committed yet
        manifest = writer.commit(extraction)
    assert [o.key for o in manifest.objects] == [p.key for p in stored]
    assert raw_zone.read_manifest(partition).extract_id == writer.extract_id
    assert sum(len(json.loads(b)["items"]) for b in stored_pages(manifest)) == manifest.records_received


def test_an_extraction_past_the_partition_deadline_stops_with_nothing_committed(services, source_faults, monkeypatch):
    """A source answering its first page after 2 s, a partition deadline of 1 s: the next page is
    never asked for; the extraction fails as transient, naming the partition, its pages deleted."""
    dataset, province, period = "industrial_output", "610000", "2018-05"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    monkeypatch.setitem(load_registry()[province].page_sizes, dataset, 5)
    pipeline.extract_partition(dataset, province, period)
    before = raw_zone.read_manifest(partition)
    source_faults([{"dataset": dataset, "province": province, "kind": "slow", "seconds": 2, "times": 1}])
    monkeypatch.setattr(get_settings(), "partition_deadline_s", 1.0)
    with pytest.raises(PartitionDeadlineExceeded, match=f"{dataset} {province} {period}.*deadline") as failed:
        pipeline.extract_partition(dataset, province, period)
    assert kind_of(failed.value) == "transient"
    assert "after 1 pages" in str(failed.value)
    prefix = partition.prefix
    assert _names(client(), services.raw_bucket, prefix) == {*before.object_keys, partition.manifest_key}
    assert raw_zone.read_manifest(partition).extract_id == before.extract_id


@pytest.mark.parametrize("committed_before", [False, True], ids=["first-manifest", "replacing-a-manifest"])
def test_two_writers_racing_leave_the_one_that_started_last(services, s3_admin, monkeypatch, committed_before):
    """Two extractions of one partition at once, over real S3: the older reads the manifest, the newer
    commits, then the older writes its manifest (the race a read-then-write loses). The conditional
    write refuses the older's manifest: the partition is the newer extraction, and no page of the
    older remains."""
    dataset, province, period = "industrial_output", "370000", f"2018-0{6 + committed_before}"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    source = load_registry()[province]
    mc = client()
    prefix = partition.prefix
    if committed_before:
        pipeline.extract_partition(dataset, province, period)
    else:  # a partition never committed (earlier runs of this test leave a manifest: delete every version)
        for o in mc.list_objects(services.raw_bucket, prefix=prefix, recursive=True, include_version=True):
            s3_admin.remove_object(services.raw_bucket, o.object_name, version_id=o.version_id)
    newer_committed = threading.Event()
    older_read = threading.Event()
    real_read = raw_zone._current_manifest

    def read_then_let_the_newer_commit(*args):
        found = real_read(*args)
        if threading.current_thread().name == "older" and not newer_committed.is_set():
            older_read.set()
            assert newer_committed.wait(60)
        return found

    monkeypatch.setattr(raw_zone, "_current_manifest", read_then_let_the_newer_commit)
    results: dict[str, Manifest] = {}
    older = raw_zone.PartitionWriter(partition)  # started first
    older_extraction = adapter_for(source.style).extract(source, dataset, period, sink=older)

    def commit_older():
        results["older"] = older.commit(older_extraction)

    thread = threading.Thread(target=commit_older, name="older")
    thread.start()
    assert older_read.wait(60)
    newer = raw_zone.PartitionWriter(partition)
    results["newer"] = newer.commit(adapter_for(source.style).extract(source, dataset, period, sink=newer))
    newer_committed.set()
    thread.join(60)
    assert older.extract_id < newer.extract_id
    committed = raw_zone.read_manifest(partition)
    assert committed.extract_id == newer.extract_id == results["older"].extract_id
    names = _names(mc, services.raw_bucket, prefix)
    assert not any(f"extract={older.extract_id}/" in n for n in names)
    assert {*committed.object_keys, partition.manifest_key} == names
    assert len(stored_pages(committed)) == len(committed.objects) > 0


def test_pages_of_an_extraction_killed_before_its_commit_are_deleted_by_the_next(services):
    """A worker killed mid-extraction leaves pages no manifest names; the next commit deletes them
    with the superseded extractions."""
    dataset, province, period = "industrial_output", "510000", "2018-08"
    partition = Partition(dataset=dataset, province_code=province, period=period)
    prefix = partition.prefix
    orphan = prefix + "extract=20000101T000000000000-dead0000/page-0001.json"
    put_bytes(client(), services.raw_bucket, orphan, b'{"items": []}', "application/json")
    pipeline.extract_partition(dataset, province, period)
    assert orphan not in _names(client(), services.raw_bucket, prefix)


def test_a_manifest_above_a_multipart_part_is_still_written_conditionally(services, s3_admin):
    """A manifest listing tens of thousands of repeated records passes 5 MiB (about 211 bytes a
    repeat): it is one conditional PUT all the same, and its condition still holds."""
    from ibdc.landing.object_store import get_bytes_and_etag, put_bytes_if

    mc = client()
    key = f"conditional-write-test/{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}/_manifest.json"
    body = json.dumps({"duplicates": ["x" * 200] * 30_000}).encode()
    assert len(body) > 5 * 1024 * 1024
    try:
        assert put_bytes_if(mc, services.raw_bucket, key, body, "application/json", None) is not None
        assert put_bytes_if(mc, services.raw_bucket, key, b"{}", "application/json", None) is None  # exists now
        stored, etag = get_bytes_and_etag(mc, services.raw_bucket, key)
        assert stored == body
        assert put_bytes_if(mc, services.raw_bucket, key, b"{}", "application/json", "0" * 32) is None  # stale
        assert put_bytes_if(mc, services.raw_bucket, key, b"{}", "application/json", etag) is not None
    finally:
        for version in mc.list_objects(services.raw_bucket, prefix=key, include_version=True):
            s3_admin.remove_object(services.raw_bucket, key, version_id=version.version_id)


def test_a_manifest_that_is_not_one_fails_as_permanent(services, fresh_partitions):
    """A truncated or edited manifest object: reading it again cannot help, so the load fails at once."""
    partition = Partition(dataset=TELEMETRY, province_code="620000", period=fresh_partitions.day(9))
    put_bytes(client(), services.raw_bucket, partition.manifest_key, b'{"dataset": "equipment_tel', "application/json")
    with pytest.raises(raw_zone.ManifestInvalid, match=partition.manifest_key) as failed:
        raw_zone.read_manifest(partition)
    assert kind_of(failed.value) == "permanent"


def test_concurrent_extractions_leave_the_partition_whole(services):
    """Four extractions of one partition at once (a backfill over a scheduled run, retried), their
    commits racing on one manifest: whichever is committed, every page it names reads back whole (by
    its version id, checksum checked) and the partition loads. The ordering among writers that commit
    at the same instant is the store's (SeaweedFS's ``If-Match`` is not atomic: README, raw zone)."""
    # A month of its own: a fresh month may be January, which the calendar publishes with February.
    partition = Partition(dataset=OUTPUT, province_code="650000", period="2018-09")
    start, outcomes = threading.Barrier(4), []

    def extract() -> None:
        start.wait()
        outcomes.append(pipeline.extract_partition(partition.dataset, partition.province_code, partition.period))

    threads = [threading.Thread(target=extract) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [o["status"] for o in outcomes] == ["extracted"] * 4, outcomes
    committed = raw_zone.read_manifest(partition)
    pages = [raw_zone.read_page(committed, n) for n in range(len(committed.objects))]
    assert len(pages) == len(committed.objects) > 0
    loaded = pipeline.load_partition_from_raw(partition.dataset, partition.province_code, partition.period)
    assert loaded.rows_in == committed.records_received > 0
