"""The exchange market's ledger: every listing, decision, agreement, read and termination as an
append-only entry, hash-chained to the previous one (table ``exchange.ledger``, ``ledger.sql``).

Entries are added only by the database function ``exchange.ledger_append`` (SECURITY DEFINER, owned
by the table's owner, the provisioning administrator): the market's service role may execute it and
read the table, and nothing else; no other platform role may even read it. The database, not the
client, gives an entry its ``seq`` (1, 2, ... without gaps), ``recorded_at``, ``prev_hash`` and
``entry_hash``, under a lock held until the appending transaction ends, so that a state change and
its entry commit together and the chain never forks. A trigger refuses UPDATE, DELETE and TRUNCATE to
every role, the owner included; the owner or a superuser can still disable it, and :func:`verify`,
recomputing every hash here in Python, then names the first broken entry.

The bytes hashed (:func:`hashed_bytes`): eight fields, each its UTF-8 bytes as a netstring
(``<length in bytes, decimal>:<bytes>,``, so that no field's content can be mistaken for a boundary),
concatenated::

    'ibdc.exchange.ledger/v1', seq (decimal), recorded_at (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'),
    kind, actor, subject, payload (the stored canonical JSON, byte for byte), prev_hash

and ``entry_hash`` is their SHA-256 in lowercase hex; ``prev_hash`` is the previous entry's
``entry_hash``, 64 zeros for entry 1. The payload is a JSON object serialised by RFC 8785 (the JSON
Canonicalization Scheme, package ``rfc8785``) and stored as that text, so the bytes hashed are kept.

What the chain cannot show on its own: entries removed from the end (the head then is an earlier
entry), or a chain an administrator recomputed from the edit on. :attr:`Verification.head_hash` is
what to publish or keep elsewhere to detect those.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from importlib import resources

import psycopg
import rfc8785
from psycopg import sql
from psycopg.rows import tuple_row

GENESIS_HASH = "0" * 64
DOMAIN = "ibdc.exchange.ledger/v1"  # the first field hashed: the layout's name and version
COLUMNS = ("seq", "recorded_at", "kind", "actor", "subject", "payload", "prev_hash", "entry_hash")
APPEND_FUNCTION = "exchange.ledger_append(text, text, text, text)"
TRIGGER_FUNCTIONS = ("exchange.ledger_chain()", "exchange.ledger_append_only()")
HELPER_FUNCTIONS = (
    "exchange.ledger_netstring(text)",
    "exchange.ledger_entry_hash(bigint, timestamptz, text, text, text, text, text)",
)
MAX_ACTOR = 200
MAX_SUBJECT = 500


class EntryKind(enum.StrEnum):
    """What an entry records."""

    PARTICIPANT_REGISTERED = "participant_registered"
    PRODUCT_LISTED = "product_listed"
    PRODUCT_REFUSED = "product_refused"  # the gate refused a listing
    PRODUCT_WITHDRAWN = "product_withdrawn"
    PRODUCT_PUBLISHED = "product_published"  # a new version of a product's Delta table (ibdc.exchange.publish)
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"
    OFFER_MADE = "offer_made"
    OFFER_WITHDRAWN = "offer_withdrawn"
    NEGOTIATION_EVENT = "negotiation_event"  # a Dataspace Protocol message or event, its states in the payload
    REQUEST_REFUSED = "request_refused"  # a consumer's request the rules refused
    AGREEMENT_SIGNED = "agreement_signed"
    AGREEMENT_TERMINATED = "agreement_terminated"
    READ = "read"  # a read under an agreement (part 2's delivery)
    READ_REFUSED = "read_refused"
    SHARING_TOKEN_ISSUED = "sharing_token_issued"  # a consumer's Delta Sharing profile (its token's digest)


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One entry as stored; ``payload_json`` is the canonical text hashed, ``payload`` its object."""

    seq: int
    recorded_at: dt.datetime
    kind: str
    actor: str
    subject: str
    payload_json: str
    prev_hash: str
    entry_hash: str
    payload: dict = dataclasses.field(compare=False, hash=False, repr=False)

    @classmethod
    def from_row(cls, row: tuple) -> LedgerEntry:
        """An entry from a row of :data:`COLUMNS`."""
        return cls(*row, payload=json.loads(row[5]))

    def computed_hash(self) -> str:
        """The entry's hash recomputed from its fields (:func:`entry_hash`)."""
        return entry_hash(
            self.seq, self.recorded_at, self.kind, self.actor, self.subject, self.payload_json, self.prev_hash
        )

    def as_json(self) -> dict:
        """The entry as a JSON object (what an API answers with)."""
        return {
            "seq": self.seq,
            "recorded_at": utc_text(self.recorded_at),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclasses.dataclass(frozen=True)
class Verification:
    """What :func:`verify` found. ``entries``: how many entries verified from the first (all of them when
    ``ok``); ``head_hash``: the last of those entries' hash (the genesis hash for none);
    ``first_broken``: the seq of the first entry that is missing or whose content, hash or link does
    not hold, None when ``ok``; ``reason``: what held or broke, in a sentence."""

    ok: bool
    entries: int
    head_hash: str
    first_broken: int | None
    reason: str


def utc_text(moment: dt.datetime) -> str:
    """``recorded_at`` as hashed: UTC, microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if moment.tzinfo is None:
        raise ValueError("recorded_at must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _netstring(field: str) -> bytes:
    data = field.encode("utf-8")
    return b"%d:%s," % (len(data), data)


def hashed_bytes(
    seq: int, recorded_at: dt.datetime, kind: str, actor: str, subject: str, payload_json: str, prev_hash: str
) -> bytes:
    """The exact byte string an entry's hash is taken over (the module's documentation: the layout)."""
    fields = (DOMAIN, str(seq), utc_text(recorded_at), kind, actor, subject, payload_json, prev_hash)
    return b"".join(_netstring(field) for field in fields)


def entry_hash(
    seq: int, recorded_at: dt.datetime, kind: str, actor: str, subject: str, payload_json: str, prev_hash: str
) -> str:
    """An entry's hash: SHA-256 of :func:`hashed_bytes`, lowercase hex."""
    return hashlib.sha256(hashed_bytes(seq, recorded_at, kind, actor, subject, payload_json, prev_hash)).hexdigest()


def _jsonable(value):
    """``value`` with the types the market hands over (UUIDs, dates, decimals, enums, tuples, sets) as
    JSON's; anything else is left for RFC 8785 to accept or refuse."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"a ledger payload's keys are strings, not {key!r}")
            out[key] = _jsonable(item)
        return out
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return utc_text(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def canonical_payload(payload: Mapping) -> str:
    """``payload`` as RFC 8785 canonical JSON text. ``ValueError`` for what JSON cannot carry (NaN, an
    integer beyond 2**53, a key that is not a string, an object of another type)."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"a ledger payload is a JSON object (a mapping), not {type(payload).__name__}")
    try:
        return rfc8785.dumps(_jsonable(payload)).decode("utf-8")
    except (rfc8785.CanonicalizationError, TypeError) as error:
        raise ValueError(f"a ledger payload must be JSON: {error}") from error


def _text_field(name: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise ValueError(f"a ledger entry's {name} is a text of 1 to {limit} characters, not {value!r}")
    if "\x00" in value:
        raise ValueError(f"a ledger entry's {name} may not contain NUL")
    return value


def append(conn: psycopg.Connection, kind: str, actor: str, subject: str, payload: Mapping) -> LedgerEntry:
    """Append an entry by ``exchange.ledger_append``, in ``conn``'s transaction (it commits with the
    state change it records, or neither does; appends by others wait until it ends: append last in a
    transaction). ``kind`` one of :class:`EntryKind`; ``actor`` a participant id or ``operator:...``;
    ``subject`` what the entry is about (``product_id@version``, a negotiation or agreement id).
    ``ValueError`` for an unknown kind, an empty or too long actor or subject, a payload JSON cannot carry.

    Under REPEATABLE READ or SERIALIZABLE, an append after another transaction's that committed since
    this one's snapshot fails (a unique violation or a serialization failure): retry the transaction."""
    kind = EntryKind(kind).value
    actor = _text_field("actor", actor, MAX_ACTOR)
    subject = _text_field("subject", subject, MAX_SUBJECT)
    text = canonical_payload(payload)
    with conn.cursor(row_factory=tuple_row) as cur:  # whatever the connection's row factory (the market's: dicts)
        row = cur.execute(
            sql.SQL("SELECT {} FROM exchange.ledger_append(%s, %s, %s, %s)").format(
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
            ),
            (kind, actor, subject, text),
        ).fetchone()
    entry = LedgerEntry.from_row(row)
    if entry.computed_hash() != entry.entry_hash:  # the database's layout and this module's disagree: a defect
        raise RuntimeError(f"ledger entry {entry.seq}: the database's hash differs from the documented layout's")
    return entry


def entries(
    conn: psycopg.Connection, *, subject: str | None = None, after: int = 0, limit: int = 100
) -> list[LedgerEntry]:
    """Up to ``limit`` entries after seq ``after``, in order; only ``subject``'s when given."""
    if limit < 1:
        raise ValueError(f"limit is at least 1, not {limit}")
    where = sql.SQL("seq > %(after)s") + (sql.SQL(" AND subject = %(subject)s") if subject is not None else sql.SQL(""))
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT {} FROM exchange.ledger WHERE {} ORDER BY seq LIMIT %(limit)s").format(
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), where
            ),
            {"after": after, "subject": subject, "limit": limit},
        ).fetchall()
    return [LedgerEntry.from_row(row) for row in rows]


def verify_rows(rows: Iterable[tuple]) -> Verification:
    """:func:`verify` over rows of :data:`COLUMNS` in seq order (any iterable: streamed, not held)."""
    expected, head, count = 1, GENESIS_HASH, 0
    for seq, recorded_at, kind, actor, subject, payload, prev_hash, stored_hash in rows:
        if seq != expected:
            if seq > expected:
                missing = f"entries {expected} to {seq - 1} are" if seq - 1 > expected else f"entry {expected} is"
                reason = f"{missing} missing (the next entry is {seq})"
            else:
                reason = f"entry {seq} is out of order (entry {expected} expected)"
            return Verification(False, count, head, expected, reason)
        if prev_hash != head:
            link = "the genesis hash" if seq == 1 else f"entry {seq - 1}'s hash"
            return Verification(False, count, head, seq, f"entry {seq}'s prev_hash is not {link}")
        try:
            computed = entry_hash(seq, recorded_at, kind, actor, subject, payload, prev_hash)
        except (TypeError, ValueError, AttributeError) as error:
            return Verification(False, count, head, seq, f"entry {seq}'s fields cannot be hashed: {error}")
        if computed != stored_hash:
            return Verification(
                False, count, head, seq, f"entry {seq}'s entry_hash does not match its content (edited)"
            )
        expected, head, count = seq + 1, stored_hash, count + 1
    return Verification(True, count, head, None, f"{count} {'entry' if count == 1 else 'entries'}, chain intact")


def verify(conn: psycopg.Connection, *, batch: int = 5000) -> Verification:
    """Recompute every entry's hash here, independently of the database's functions, and check each
    links to the one before, seq 1, 2, ... without a gap: the first entry missing, edited, reordered or
    inserted is named. Reads with a server-side cursor, ``batch`` rows at a time (a million entries do
    not fill memory), in one snapshot; stops at the first broken entry. Needs SELECT on the ledger."""
    query = sql.SQL("SELECT {} FROM exchange.ledger ORDER BY seq").format(
        sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
    )
    with (
        conn.transaction(),
        conn.cursor(name=f"ibdc_ledger_verify_{uuid.uuid4().hex[:12]}", row_factory=tuple_row) as cur,
    ):
        cur.itersize = batch
        cur.execute(query)
        return verify_rows(cur)


def provision_ledger(conn: psycopg.Connection, writer: str) -> None:
    """The ledger's table, functions and triggers (``ledger.sql``), owned by ``conn``'s user (the
    provisioning administrator); ``writer`` (the market's service role) may read the table and
    execute ``exchange.ledger_append``, nothing more; PUBLIC and every other platform role nothing.
    Idempotent: privileges granted by hand are revoked, triggers disabled by hand enabled again."""
    from ibdc import governance  # governance runs this provisioning: imported when it does

    conn.execute(resources.files("ibdc.exchange").joinpath("ledger.sql").read_text(encoding="utf-8"))
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1",
            ([*governance.governance_roles(), writer],),
        )
        existing = [name for (name,) in cur]
    grantees = sql.SQL(", ").join([sql.SQL("PUBLIC"), *map(sql.Identifier, existing)])
    w = sql.Identifier(writer)
    conn.execute(sql.SQL("REVOKE ALL ON exchange.ledger FROM {}").format(grantees))
    for function in (APPEND_FUNCTION, *TRIGGER_FUNCTIONS, *HELPER_FUNCTIONS):
        conn.execute(sql.SQL("REVOKE ALL ON FUNCTION {} FROM {}").format(sql.SQL(function), grantees))
    conn.execute(sql.SQL("GRANT SELECT ON exchange.ledger TO {}").format(w))
    conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(APPEND_FUNCTION), w))
