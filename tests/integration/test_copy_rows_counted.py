"""Every load's COPY is checked against PostgreSQL's own count (``ibdc.loading.postgres._copy``): the
rows the load counted as sent must be the rows the server says it copied, or the load fails and its
transaction rolls back (a row lost or made up on the way never loads a partition short)."""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pytest

from ibdc.errors import PermanentError
from ibdc.loading import binary_copy
from ibdc.loading.postgres import CopiedRowsMismatch, _copy

pytestmark = pytest.mark.integration


def test_a_copy_whose_rows_are_not_the_rows_sent_fails(services):
    with psycopg.connect(services.warehouse, autocommit=True) as conn, conn.cursor() as cur:
        conn.execute("CREATE TEMPORARY TABLE copied (t text)")
        refused = pytest.raises(CopiedRowsMismatch, match="copied 2 rows, 3 were sent")
        with refused, conn.transaction(), _copy(cur, "copied", ("t",), False) as copy:
            copy.write(b"a\nb\n")
            copy.rows += 3  # one counted that was never written
        assert issubclass(CopiedRowsMismatch, PermanentError)  # not retried: loading again does the same
        assert conn.execute("SELECT count(*) FROM copied").fetchone()[0] == 0  # rolled back
        with _copy(cur, "copied", ("t",), False) as copy:
            copy.write(b'a\n"b\nc"\n')  # two rows, one value holding a line break
            copy.rows += 2
        assert conn.execute("SELECT t FROM copied").fetchall() == [("a",), ("b\nc",)]


def test_a_binary_copy_is_counted_alike(services):
    """Binary COPY's encoder (pgpq) buffers what it encodes until it finishes: a tuple it kept would be
    a row not sent, which the count catches."""
    with psycopg.connect(services.warehouse, autocommit=True) as conn, conn.cursor() as cur:
        conn.execute("CREATE TEMPORARY TABLE copied_binary (t text, n numeric)")
        tuples = binary_copy.BinaryRows({"t": "text", "n": "numeric"}).encode(
            pa.table({"t": ["a", "b"], "n": ["2.50", "3"]})
        )
        refused = pytest.raises(CopiedRowsMismatch, match="copied 2 rows, 3 were sent")
        with refused, conn.transaction(), _copy(cur, "copied_binary", ("t", "n"), True) as copy:
            for chunk in tuples:
                copy.write(chunk)
            copy.rows += 3
        assert conn.execute("SELECT count(*) FROM copied_binary").fetchone()[0] == 0
        with _copy(cur, "copied_binary", ("t", "n"), True) as copy:
            for chunk in tuples:
                copy.write(chunk)
            copy.rows += 2
        assert conn.execute("SELECT t, n::text FROM copied_binary ORDER BY t").fetchall() == [("a", "2.50"), ("b", "3")]
