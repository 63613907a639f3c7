"""Every load's COPY is checked against PostgreSQL's own count (``ibdc.loading.postgres._copy``): the
rows the load counted as sent must be the rows the server says it copied, or the load fails and its
transaction rolls back (a row lost or made up on the way never loads a partition short)."""

from __future__ import annotations

import psycopg
import pytest

from ibdc.errors import PermanentError
from ibdc.loading.postgres import CopiedRowsMismatch, _copy

pytestmark = pytest.mark.integration


def test_a_copy_whose_rows_are_not_the_rows_sent_fails(services):
    with psycopg.connect(services.warehouse, autocommit=True) as conn, conn.cursor() as cur:
        conn.execute("CREATE TEMPORARY TABLE copied (t text)")
        refused = pytest.raises(CopiedRowsMismatch, match="copied 2 rows, 3 were sent")
        with refused, conn.transaction(), _copy(cur, "copied", ["t"]) as copy:
            copy.write(b"a\nb\n")
            copy.rows += 3  # one counted that was never written
        assert issubclass(CopiedRowsMismatch, PermanentError)  # not retried: loading again does the same
        assert conn.execute("SELECT count(*) FROM copied").fetchone()[0] == 0  # rolled back
        with _copy(cur, "copied", ["t"]) as copy:
            copy.write(b'a\n"b\nc"\n')  # two rows, one value holding a line break
            copy.rows += 2
        assert conn.execute("SELECT t FROM copied").fetchall() == [("a",), ("b\nc",)]
