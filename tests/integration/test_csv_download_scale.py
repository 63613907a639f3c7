"""A csv_download province-day of 100,000 telemetry readings -- one file of about 7 MB, the whole
partition -- extracted over HTTP from a simulator of its own, decoded a block of the file at a time and
stored decoded in those parts, then loaded from them (issue 13, point 3; issue 20): exactly the
simulator's truth, malformed readings quarantined at their positions with their raw text (read from the
file a block at a time), and the answer's body never held whole (``Response.content`` is never read)."""

import tempfile

import pytest
import requests

from ibdc import pipeline
from ibdc.formats import csv_download
from ibdc.landing import decoded, raw_zone
from ibdc.sources.registry import load_registry
from ibdc_dev.bench.scale import simulator
from tests.integration.style_truth import check_partition, forbid_decoding_at_load, malformed_fault

DATASET, PROVINCE, DAY = "equipment_telemetry", "220000", "2026-09-29"
pytestmark = [pytest.mark.integration, pytest.mark.partitions(dataset=DATASET, provinces=[PROVINCE], periods=[DAY])]
DEVICES = 4167  # x 24 readings: 100,008
BLOCK = 1 << 20  # about 15,000 readings a block: 7 blocks


def test_a_province_day_file_is_extracted_and_loaded_a_block_at_a_time(services, warehouse, monkeypatch):
    with simulator(DEVICES) as (url, _):
        source = load_registry()[PROVINCE]
        assert str(source.style) == "csv_download"
        source = source.model_copy(update={"base_url": f"{url}/p/{{code}}"})
        admin = {"X-Admin-Secret": services.simulator_client_secret}
        fault = malformed_fault(DATASET, PROVINCE, DEVICES * 24)
        requests.post(f"{url}/admin/faults", json=[fault], headers=admin, timeout=10).raise_for_status()
        truth = requests.get(f"{url}/truth/{DATASET}", params={"province": PROVINCE, "period": DAY}, timeout=120).json()
        assert len(truth["expected"]) + len(truth["malformed"]) == DEVICES * 24 and truth["malformed"]

        parts = []
        chunks = csv_download.decode_chunks

        def counted(*args, **kwargs):
            for part in chunks(*args, **kwargs):
                parts.append(part.num_records)
                yield part

        monkeypatch.setattr(csv_download, "BLOCK_BYTES", BLOCK)
        monkeypatch.setattr(csv_download, "decode_chunks", counted)
        with monkeypatch.context() as m:

            def unread(self):
                raise AssertionError("the csv_download answer's body was read whole (Response.content)")

            m.setattr(requests.Response, "content", property(unread))
            summary = pipeline.extract_partition(DATASET, PROVINCE, DAY, source=source)
        assert summary["status"] == "extracted" and summary["records"] == DEVICES * 24
        assert len(parts) >= 5 and max(parts) < 20_000 and sum(parts) == DEVICES * 24
        extracted, parts[:] = list(parts), []

        forbid_decoding_at_load(monkeypatch)
        load = pipeline.load_partition_from_raw(DATASET, PROVINCE, DAY, accept_fewer_records=True)
    checked = check_partition(warehouse, truth, load)
    assert len(checked.manifest.objects) == 1 and checked.manifest.bytes > 5_000_000
    # The load took the parts the extraction stored decoded, a batch each (memory bounded by a block),
    # and read the malformed readings' raw text from the file, a block at a time (decoded forward).
    assert checked.manifest.decoded is not None
    with tempfile.TemporaryFile() as fh:
        raw_zone.read_decoded_to(checked.manifest, fh)
        fh.seek(0)
        stored = [(p.page, p.first_index, p.table.num_rows) for p in decoded.read_parts(checked.manifest, fh)]
    kept = extracted[:1] + [n for n in extracted[1:] if n]  # a later part of no record adds no batch
    assert stored == [(0, sum(kept[:k]), n) for k, n in enumerate(kept)]
    assert parts and all(n < 20_000 for n in parts)
