"""The exchange market's ledger (issue 21) on a real PostgreSQL, in a scratch database of this
module's own (``ibdc_test_ledger``, provisioned by ``ibdc.governance.provision``, which provisions the
ledger through ``ibdc.exchange.schema``).

What it proves: 100 entries appended by the market's role from two concurrent connections verify,
seq 1..100, each linked to the one before, each hash the documented layout's; an append rolled back
leaves no gap; every platform role is refused UPDATE, DELETE, TRUNCATE and INSERT (privileges), the
owner UPDATE, DELETE and TRUNCATE (the trigger), and a row the owner inserts directly is chained by
the database whatever it says; an administrator who disables the trigger and edits, deletes,
reorders or inserts an entry is named by ``verify``; provisioning again takes back grants and
enables triggers an administrator changed. It writes no raw partition (no ``partitions`` claim).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import threading
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from ibdc import governance
from ibdc.exchange import ledger
from ibdc.exchange.ledger import EntryKind
from ibdc.settings import EXCHANGE, EXCHANGE_READER
from tests.scratch_warehouse import scratch_warehouse

pytestmark = pytest.mark.integration

SCRATCH = "ibdc_test_ledger"
PROVIDER = "91110000100000000A"
CONSUMER = "91370000200000000B"
ROW = "(seq, recorded_at, kind, actor, subject, payload, prev_hash, entry_hash)"
FORGED = (
    f"INSERT INTO exchange.ledger {ROW}"
    " VALUES (1000, now(), 'read', 'x', 'y', '{}', repeat('0', 64), repeat('a', 64))"
)


@pytest.fixture(scope="module")
def dsns(services):
    with scratch_warehouse(services, SCRATCH) as made:
        yield {**made, "writer": make_conninfo(services.exchange, dbname=SCRATCH)}


@pytest.fixture
def admin(dsns):
    with psycopg.connect(dsns["admin"], autocommit=True) as conn:
        yield conn


@pytest.fixture
def writer(dsns):
    """The market's service role, logged in as itself."""
    with psycopg.connect(dsns["writer"], autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == EXCHANGE
        yield conn


@pytest.fixture(autouse=True)
def empty_ledger(dsns):
    """Each test starts from an empty ledger (emptied as only an administrator can: triggers off)."""
    with psycopg.connect(dsns["admin"]) as conn:
        conn.execute("ALTER TABLE exchange.ledger DISABLE TRIGGER USER")
        conn.execute("TRUNCATE exchange.ledger")
        conn.execute("ALTER TABLE exchange.ledger ENABLE TRIGGER USER")


def fill(conn: psycopg.Connection, count: int, actor: str = PROVIDER) -> list[ledger.LedgerEntry]:
    made = []
    with conn.transaction():
        for i in range(count):
            made.append(
                ledger.append(
                    conn,
                    EntryKind.READ if i % 2 else EntryKind.PRODUCT_LISTED,
                    actor,
                    f"output-monthly@1.{i % 3}.0",
                    {"i": i, "columns": ["province_code", "value"], "note": "读取, 1:2"},
                )
            )
    return made


def refusal(conn: psycopg.Connection, role: str | None, statement: str) -> psycopg.Error | None:
    """The error ``statement`` raises as ``role`` (None: as the connection's user) in a transaction of
    its own, rolled back; None when it succeeds (rolled back too)."""

    class Succeeded(Exception):
        pass

    try:
        with conn.transaction():
            if role is not None:
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            conn.execute(statement)
            raise Succeeded
    except Succeeded:
        return None
    except psycopg.Error as error:
        return error


def test_hundred_entries_from_two_concurrent_writers_verify(dsns, writer, monkeypatch):
    barrier = threading.Barrier(2)
    made: dict[str, list[ledger.LedgerEntry]] = {}
    errors = []

    def write(actor: str) -> None:
        try:
            with psycopg.connect(dsns["writer"], autocommit=True) as conn:
                barrier.wait()
                out = []
                for i in range(25):  # two entries per transaction: they commit together, nothing between them
                    with conn.transaction():
                        out.append(ledger.append(conn, EntryKind.OFFER_MADE, actor, f"offer-{i}", {"i": i}))
                        out.append(ledger.append(conn, EntryKind.NEGOTIATION_EVENT, actor, f"offer-{i}", {"j": i}))
                made[actor] = out
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(actor,)) for actor in (PROVIDER, CONSUMER)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert sorted(e.seq for entries in made.values() for e in entries) == list(range(1, 101))
    for entries in made.values():  # each transaction's two entries are consecutive
        assert all(entries[k + 1].seq == entries[k].seq + 1 for k in range(0, 50, 2))

    stored = ledger.entries(writer, limit=1000)
    assert [e.seq for e in stored] == list(range(1, 101))
    assert stored[0].prev_hash == ledger.GENESIS_HASH == "0" * 64
    assert all(stored[k].prev_hash == stored[k - 1].entry_hash for k in range(1, 100))
    assert all(stored[k].recorded_at >= stored[k - 1].recorded_at for k in range(1, 100))
    assert len({e.entry_hash for e in stored}) == 100
    assert {e.actor for e in stored} == {PROVIDER, CONSUMER}

    intact = ledger.Verification(True, 100, stored[-1].entry_hash, None, "100 entries, chain intact")
    assert ledger.verify(writer, batch=7) == intact  # fifteen fetches of the server-side cursor
    with psycopg.connect(dsns["admin"], autocommit=True) as admin:
        assert ledger.verify(admin) == intact

    # verify streams: the rows come from a cursor declared on the server, open while they are checked.
    cursors, check = [], ledger.verify_rows

    def spy(rows):
        rows = iter(rows)
        first = next(rows)
        cursors.extend(name for (name,) in writer.execute("SELECT name FROM pg_cursors"))
        return check(itertools.chain([first], rows))

    monkeypatch.setattr(ledger, "verify_rows", spy)
    assert ledger.verify(writer, batch=10).ok
    assert len(cursors) == 1 and cursors[0].startswith("ibdc_ledger_verify_"), cursors


def test_the_hash_is_the_documented_byte_layout(writer):
    entry = ledger.append(
        writer,
        "approval_decided",
        "operator:zhang",
        "abc@1.0.0",
        {"z": 1, "a": "é,1:2", "n": 1.5, "d": Decimal("2.10")},
    )
    assert entry.payload_json == '{"a":"é,1:2","d":"2.10","n":1.5,"z":1}'  # RFC 8785: sorted keys, no spaces
    assert entry.payload == {"a": "é,1:2", "d": "2.10", "n": 1.5, "z": 1}
    stamp = entry.recorded_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    layout = (
        b"23:ibdc.exchange.ledger/v1,1:1,27:" + stamp.encode() + b",16:approval_decided,14:operator:zhang,"
        b"9:abc@1.0.0," + b"%d:" % len(entry.payload_json.encode()) + entry.payload_json.encode() + b","
        b"64:" + b"0" * 64 + b","
    )
    assert (
        ledger.hashed_bytes(1, entry.recorded_at, entry.kind, entry.actor, entry.subject, entry.payload_json, "0" * 64)
        == layout
    )
    assert entry.entry_hash == hashlib.sha256(layout).hexdigest()  # computed by the database
    assert ledger.verify(writer) == ledger.Verification(True, 1, entry.entry_hash, None, "1 entry, chain intact")


def test_an_append_rolled_back_leaves_no_entry_and_no_gap(writer):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), writer.transaction():
        ledger.append(writer, EntryKind.AGREEMENT_SIGNED, PROVIDER, "agreement-1", {"x": 1})
        raise Abort
    assert ledger.entries(writer) == []
    first = ledger.append(writer, EntryKind.AGREEMENT_SIGNED, PROVIDER, "agreement-1", {"x": 1})
    assert first.seq == 1 and first.prev_hash == ledger.GENESIS_HASH
    assert ledger.verify(writer).ok


def test_every_platform_role_is_refused_update_delete_truncate_and_insert(admin):
    fill(admin, 3)  # rows there to update and delete (appended as the owner: the function is its)
    roles = governance.governance_roles()
    assert EXCHANGE in roles and len(roles) > 30
    statements = {
        "UPDATE": "UPDATE exchange.ledger SET payload = '{\"edited\":true}' WHERE seq = 2",
        "DELETE": "DELETE FROM exchange.ledger WHERE seq = 2",
        "TRUNCATE": "TRUNCATE exchange.ledger",
        "INSERT": FORGED,
    }
    for role in roles:
        for privilege in ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            assert not admin.execute(
                "SELECT has_table_privilege(%s, 'exchange.ledger', %s)", (role, privilege)
            ).fetchone()[0], (role, privilege)
        may_read = admin.execute("SELECT has_table_privilege(%s, 'exchange.ledger', 'SELECT')", (role,)).fetchone()[0]
        may_append = admin.execute(
            "SELECT has_function_privilege(%s, 'exchange.ledger_append(text, text, text, text)', 'EXECUTE')", (role,)
        ).fetchone()[0]
        # The market writes; its reader (the operator's page) reads; no other platform role does either.
        expected = {EXCHANGE: (True, True), EXCHANGE_READER: (True, False)}.get(role, (False, False))
        assert (may_read, may_append) == expected, role
        for name, statement in statements.items():
            error = refusal(admin, role, statement)
            assert isinstance(error, psycopg.errors.InsufficientPrivilege), (role, name, error)
            assert "permission denied" in str(error), (role, name, error)
    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"):
        assert not admin.execute(
            "SELECT has_table_privilege('public', 'exchange.ledger', %s)", (privilege,)
        ).fetchone()[0]
    assert not admin.execute(
        "SELECT has_function_privilege('public', 'exchange.ledger_append(text, text, text, text)', 'EXECUTE')"
    ).fetchone()[0]
    assert ledger.verify(admin) == ledger.Verification(
        True, 3, ledger.entries(admin)[-1].entry_hash, None, "3 entries, chain intact"
    )


def test_the_trigger_refuses_update_delete_and_truncate_even_to_the_owner(admin):
    fill(admin, 3)
    owner, user = admin.execute(
        "SELECT pg_get_userbyid(relowner), current_user FROM pg_class WHERE oid = 'exchange.ledger'::regclass"
    ).fetchone()
    assert owner == user
    for statement in (
        "UPDATE exchange.ledger SET payload = '{\"edited\":true}' WHERE seq = 2",
        "UPDATE exchange.ledger SET entry_hash = repeat('b', 64)",
        "DELETE FROM exchange.ledger WHERE seq = 3",
        "TRUNCATE exchange.ledger",
    ):
        error = refusal(admin, None, statement)
        assert isinstance(error, psycopg.errors.InsufficientPrivilege), (statement, error)
        assert "exchange.ledger is append-only" in str(error), statement
    assert ledger.verify(admin).entries == 3


def test_a_row_inserted_directly_is_chained_by_the_database_whatever_it_says(admin):
    fill(admin, 2)
    admin.execute(FORGED)  # the owner may insert: seq 1000 and the hashes it gives are replaced
    entries = ledger.entries(admin)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[2].prev_hash == entries[1].entry_hash and entries[2].entry_hash == entries[2].computed_hash()
    assert ledger.verify(admin).ok


def test_the_writer_appends_and_reads(writer):
    listed = ledger.append(writer, EntryKind.PRODUCT_LISTED, PROVIDER, "output-monthly@1.0.0", {"columns": ["value"]})
    ledger.append(writer, EntryKind.REQUEST_REFUSED, CONSUMER, "neg-1", {"rule": "purpose_missing"})
    ledger.append(writer, EntryKind.READ, CONSUMER, "output-monthly@1.0.0", {"rows": 12})
    assert [e.seq for e in ledger.entries(writer)] == [1, 2, 3]
    about = ledger.entries(writer, subject="output-monthly@1.0.0")
    assert [(e.seq, e.kind, e.payload) for e in about] == [
        (1, "product_listed", {"columns": ["value"]}),
        (3, "read", {"rows": 12}),
    ]
    assert about[0] == listed
    assert [e.seq for e in ledger.entries(writer, after=1, limit=1)] == [2]
    assert ledger.entries(writer, after=3) == []
    assert ledger.verify(writer).ok
    # The same on a connection whose rows are dicts (the market's).
    writer.row_factory = dict_row
    assert ledger.append(writer, EntryKind.READ, CONSUMER, "output-monthly@1.0.0", {"rows": 1}).seq == 4
    assert [e.seq for e in ledger.entries(writer, subject="output-monthly@1.0.0")] == [1, 3, 4]
    assert ledger.verify(writer, batch=2).entries == 4
    # Its only way in is the function: it supplies no seq, time or hash.
    assert isinstance(refusal(writer, None, FORGED), psycopg.errors.InsufficientPrivilege)


def test_append_refuses_what_it_cannot_record(writer):
    for kind, actor, subject, payload in (
        ("payment_made", PROVIDER, "s", {}),  # not an EntryKind
        (EntryKind.READ, "", "s", {}),
        (EntryKind.READ, PROVIDER, "", {}),
        (EntryKind.READ, PROVIDER, "s" * 501, {}),
        (EntryKind.READ, PROVIDER, "s", {"x": float("nan")}),
        (EntryKind.READ, PROVIDER, "s", {"x": 2**60}),
        (EntryKind.READ, PROVIDER, "s", {1: "x"}),
        (EntryKind.READ, PROVIDER, "s", ["x"]),
        (EntryKind.READ, PROVIDER, "s", {"x": object()}),
    ):
        with pytest.raises(ValueError):
            ledger.append(writer, kind, actor, subject, payload)
    # Called directly, the function takes a JSON object's text only.
    for payload in ("[1]", "not json"):
        error = refusal(writer, None, f"SELECT exchange.ledger_append('read', 'a', 's', '{payload}')")
        assert isinstance(error, psycopg.errors.CheckViolation | psycopg.errors.InvalidTextRepresentation), error
    assert ledger.entries(writer) == []


def test_verify_names_the_entry_an_administrator_edited(admin, writer):
    fill(writer, 100)
    admin.execute("ALTER TABLE exchange.ledger DISABLE TRIGGER ledger_append_only")
    admin.execute("UPDATE exchange.ledger SET payload = '{\"i\":3700}' WHERE seq = 37")
    admin.execute("ALTER TABLE exchange.ledger ENABLE TRIGGER ledger_append_only")
    found = ledger.verify(writer)
    assert (found.ok, found.first_broken, found.entries) == (False, 37, 36)
    assert found.head_hash == ledger.entries(writer, after=35, limit=1)[0].entry_hash
    assert "entry 37's entry_hash does not match its content" in found.reason


# Each tampering done by the owner with the triggers off, verified in its transaction, rolled back.
TAMPERING = {
    "payload": (['UPDATE exchange.ledger SET payload = \'{"i":36,"columns":[]}\' WHERE seq = 37'], 37),
    "actor": ([f"UPDATE exchange.ledger SET actor = '{CONSUMER}' WHERE seq = 37"], 37),
    "recorded_at": (["UPDATE exchange.ledger SET recorded_at = recorded_at - interval '1 day' WHERE seq = 37"], 37),
    "entry_hash": (["UPDATE exchange.ledger SET entry_hash = repeat('c', 64) WHERE seq = 37"], 37),
    "deleted": (["DELETE FROM exchange.ledger WHERE seq = 37"], 37),
    "deleted_two": (["DELETE FROM exchange.ledger WHERE seq IN (37, 38)"], 37),
    "deleted_first": (["DELETE FROM exchange.ledger WHERE seq = 1"], 1),
    "swapped": (
        [
            "UPDATE exchange.ledger SET seq = 1037 WHERE seq = 37",
            "UPDATE exchange.ledger SET seq = 37 WHERE seq = 38",
            "UPDATE exchange.ledger SET seq = 38 WHERE seq = 1037",
        ],
        37,
    ),
    # An administrator who knows the layout edits 37 and gives it its right hash: 38 no longer links.
    "rehashed": (
        [
            "UPDATE exchange.ledger SET payload = '{\"i\":3700}' WHERE seq = 37",
            "UPDATE exchange.ledger SET entry_hash = exchange.ledger_entry_hash(seq, recorded_at, kind, actor,"
            " subject, payload, prev_hash) WHERE seq = 37",
        ],
        38,
    ),
    # An entry slipped in before 37, hashed right and linked to 36: the old 37, now 38, breaks.
    "inserted": (
        [
            "UPDATE exchange.ledger SET seq = seq + 1000 WHERE seq >= 37",
            "UPDATE exchange.ledger SET seq = seq - 999 WHERE seq >= 1000",
            f"INSERT INTO exchange.ledger {ROW} SELECT 37, recorded_at, 'read', actor, subject, '{{}}', entry_hash,"
            " exchange.ledger_entry_hash(37, recorded_at, 'read', actor, subject, '{}', entry_hash)"
            " FROM exchange.ledger WHERE seq = 36",
        ],
        38,
    ),
}


@pytest.mark.parametrize("tampering", sorted(TAMPERING))
def test_verify_names_the_first_broken_entry(admin, writer, tampering):
    fill(writer, 100)
    statements, broken = TAMPERING[tampering]
    # Not while the triggers are on.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), admin.transaction():
        for statement in statements:
            admin.execute(statement)
    with admin.transaction():
        admin.execute("ALTER TABLE exchange.ledger DISABLE TRIGGER USER")
        for statement in statements:
            admin.execute(statement)
        found = ledger.verify(admin, batch=10)
        assert (found.ok, found.first_broken, found.entries) == (False, broken, broken - 1), found
        last_good = admin.execute("SELECT entry_hash FROM exchange.ledger WHERE seq = %s", (broken - 1,)).fetchone()
        assert found.head_hash == (last_good[0] if broken > 1 else ledger.GENESIS_HASH)
        if tampering.startswith("deleted"):
            assert "missing" in found.reason
        raise psycopg.Rollback()  # the tampering undone
    assert ledger.verify(admin).ok


def test_provisioning_again_takes_back_grants_and_enables_the_triggers(dsns, admin, writer):
    fill(writer, 5)
    head = ledger.verify(writer).head_hash
    admin.execute("ALTER TABLE exchange.ledger DISABLE TRIGGER ledger_append_only")
    admin.execute(
        sql.SQL(
            "GRANT INSERT, UPDATE ON exchange.ledger TO {}; GRANT SELECT ON exchange.ledger TO ibdc_steward"
        ).format(sql.Identifier(EXCHANGE))
    )
    admin.execute("GRANT EXECUTE ON FUNCTION exchange.ledger_append(text, text, text, text) TO PUBLIC")
    governance.provision(dsns["admin"], None, None)
    assert not admin.execute("SELECT has_table_privilege(%s, 'exchange.ledger', 'UPDATE')", (EXCHANGE,)).fetchone()[0]
    assert not admin.execute("SELECT has_table_privilege('ibdc_steward', 'exchange.ledger', 'SELECT')").fetchone()[0]
    assert not admin.execute(
        "SELECT has_function_privilege('public', 'exchange.ledger_append(text, text, text, text)', 'EXECUTE')"
    ).fetchone()[0]
    error = refusal(admin, None, "UPDATE exchange.ledger SET actor = 'x' WHERE seq = 1")
    assert error is not None and "append-only" in str(error)
    found = ledger.verify(writer)
    assert (found.ok, found.entries, found.head_hash) == (True, 5, head)
