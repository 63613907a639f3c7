"""Finding records served more than once in one extraction, in memory that does not grow with it.

Per record, two digests are kept (Python's ``hash``, SipHash keyed at random per process: a source
cannot aim at a collision), on disk in two private temporary files: 64 bits of its key and 32 of
the whole record (12 bytes a record: 14 MB at 1.2 million), never the records. A Bloom filter of
the key digests (:data:`FILTER_BITS`: 8 MiB, fixed) flags, as a page is added, each record whose
key *may* have been served before (wrongly about 0.13% of them at 1.2 million records); only those
keep their key's values, in memory. When the repeats are asked for, the files are read back a block
at a time, the flagged digests looked up among all the others (Arrow, column-wise), and a flagged
record whose key digest occurs at an earlier position is a repeat. Two distinct keys with one digest
(odds about n**2 / 2**65: 4e-8 at 1.2 million records, different in every process) would be taken
for a repeat; a repeat that differs from its first, for an identical one with odds 2**-32."""

from __future__ import annotations

import bisect
import json
import tempfile
from array import array
from collections.abc import Collection
from operator import itemgetter

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.schemas import RecordSchema

FILTER_BITS = 1 << 26  # 8 MiB, two bits a key: flags about 0.13% of the records wrongly at 1.2 million
CHUNK_ROWS = 8192  # records of a page turned into Python values at a time
BLOCK_ROWS = 1 << 17  # key digests read back at a time (1 MiB)
ROW_DIGEST_MASK = 0xFFFFFFFF


class RepeatIndex:
    """The records added so far, page by page, in the order served.

    :meth:`add` takes each page's canonical table (the schema's fields, in order) as it arrives;
    :meth:`repeats` gives the records whose key was served before (earlier on the same page or on
    an earlier page), each as the manifest lists a duplicate: ``{"page": int, "index": int, "key":
    [str | None, ...], "first": [page, index], "identical": bool}``, in the order served. A missing
    key value is a value: two records with the same missing key have the same key. :meth:`close`
    (or collection) deletes its files."""

    def __init__(self, schema: RecordSchema) -> None:
        self.schema = schema
        self._key_of = itemgetter(*(schema.names.index(k) for k in schema.key))
        self._single_key = len(schema.key) == 1
        self._bits = bytearray(FILTER_BITS // 8)
        # Closed (and deleted) by close(), or when the index is collected: it outlives any one call.
        self._keys = tempfile.TemporaryFile(prefix="ibdc-repeats-")  # noqa: SIM115 -- int64 key digests, in order
        self._rows = tempfile.TemporaryFile(prefix="ibdc-repeats-")  # noqa: SIM115 -- uint32 record digests
        self._count = 0  # records added
        self._starts: list[int] = []  # each page's first position
        # The records whose key may have been served before: positions, key digests, and their keys'
        # values as JSON text one after the other (contiguous buffers: no Python object a record).
        self._flagged = array("q")
        self._flagged_digests = array("q")
        self._flagged_keys = bytearray()
        self._flagged_ends = array("q")
        self._found: list[dict] | None = []

    def close(self) -> None:
        self._keys.close()
        self._rows.close()

    def add(self, page: int, table: pa.Table, unreadable: Collection[int] = ()) -> None:
        """Add page ``page`` (pages are added in order, from 0), :data:`CHUNK_ROWS` records at a
        time (a page holding a whole partition never becomes Python values all at once). A page read
        in parts is added part by part: the last page added again continues it. ``unreadable``: the
        indices (in ``table``) of records the decoder could not read (``DecodedPage.faults``, their
        values all missing): each is a record of its own, never a repeat nor repeated (two of them
        would otherwise share the all-missing key)."""
        if page == len(self._starts):
            self._starts.append(self._count)
        elif page != len(self._starts) - 1:
            raise ValueError(f"page {page} added after {len(self._starts)} pages")
        unreadable = set(unreadable)
        for start in range(0, table.num_rows, CHUNK_ROWS):
            part = table.slice(start, CHUNK_ROWS)
            self._digest(part, {i - start for i in unreadable if start <= i < start + part.num_rows})
        if self._flagged:
            self._found = None

    def _digest(self, part: pa.Table, unreadable: set[int]) -> None:
        """Append the key and record digests of ``part`` (the next records served), flagging the
        records whose key may have been served before; an unreadable record's key digest is one of
        its own (its position's), left out of the filter."""
        rows = list(zip(*(part.column(name).to_pylist() for name in self.schema.names), strict=True))
        keys = list(map(self._key_of, rows))
        key_digests = list(map(hash, keys))
        for index in unreadable:
            key_digests[index] = hash(("unreadable record", self._count + index))
        bits, mask = self._bits, FILTER_BITS - 1
        for index, digest in enumerate(key_digests):
            if index in unreadable:
                continue
            at, at2 = digest & mask, (digest >> 32) & mask  # a Bloom filter of two bits a key
            byte, bit, byte2, bit2 = at >> 3, 1 << (at & 7), at2 >> 3, 1 << (at2 & 7)
            seen = bits[byte] & bit and bits[byte2] & bit2
            bits[byte] |= bit
            bits[byte2] |= bit2
            if seen:
                key = keys[index]
                self._flagged.append(self._count + index)
                self._flagged_digests.append(digest)
                self._flagged_keys += json.dumps([key] if self._single_key else key, ensure_ascii=False).encode()
                self._flagged_ends.append(len(self._flagged_keys))
        array("q", key_digests).tofile(self._keys)
        array("I", (hash(row) & ROW_DIGEST_MASK for row in rows)).tofile(self._rows)
        self._count += len(rows)

    def repeats(self) -> list[dict]:
        if self._found is None:
            self._found = self._locate()
        return self._found

    def _flagged_key(self, n: int) -> list:
        start = self._flagged_ends[n - 1] if n else 0
        return json.loads(self._flagged_keys[start : self._flagged_ends[n]])

    def _matches(self, maybe: pa.Array) -> list[tuple[int, int]]:
        """(position, key digest) of every record whose key digest is in ``maybe``, in order."""
        self._keys.flush()
        self._keys.seek(0)
        found, offset = [], 0
        while block := self._keys.read(BLOCK_ROWS * 8):
            digests = pa.Array.from_buffers(pa.int64(), len(block) // 8, [None, pa.py_buffer(block)])
            at = pc.indices_nonzero(pc.is_in(digests, value_set=maybe))
            found.extend(zip((offset + i for i in at.to_pylist()), digests.take(at).to_pylist(), strict=True))
            offset += len(digests)
        self._keys.seek(0, 2)
        return found

    def _row_digest(self, position: int) -> int:
        self._rows.flush()
        self._rows.seek(position * 4)
        (digest,) = array("I", self._rows.read(4))
        self._rows.seek(0, 2)
        return digest

    def _locate(self) -> list[dict]:
        maybe = pa.array(sorted(set(self._flagged_digests)), pa.int64())
        flagged = {position: n for n, position in enumerate(self._flagged)}
        first_of: dict[int, tuple[int, int, int]] = {}
        found = []
        for position, key in self._matches(maybe):
            page = bisect.bisect_right(self._starts, position) - 1
            index = position - self._starts[page]
            row = self._row_digest(position)
            first = first_of.setdefault(key, (page, index, row))
            if first[:2] != (page, index):
                found.append(
                    {
                        "page": page,
                        "index": index,
                        "key": self._flagged_key(flagged[position]),
                        "first": [first[0], first[1]],
                        "identical": first[2] == row,
                    }
                )
        return found
