"""The raw zone's contracts: the partition's path from its declared fields, and the manifest stored
as its model's JSON, read back as it was written (older manifests included)."""

import json

from ibdc.landing.manifest import Manifest, Partition
from tests.manifests import manifest_of


def test_the_path_is_derived_from_the_partition_fields():
    partition = Partition(dataset="industrial_output", province_code="370000", period="2025-06")
    assert partition.prefix == "industrial_output/province=370000/period=2025-06/"
    assert partition.manifest_key == "industrial_output/province=370000/period=2025-06/_manifest.json"
    assert Partition.model_validate(partition.model_dump()) == partition  # its XCom form is JSON


def test_a_manifest_reads_back_as_written():
    manifest = manifest_of("equipment_telemetry", "110000", "2025-06-03", "csv_download")
    body = manifest.model_dump_json(indent=2)
    assert Manifest.model_validate_json(body) == manifest
    assert manifest.partition == Partition(dataset="equipment_telemetry", province_code="110000", period="2025-06-03")


def test_a_manifest_written_before_repeats_were_recorded_is_read():
    """The first manifests (no records_distinct, no duplicates, objects without their page number)."""
    written = {
        "dataset": "industrial_output",
        "province_code": "370000",
        "period": "2025-06",
        "extract_id": "20251125T201526-0a1b2c3d",
        "source": {"style": "rest_json", "url": "http://127.0.0.1:28090/p/370000"},
        "extracted_at": "2025-11-25T20:15:26.123456+00:00",
        "records_claimed": 2,
        "records_received": 2,
        "bytes": 10,
        "objects": [
            {
                "key": "industrial_output/province=370000/period=2025-06/extract=x/page-0001.json",
                "version_id": "v1",
                "sha256": "0" * 64,
                "bytes": 10,
                "records": 2,
                "content_type": "application/json",
                "request": {"url": "u", "params": {"page": 1}},
            }
        ],
    }
    manifest = Manifest.model_validate_json(json.dumps(written))
    assert (manifest.records_distinct, manifest.duplicates, manifest.objects[0].page) == (2, [], None)


def test_a_partition_planned_before_the_model_still_reads():
    """A retried extract task of a run planned by the previous version reads ``province``."""
    planned = {"dataset": "industrial_output", "province": "110000", "period": "2025-06"}
    partition = Partition.model_validate(planned)
    assert partition == Partition(dataset="industrial_output", province_code="110000", period="2025-06")
    assert partition.model_dump() == {"dataset": "industrial_output", "province_code": "110000", "period": "2025-06"}
