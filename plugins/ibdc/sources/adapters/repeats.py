"""Finding records served more than once in one extraction, in memory that does not grow with it.

Per record, two digests are kept, on disk in two private temporary files: 64 bits of its key and 32
of the whole record (12 bytes a record: 14 MB at 1.2 million), never the records. A digest is built
column-wise: each distinct value of a column hashed once by Python's ``hash`` (SipHash, keyed at
random per process: a source cannot aim at a collision), a record's from its values' by Arrow
(:func:`_combined`). A Bloom filter of the key digests (:data:`FILTER_BITS`: 8 MiB, two bits a key,
fixed) flags, as records are added, each record whose key *may* have been served before (once it
holds 1.2 million keys, a new key is taken for one about 0.13% of the time); only those keep their
key's values, in memory. The
filter is read and set for a chunk of records at once by Arrow (:meth:`RepeatIndex._flag`). When
the repeats are asked for, the key digests are read back a block at a time, the
flagged digests looked up among all the others (Arrow, column-wise), and a flagged record whose key
digest occurs at an earlier position is a repeat. Two distinct keys with one digest (odds about
n**2 / 2**65: 4e-8 at 1.2 million records, different in every process) would be taken for a repeat;
a repeat that differs from its first, for an identical one with odds 2**-32.

Records are digested :data:`CHUNK_ROWS` at a time, pages added together (a page of a JSON style holds
up to 5,000 readings): Arrow's cost per call is paid per chunk, and the records not yet digested (fewer
than a chunk, plus the page that completes it) are all the index holds of the pages."""

from __future__ import annotations

import bisect
import json
import tempfile
from array import array
from collections import deque
from collections.abc import Collection

import pyarrow as pa
import pyarrow.compute as pc

from ibdc.formats.base import by_distinct_value
from ibdc.schemas import RecordSchema

FILTER_BITS = 1 << 26  # 8 MiB, two bits a key: flags about 0.13% of the records wrongly at 1.2 million
CHUNK_ROWS = 8192  # records digested together (pages added are held until they make a chunk)
BLOCK_ROWS = 1 << 17  # key digests read back at a time (1 MiB)
ROW_DIGEST_MASK = 0xFFFFFFFF
# Values' digests are combined value by value (h * MIX ^ next, int64, wrapping): an odd multiplier
# (the golden ratio's, as in Fibonacci hashing), so that the order of the values counts.
MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 as a signed 64-bit integer
MISSING = hash(("a missing value",))  # a missing value's digest, keyed as every value's


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
        self._bits = bytearray(max(1, FILTER_BITS // 8))
        # The filter's bytes as Arrow reads them (no copy: a test sees the bits set before it).
        self._filter = pa.Array.from_buffers(pa.uint8(), len(self._bits), [None, pa.py_buffer(self._bits)])
        # Closed (and deleted) by close(), or when the index is collected: it outlives any one call.
        self._keys = tempfile.TemporaryFile(prefix="ibdc-repeats-")  # noqa: SIM115 -- int64 key digests, in order
        self._rows = tempfile.TemporaryFile(prefix="ibdc-repeats-")  # noqa: SIM115 -- uint32 record digests
        self._added = 0  # records added
        self._digested = 0  # records digested (the others are pending)
        self._pending: list[tuple[pa.Table, set[int]]] = []  # (records, the unreadable among them)
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
        """Add page ``page`` (pages are added in order, from 0); its records are digested once
        :data:`CHUNK_ROWS` records are pending, a chunk at a time (a page holding a whole partition
        never becomes Python values all at once). A page read in parts is added part by part: the
        last page added again continues it. ``unreadable``: the indices (in ``table``) of records the
        decoder could not read (``DecodedPage.faults``, their values all missing): each is a record
        of its own, never a repeat nor repeated (two of them would otherwise share the all-missing key)."""
        if page == len(self._starts):
            self._starts.append(self._added)
        elif page != len(self._starts) - 1:
            raise ValueError(f"page {page} added after {len(self._starts)} pages")
        if table.num_rows:
            self._pending.append((table.select(list(self.schema.names)), set(unreadable)))
            self._added += table.num_rows
        if self._added - self._digested >= CHUNK_ROWS:
            self._digest_pending()

    def _digest_pending(self) -> None:
        """Digest the records added and not yet digested, in parts of a chunk (the last part holding
        the rest, under two chunks). Columns typed otherwise than text (a column of nulls alone) are
        made text, so that pages concatenate."""
        if not self._pending:
            return
        tables, unreadable, offset = [], set(), 0
        for table, faults in self._pending:
            tables.append(table)
            unreadable |= {offset + i for i in faults}
            offset += table.num_rows
        text = pa.schema([(name, pa.string()) for name in self.schema.names])
        records = pa.concat_tables([t if t.schema == text else t.cast(text) for t in tables])
        self._pending.clear()
        start = 0
        while start < records.num_rows:
            rest = records.num_rows - start
            part = records.slice(start, CHUNK_ROWS if rest >= 2 * CHUNK_ROWS else rest)
            self._digest(part, {i - start for i in unreadable if start <= i < start + part.num_rows})
            start += part.num_rows
        if self._flagged:
            self._found = None

    def _digest(self, part: pa.Table, unreadable: set[int]) -> None:
        """Append the key and record digests of ``part`` (the next records served), flagging the
        records whose key may have been served before; an unreadable record's key digest is one of
        its own (its position's), left out of the filter. The filter is tested for the whole part at
        once (the bits of earlier parts), a key repeated inside the part found by counting its
        digests (:meth:`_flag`)."""
        values = {name: _value_digests(part.column(name)) for name in self.schema.names}
        digests = _combined([values[name] for name in self.schema.key])
        usable = digests
        if unreadable:
            own = digests.to_pylist()
            for index in unreadable:
                own[index] = hash(("unreadable record", self._digested + index))
            digests = pa.array(own, pa.int64())
            usable = digests.filter(pa.array([i not in unreadable for i in range(len(own))]))
        flagged = [i for i in self._flag(digests, usable) if i not in unreadable]
        if flagged:
            at = pa.array(flagged, pa.int64())
            keys = zip(*(part.column(name).take(at).to_pylist() for name in self.schema.key), strict=True)
            for index, key, digest in zip(flagged, keys, digests.take(at).to_pylist(), strict=True):
                self._flagged.append(self._digested + index)
                self._flagged_digests.append(digest)
                self._flagged_keys += json.dumps(list(key), ensure_ascii=False).encode()
                self._flagged_ends.append(len(self._flagged_keys))
        self._keys.write(_bytes(digests))
        rows = pc.cast(pc.bit_wise_and(_combined(list(values.values())), ROW_DIGEST_MASK), pa.uint32())
        self._rows.write(_bytes(rows))
        self._digested += part.num_rows

    def _flag(self, digests: pa.Array, usable: pa.Array) -> list[int]:
        """The indices (in ``digests``, a part's key digests) of the keys that may have been served
        before: their two bits set by an earlier part, or their digest twice in the part. Then the
        bits of ``usable`` (the digests to remember: the readable records') are set: each changed
        byte is computed by Arrow and written back in C (``map``)."""
        mask = FILTER_BITS - 1
        positions = (pc.bit_wise_and(digests, mask), pc.bit_wise_and(pc.shift_right(digests, 32), mask))
        seen = pc.and_(_is_set(self._filter, positions[0]), _is_set(self._filter, positions[1]))
        counted = pc.value_counts(usable)
        twice = pc.is_in(digests, value_set=pc.filter(counted.field("values"), pc.greater(counted.field("counts"), 1)))
        flagged = pc.indices_nonzero(pc.or_(seen, twice)).to_pylist()
        bits = pa.concat_arrays([pc.bit_wise_and(usable, mask), pc.bit_wise_and(pc.shift_right(usable, 32), mask)])
        at, bit = _byte_and_bit(bits)
        values = pc.bit_wise_or(pc.cast(pc.take(self._filter, at), pa.int64()), bit)
        deque(map(self._bits.__setitem__, at.to_pylist(), values.to_pylist()), maxlen=0)
        # A byte given two new bits in the part kept the last one written: OR them in one by one (a
        # few a part: 16,000 bits in 8 million bytes).
        counted = pc.value_counts(at)
        shared = pc.filter(counted.field("values"), pc.greater(counted.field("counts"), 1))
        if len(shared):
            again = pc.is_in(at, value_set=shared)
            for byte, one in zip(pc.filter(at, again).to_pylist(), pc.filter(bit, again).to_pylist(), strict=True):
                self._bits[byte] |= one
        return flagged

    def repeats(self) -> list[dict]:
        self._digest_pending()
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


def _value_digests(column: pa.ChunkedArray) -> pa.Array:
    """Each value's digest (Python's ``hash`` of its text; a missing value :data:`MISSING`), int64,
    computed once per distinct value."""
    hashed = by_distinct_value(column, lambda distinct: pa.array(map(hash, distinct.to_pylist()), pa.int64()))
    return pc.fill_null(hashed, MISSING)


def _combined(digests: list[pa.Array]) -> pa.Array:
    """Per record, one digest of its values' ``digests`` (in order)."""
    out = digests[0]
    for more in digests[1:]:
        out = pc.bit_wise_xor(pc.multiply(out, MIX), more)
    return out


def _byte_and_bit(bits: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Per bit number of the filter: the byte holding it and its mask in that byte (int64)."""
    return pc.shift_right(bits, 3), pc.shift_left(1, pc.bit_wise_and(bits, 7))


def _is_set(filter_bytes: pa.Array, bits: pa.Array) -> pa.Array:
    """Per bit number, whether the filter has it set."""
    at, bit = _byte_and_bit(bits)
    return pc.not_equal(pc.bit_wise_and(pc.cast(pc.take(filter_bytes, at), pa.int64()), bit), 0)


def _bytes(values: pa.Array) -> memoryview:
    """A fixed-width array's values as they lie in memory (digests are never missing)."""
    width = values.type.bit_width // 8
    return memoryview(values.buffers()[1])[values.offset * width : (values.offset + len(values)) * width]
