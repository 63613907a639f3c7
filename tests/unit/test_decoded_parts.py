"""The decoded pages' object (``ibdc.landing.decoded``) holds a page decoded in parts (csv_download's
file, a block at a time) as consecutive batches, and reads back the parts of each page by the records
the manifest lists for it; batches that do not make up the manifest's pages fail the load as a
mismatch, never shift records from one page to another."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pyarrow as pa
import pytest

from ibdc.formats import DecodedPage
from ibdc.landing import decoded


def _page(values: list[str | None], faults: dict[int, str] | None = None) -> DecodedPage:
    return DecodedPage(table=pa.table({"v": pa.array(values, pa.string())}), raw_text=str, faults=faults or {})


def _stored(monkeypatch, added: list[tuple[int, DecodedPage]]) -> tuple[bytes, int]:
    """The object the writer stores for ``added`` (index, page or part), and its page count."""
    monkeypatch.setattr(decoded, "decoder_fingerprint", lambda: "this version")
    kept = {}

    def put_file(mc, bucket, key, fh, size, content_type):
        kept["bytes"] = fh.read(size)
        return SimpleNamespace(version_id="v1")

    monkeypatch.setattr(decoded, "put_file", put_file)
    writer = decoded.DecodedPagesWriter()
    try:
        for index, page in added:
            writer.add(index, page)
        assert writer.store(None, "bucket", "folder/") is not None
        return kept["bytes"], writer.pages
    finally:
        writer.close()


def _manifest(*records: int) -> SimpleNamespace:
    """What read_parts reads of a manifest: its pages' record counts and the decoded object's key."""
    return SimpleNamespace(
        objects=[SimpleNamespace(records=n) for n in records], decoded=SimpleNamespace(key="decoded.arrows")
    )


def _read(body: bytes, manifest) -> list[tuple[int, int, list, dict]]:
    return [
        (p.page, p.first_index, p.table.column("v").to_pylist(), dict(p.faults))
        for p in decoded.read_parts(manifest, io.BytesIO(body))
    ]


def test_a_page_in_parts_reads_back_part_by_part_beside_whole_pages(monkeypatch):
    added = [
        (0, _page(["a", "b"])),
        (1, _page(["c", None], {1: "key twice"})),  # a file page: three parts, one of no record
        (1, _page([])),
        (1, _page(["d"], {0: "NaN is not a JSON number"})),
        (2, _page([])),  # a page of no record
        (3, _page(["e"])),
    ]
    body, pages = _stored(monkeypatch, added)
    assert pages == 4
    assert _read(body, _manifest(2, 3, 0, 1)) == [
        (0, 0, ["a", "b"], {}),
        (1, 0, ["c", None], {1: "key twice"}),
        (1, 2, ["d"], {0: "NaN is not a JSON number"}),
        (2, 0, [], {}),
        (3, 0, ["e"], {}),
    ]


def test_a_page_in_parts_may_begin_with_a_part_of_no_record(monkeypatch):
    body, _ = _stored(monkeypatch, [(0, _page([])), (0, _page(["a"])), (1, _page(["b"]))])
    assert _read(body, _manifest(1, 1)) == [(0, 0, [], {}), (0, 0, ["a"], {}), (1, 0, ["b"], {})]


@pytest.mark.parametrize(
    "listed",
    [
        (1, 3),  # a batch across two pages of the manifest
        (2, 3),  # a page's last part taken for the next page's first
        (3,),  # more batches than the manifest's pages
        (3, 1, 1),  # fewer
        (3, 2, 0),  # a page of no record listed where none was stored
    ],
    ids=["across", "shifted", "more", "fewer", "empty-missing"],
)
def test_batches_that_do_not_make_up_the_manifests_pages_are_a_mismatch(monkeypatch, listed):
    body, _ = _stored(monkeypatch, [(0, _page(["a", "b"])), (0, _page(["c"])), (1, _page(["d", "e"]))])
    assert _read(body, _manifest(3, 2)) == [(0, 0, ["a", "b"], {}), (0, 2, ["c"], {}), (1, 0, ["d", "e"], {})]
    with pytest.raises(decoded.DecodedPagesMismatch):
        _read(body, _manifest(*listed))


def test_pages_are_added_in_order():
    """The same index again continues the last page; any other but the next is refused."""
    writer = decoded.DecodedPagesWriter()
    try:
        writer.add(0, _page(["a"]))
        writer.add(0, _page(["b"]))
        with pytest.raises(ValueError, match="added after"):
            writer.add(2, _page(["c"]))
        writer.add(1, _page(["c"]))
        with pytest.raises(ValueError, match="added after"):
            writer.add(0, _page(["d"]))
        assert (writer.pages, writer.records) == (2, 3)
    finally:
        writer.close()


class _FilePageFormat:
    """A style whose page is a file decoded a block (here: two lines) at a time; counts its passes."""

    def __init__(self) -> None:
        self.passes = 0

    def decode_chunks(self, schema, fh):
        self.passes += 1
        lines = fh.read().decode().splitlines()
        for start in range(0, len(lines), 2):
            block = lines[start : start + 2]
            yield DecodedPage(table=pa.table({"v": block}), raw_text=block.__getitem__)


def _raw_text(monkeypatch, fmt, served: bytes):
    from ibdc import pipeline
    from ibdc.landing import raw_zone

    streamed = []

    def read_page_to(manifest, index, fh, mc=None):
        streamed.append(index)
        fh.write(served)

    monkeypatch.setattr(raw_zone, "read_page_to", read_page_to)
    return pipeline._RawTextOfPage(fmt, None, _manifest(5), 0, None), streamed


def test_a_file_pages_raw_text_is_read_a_block_at_a_time_forward(monkeypatch):
    fmt = _FilePageFormat()
    raw, streamed = _raw_text(monkeypatch, fmt, b"r0\nr1\nr2\nr3\nr4\n")
    with raw:
        third_part = raw.of_part(4)  # the page's records 4..: the third block
        assert (raw(1), raw(0), raw(3), raw.of_part(2)(0), third_part(0)) == ("r1", "r0", "r3", "r2", "r4")
        assert (streamed, fmt.passes) == ([0], 1)  # the file streamed once, decoded once, forward
        assert raw(0) == "r0"  # asked again after later blocks: the file decoded again from its start
        assert fmt.passes == 2
        with pytest.raises(decoded.DecodedPagesMismatch, match="no record 5"):
            raw(5)
        held = raw._file
    assert held.closed and streamed == [0]


def test_a_batch_naming_no_page_is_a_mismatch():
    batch = pa.record_batch({"v": pa.array(["a"]), decoded.FAULT: pa.nulls(1, pa.string())})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)  # no page in its metadata (a stream not written by DecodedPagesWriter)
    with pytest.raises(decoded.DecodedPagesMismatch, match="names no page"):
        _read(sink.getvalue(), _manifest(1))
