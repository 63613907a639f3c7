"""Finding records served more than once in one extraction, in memory that barely grows with it.

Per record, two 64-bit digests are kept (Python's ``hash``, SipHash keyed at random per process: a
source cannot aim at a collision): one of its key, one of the whole record; 16 bytes a record (19 MB
at 1.2 million), never the records. A fixed bitmap of key digests (:data:`FILTER_BITS`) flags, as a
page is added, each record whose key *may* have been served before; only those keep their key's
values. When the repeats are asked for, the flagged digests are looked up among all the others
(Arrow, column-wise) and a flagged record whose key digest occurs at an earlier position is a
repeat. Two distinct keys with one digest (odds about n**2 / 2**65: 4e-8 at 1.2 million records,
different in every process) would be taken for a repeat."""

from __future__ import annotations

import bisect
import itertools
from operator import itemgetter

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.schemas import RecordSchema

FILTER_BITS = 1 << 26  # 8 MiB; flags about 1.8% of the records wrongly at 1.2 million, checked exactly later
CHUNK_ROWS = 8192  # records of a page turned into Python values at a time


class RepeatIndex:
    """The records added so far, page by page, in the order served.

    :meth:`add` takes each page's canonical table (the schema's fields, in order) as it arrives;
    :meth:`repeats` gives the records whose key was served before (earlier on the same page or on
    an earlier page), each as the manifest lists a duplicate: ``{"page": int, "index": int, "key":
    [str | None, ...], "first": [page, index], "identical": bool}``, in the order served. A missing
    key value is a value: two records with the same missing key have the same key."""

    def __init__(self, schema: RecordSchema) -> None:
        self.schema = schema
        self._key_of = itemgetter(*(schema.names.index(k) for k in schema.key))
        self._single_key = len(schema.key) == 1
        self._bits = bytearray(FILTER_BITS // 8)
        self._keys: list[pa.Array] = []  # per page: each record's key digest (int64)
        self._rows: list[pa.Array] = []  # per page: each record's digest (int64)
        self._flagged: dict[tuple[int, int], list] = {}  # (page, index) -> key values, key maybe seen before
        self._found: list[dict] | None = []

    def add(self, page: int, table: pa.Table) -> None:
        """Add page ``page`` (pages are added in order, from 0), :data:`CHUNK_ROWS` records at a
        time (a page holding a whole partition never becomes Python objects all at once)."""
        if page != len(self._keys):
            raise ValueError(f"page {page} added after {len(self._keys)} pages")
        keys: list[pa.Array] = []
        rows: list[pa.Array] = []
        for start in range(0, table.num_rows, CHUNK_ROWS):
            key_digests, row_digests = self._digests(page, start, table.slice(start, CHUNK_ROWS))
            keys.append(key_digests)
            rows.append(row_digests)
        self._keys.append(pa.concat_arrays(keys) if keys else pa.array([], pa.int64()))
        self._rows.append(pa.concat_arrays(rows) if rows else pa.array([], pa.int64()))
        if self._flagged:
            self._found = None

    def _digests(self, page: int, start: int, part: pa.Table) -> tuple[pa.Array, pa.Array]:
        """The key and record digests of ``part`` (records ``start``... of page ``page``), flagging
        in the filter the records whose key may have been served before."""
        rows = list(zip(*(part.column(name).to_pylist() for name in self.schema.names), strict=True))
        keys = list(map(self._key_of, rows))
        key_digests = list(map(hash, keys))
        bits, mask = self._bits, FILTER_BITS - 1
        for index, digest in enumerate(key_digests):
            at = digest & mask
            byte, bit = at >> 3, 1 << (at & 7)
            if bits[byte] & bit:
                key = keys[index]
                self._flagged[(page, start + index)] = [key] if self._single_key else list(key)
            else:
                bits[byte] |= bit
        return pa.array(key_digests, pa.int64()), pa.array(list(map(hash, rows)), pa.int64())

    def repeats(self) -> list[dict]:
        if self._found is None:
            self._found = self._locate()
        return self._found

    def _locate(self) -> list[dict]:
        keys = pa.chunked_array(self._keys, pa.int64())
        rows = pa.chunked_array(self._rows, pa.int64())
        starts = list(itertools.accumulate((len(k) for k in self._keys[:-1]), initial=0))
        flagged_digests = {self._keys[page][index].as_py() for page, index in self._flagged}  # the keys that may repeat
        positions = pc.indices_nonzero(pc.is_in(keys, value_set=pa.array(sorted(flagged_digests), pa.int64())))
        first_of: dict[int, tuple[int, int, int]] = {}
        found = []
        for position in positions.to_pylist():
            page = bisect.bisect_right(starts, position) - 1
            index = position - starts[page]
            key, row = keys[position].as_py(), rows[position].as_py()
            first = first_of.setdefault(key, (page, index, row))
            if first[:2] != (page, index):
                found.append(
                    {
                        "page": page,
                        "index": index,
                        "key": self._flagged[(page, index)],
                        "first": [first[0], first[1]],
                        "identical": first[2] == row,
                    }
                )
        return found
