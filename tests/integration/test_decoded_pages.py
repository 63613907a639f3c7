"""The decoded pages an extraction stores beside its pages (``ibdc.landing.decoded``), against the
simulator, the S3 server and PostgreSQL: a load that takes them loads exactly what a load decoding the
pages loads -- rows, rejects with their raw text and reason, repeats, records the decoder could not
read -- fetching only the pages that hold a reject; csv_download's page, a file decoded a block at a
time, is stored decoded in parts; a load whose decoders differ decodes the pages; a decoded object
that is not the manifest's fails the load as a page would."""

from __future__ import annotations

import tempfile

import pytest

from ibdc import pipeline
from ibdc.formats import csv_download, decoder_fingerprint, format_for
from ibdc.formats.base import DecodeError
from ibdc.landing import decoded, raw_zone
from ibdc.landing.manifest import Partition
from ibdc.landing.object_store import put_bytes
from ibdc.landing.raw_zone import ChecksumMismatch, PartitionWriter
from ibdc.schemas import SCHEMAS
from ibdc.sources.adapters.base import Extraction, RawPage
from ibdc.sources.registry import ApiStyle, source_for
from tests.integration.style_truth import PROVINCE_OF_STYLE, forbid_decoding_at_load, malformed_fault, set_page_size

DATASET = "industrial_output"
BY_STYLE = dict(PROVINCE_OF_STYLE)  # one province of each style
PAGED = (ApiStyle.REST_JSON, ApiStyle.APP_KEY, ApiStyle.SIGNED_GATEWAY, ApiStyle.JSONP)
# NBS answers only the months its crosswalk has indicators for (not the fresh partitions' years): a month of its own.
NBS_PERIOD = "2022-05"
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=DATASET, provinces=[BY_STYLE[ApiStyle.NBS_EASYQUERY]], periods=[NBS_PERIOD]),
]


def _partition(province: str, period: str) -> Partition:
    return Partition(dataset=DATASET, province_code=province, period=period)


def _loaded(warehouse, province: str, period: str) -> tuple[list, list]:
    """The partition's rows (lineage but the batch and load time) and quarantine, in order."""
    rows = warehouse.execute(
        "SELECT to_jsonb(t) - 'batch_id' - 'loaded_at' FROM raw.industrial_output t"
        " WHERE province_code = %s AND period_month = to_date(%s, 'YYYY-MM') ORDER BY product_code",
        (province, period),
    ).fetchall()
    quarantined = warehouse.execute(
        "SELECT source_object, record_position, raw_text, reason FROM raw.quarantine"
        " WHERE dataset = %s AND province_code = %s AND period = %s ORDER BY record_position",
        (DATASET, province, period),
    ).fetchall()
    return rows, quarantined


class _PagesRead:
    """Counts the raw pages a load reads (streamed, or whole for a reject's raw text)."""

    def __init__(self, monkeypatch) -> None:
        self.streamed: list[int] = []
        self.whole: list[int] = []
        read_page_to, read_page = raw_zone.read_page_to, raw_zone.read_page

        def streamed(manifest, index, *args, **kwargs):
            self.streamed.append(index)
            return read_page_to(manifest, index, *args, **kwargs)

        def whole(manifest, index, *args, **kwargs):
            self.whole.append(index)
            return read_page(manifest, index, *args, **kwargs)

        monkeypatch.setattr(raw_zone, "read_page_to", streamed)
        monkeypatch.setattr(raw_zone, "read_page", whole)


@pytest.mark.parametrize("style", list(BY_STYLE), ids=str)
def test_a_load_of_the_decoded_pages_equals_a_load_decoding_the_pages(
    style, services, source_faults, truth, warehouse, fresh_partitions, monkeypatch
):
    province = BY_STYLE[style]
    period = NBS_PERIOD if style is ApiStyle.NBS_EASYQUERY else fresh_partitions.month
    records = len(truth(province, period)["expected"])
    faults = [malformed_fault(DATASET, province, records)]
    if style in PAGED:
        set_page_size(monkeypatch, province, DATASET, records)
        faults.append({"dataset": DATASET, "province": province, "kind": "duplicate_rows"})
    file_page = style is ApiStyle.CSV_DOWNLOAD  # a page read from a file (a province-day's, in parts:
    # tests/integration/test_csv_download_scale.py; a month of products is read whole, one part)
    source_faults(faults)
    pipeline.extract_partition(DATASET, province, period)
    manifest = raw_zone.read_manifest(_partition(province, period))
    assert manifest.decoded is not None and manifest.decoded.decoder == decoder_fingerprint()
    assert manifest.decoded.records == manifest.records_received == sum(o.records for o in manifest.objects)
    assert manifest.decoded.key.startswith(f"{manifest.partition.prefix}extract={manifest.extract_id}/")
    if style in PAGED:
        assert len(manifest.objects) >= 3 and manifest.duplicates
    if file_page:
        assert len(manifest.objects) == 1
        with tempfile.TemporaryFile() as fh:
            raw_zone.read_decoded_to(manifest, fh)
            fh.seek(0)
            parts = list(decoded.read_parts(manifest, fh))
        assert [(p.page, p.first_index, p.table.num_rows) for p in parts] == [(0, 0, manifest.records_received)]

    read = _PagesRead(monkeypatch)
    with monkeypatch.context() as patched:
        forbid_decoding_at_load(patched)
        from_decoded = pipeline.load_partition_from_raw(DATASET, province, period)
    taken = _loaded(warehouse, province, period)
    rows, quarantined = taken
    assert quarantined and rows
    holding_rejects = {k for k, o in enumerate(manifest.objects) if any(q[0] == o.key for q in quarantined)}
    if file_page:  # a reject's raw text read from the file, streamed once, decoded a block at a time
        assert read.streamed == [0] and read.whole == []
    else:  # no page streamed: the decoded pages were taken
        assert read.streamed == []
        assert set(read.whole) == holding_rejects and len(read.whole) == len(holding_rejects)

    # The same load by decoders of another version: every page decoded again, the same partition.
    monkeypatch.setattr(decoded, "decoder_fingerprint", lambda: "another version")
    read.streamed.clear()
    from_pages = pipeline.load_partition_from_raw(DATASET, province, period)
    assert read.streamed == list(range(len(manifest.objects)))
    assert (from_pages.rows_in, from_pages.rows_loaded, from_pages.rows_quarantined) == (
        from_decoded.rows_in,
        from_decoded.rows_loaded,
        from_decoded.rows_quarantined,
    )
    assert _loaded(warehouse, province, period) == taken


def test_records_the_decoder_could_not_read_are_quarantined_alike_from_the_decoded_pages(
    services, warehouse, fresh_partitions, monkeypatch
):
    """A record holding a key twice (a decoder's fault, ``DecodedPage.faults``) is stored with its
    reason in the decoded pages and quarantined with its text as served, as from the page itself."""
    province, period = BY_STYLE[ApiStyle.REST_JSON], fresh_partitions.month
    pipeline.extract_partition(DATASET, province, period)
    served = raw_zone.read_manifest(_partition(province, period))
    body = raw_zone.read_page(served, 0)
    assert b'"items":[{' in body
    body = body.replace(b'"items":[{', b'"items":[{"unit":"t","unit":"kg",', 1)  # the first record: a key twice
    fmt, schema = format_for(ApiStyle.REST_JSON), SCHEMAS[DATASET]
    page = fmt.decode(schema, body)
    assert list(page.faults) == [0]
    source = source_for(province, DATASET)
    with PartitionWriter(_partition(province, period)) as writer:
        extraction = Extraction(source, DATASET, period, sink=writer)
        extraction.add_page(RawPage(body, "application/json", {"page": 1}, page.num_records), page)
        extraction.records_claimed = page.num_records
        manifest = writer.commit(extraction)
    assert manifest.decoded is not None

    pipeline.load_partition_from_raw(DATASET, province, period)
    taken = _loaded(warehouse, province, period)
    assert [(q[1], q[2][:40]) for q in taken[1]] == [(0, page.raw_text(0)[:40])]
    assert "not readable as served" in taken[1][0][3] and "unit" in taken[1][0][3]
    monkeypatch.setattr(decoded, "decoder_fingerprint", lambda: "another version")
    pipeline.load_partition_from_raw(DATASET, province, period)
    assert _loaded(warehouse, province, period) == taken


def test_a_decoded_object_that_is_not_the_manifests_fails_the_load_and_changes_nothing(
    services, s3_admin, warehouse, fresh_partitions
):
    province, period = BY_STYLE[ApiStyle.APP_KEY], fresh_partitions.month
    pipeline.extract_partition(DATASET, province, period)
    pipeline.load_partition_from_raw(DATASET, province, period)
    before = _loaded(warehouse, province, period)
    manifest = raw_zone.read_manifest(_partition(province, period))
    wrong = manifest.model_copy(update={"decoded": manifest.decoded.model_copy(update={"sha256": "0" * 64})})
    put_bytes(
        s3_admin,
        services.raw_bucket,
        manifest.partition.manifest_key,
        wrong.model_dump_json().encode(),
        "application/json",
    )
    with pytest.raises(ChecksumMismatch, match="decoded.arrows"):
        pipeline.load_partition_from_raw(DATASET, province, period)
    assert _loaded(warehouse, province, period) == before
    (outcome,) = warehouse.execute(
        "SELECT outcome FROM raw.load_audit WHERE dataset = %s AND province_code = %s AND period = %s"
        " ORDER BY started_at DESC LIMIT 1",
        (DATASET, province, period),
    ).fetchone()
    assert outcome == "failed"


def test_a_file_page_found_corrupt_at_its_end_keeps_the_parts_of_the_answer_fetched_again(
    services, warehouse, fresh_partitions, monkeypatch
):
    """csv_download's file is decoded a block at a time at the extraction: when its end fails (the file
    cut short, fetched again), the parts kept of the first answer are discarded, not taken for the page
    fetched again: the decoded pages hold the second answer's records once, and the load takes them."""
    province, period = PROVINCE_OF_STYLE[ApiStyle.CSV_DOWNLOAD], fresh_partitions.month
    assert source_for(province, DATASET).style == ApiStyle.CSV_DOWNLOAD
    chunks, answers = csv_download.decode_chunks, []

    def cut_short_once(schema, fh, *args):
        answers.append(fh)
        yield from chunks(schema, fh, *args)  # every part kept, then the first answer found cut short
        if len(answers) == 1:
            raise DecodeError("the file ends inside a record (cut short)")

    monkeypatch.setattr(csv_download, "decode_chunks", cut_short_once)
    pipeline.extract_partition(DATASET, province, period)
    assert len(answers) == 2  # fetched again once
    monkeypatch.setattr(csv_download, "decode_chunks", chunks)
    manifest = raw_zone.read_manifest(_partition(province, period))
    assert len(manifest.objects) == 1 and manifest.decoded is not None
    assert manifest.decoded.records == manifest.objects[0].records == manifest.records_received
    forbid_decoding_at_load(monkeypatch)
    assert pipeline.load_partition_from_raw(DATASET, province, period).rows_loaded == manifest.records_distinct


def test_failing_to_keep_the_decoded_pages_never_fails_the_extraction(services, fresh_partitions, monkeypatch):
    """The decoded pages are derived: a page that cannot be kept (a full temporary disk, say) leaves the
    manifest naming none, and the load decodes the pages; decoders without a fingerprint (an install
    without the package's files) store none either."""
    province, period = BY_STYLE[ApiStyle.JSONP], fresh_partitions.month

    def full_disk(self, index, page):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(decoded.DecodedPagesWriter, "add", full_disk)
        assert pipeline.extract_partition(DATASET, province, period)["status"] == "extracted"
    manifest = raw_zone.read_manifest(_partition(province, period))
    assert manifest.decoded is None and manifest.objects
    assert pipeline.load_partition_from_raw(DATASET, province, period).rows_loaded == manifest.records_distinct

    monkeypatch.setattr(decoded, "decoder_fingerprint", lambda: None)
    pipeline.extract_partition(DATASET, province, period)
    again = raw_zone.read_manifest(_partition(province, period))
    assert again.extract_id != manifest.extract_id and again.decoded is None
