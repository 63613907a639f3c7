"""The operator's view of the exchange market: one read-only HTML page, served inside the Airflow UI by
the ``ibdc`` plugin (``plugins/ibdc_airflow_plugin.py``: menu "Data exchange", behind Airflow's login).

:func:`gather` reads the market's tables and its ledger in one read-only snapshot (REPEATABLE READ) as
the market's reader role (``settings.exchange_reader``: SELECT on the market's tables and nothing
else): the products with their ODCS contracts and their
columns' security levels, the offers, the approvals pending, the agreements (state, consumer,
validity, reads used of the offer's limit, termination), the reads (ledger entries ``read`` and
``read_refused``), the ledger's latest entries and :func:`ibdc.exchange.ledger.verify`'s verdict over
the whole chain, in the same snapshot. :func:`render` makes the page of it; :func:`exchange_app` serves
it (FastAPI, ``GET /``).

Everything shown is escaped (product ids, participants' names, purposes, reasons and the ledger's
payloads are participants' input), and the page carries no script at all: its content security policy
allows none (``default-src 'none'``), so even an escaping mistake could not run one in the UI's origin,
where a logged-in user's session lives. The page only reads: its transaction is read-only.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from psycopg import IsolationLevel, sql
from psycopg.rows import dict_row, tuple_row

from ibdc.exchange import ledger
from ibdc.exchange.models import Agreement, Approval, Offer, Product
from ibdc.exchange.negotiation import State
from ibdc.settings import get_settings

# How many rows each section lists (newest first); the counts above them are the tables' own.
LIMIT = 200
LEDGER_LATEST = 50
READ_KINDS = (ledger.EntryKind.READ.value, ledger.EntryKind.READ_REFUSED.value)
# No script, no frame but Airflow's own UI, no form, no base: an HTML page of text and tables.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none';"
    " frame-ancestors 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
CONNECT_TIMEOUT_S = 10
log = logging.getLogger("ibdc.exchange.page")


@dataclasses.dataclass(frozen=True)
class ProductRow:
    product: Product
    levels: list[tuple[str, int | None, bool]]  # each column: (name, security level, level 2 approved)


@dataclasses.dataclass(frozen=True)
class AgreementRow:
    agreement: Agreement
    negotiation_state: State
    max_reads: int | None  # the offer's limit; None: no limit
    status: str  # active, terminated, expired, not finalized (<state>), reads used up


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What the page shows, read in one snapshot. ``counts``: each table's rows (``approvals_pending``,
    ``reads``, ``reads_refused``: of those kinds); the lists hold at most ``LIMIT`` rows, newest first
    (``ledger`` the latest ``LEDGER_LATEST`` entries)."""

    taken_at: datetime
    counts: dict[str, int]
    names: dict[str, str]  # participant id -> name
    products: list[ProductRow]
    offers: list[Offer]
    pending: list[Approval]
    agreements: list[AgreementRow]
    reads: list[ledger.LedgerEntry]
    ledger: list[ledger.LedgerEntry]
    verification: ledger.Verification


def column_levels(contract: Mapping[str, Any]) -> list[tuple[str, int | None, bool]]:
    """Each column of an ODCS contract (``ibdc.exchange.contracts``): its name, MIIT security level (the
    ``securityLevel`` custom property, else ``classification`` ``level-N``) and whether it is a level-2
    column listed with the operator's approval."""
    found = []
    for obj in contract.get("schema") or []:
        for prop in obj.get("properties") or []:
            custom = {c.get("property"): c.get("value") for c in prop.get("customProperties") or []}
            level = custom.get("securityLevel")
            classification = str(prop.get("classification") or "")
            if level is None and classification.startswith("level-") and classification[6:].isdigit():
                level = int(classification[6:])
            found.append((str(prop.get("name")), level, bool(custom.get("level2Approved"))))
    return found


def agreement_status(agreement: Agreement, state: State, max_reads: int | None, now: datetime) -> str:
    """Why the agreement gives access now or not, in a word or two (as ``Market.access`` decides)."""
    if agreement.terminated_at is not None:
        return "terminated"
    if state is not State.FINALIZED:
        return f"not finalized ({state.value})"
    if now >= agreement.valid_until:
        return "expired"
    if max_reads is not None and agreement.reads >= max_reads:
        return "reads used up"
    return "active"


def _entries(conn: psycopg.Connection, where: sql.Composable, params: dict) -> list[ledger.LedgerEntry]:
    query = sql.SQL("SELECT {} FROM exchange.ledger WHERE {} ORDER BY seq DESC LIMIT %(limit)s").format(
        sql.SQL(", ").join(map(sql.Identifier, ledger.COLUMNS)), where
    )
    with conn.cursor(row_factory=tuple_row) as cur:
        return [ledger.LedgerEntry.from_row(row) for row in cur.execute(query, params).fetchall()]


def _rows(conn: psycopg.Connection, query: str, params: dict | None = None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def gather(
    conn: psycopg.Connection, *, limit: int = LIMIT, latest: int = LEDGER_LATEST, now: datetime | None = None
) -> Snapshot:
    """The page's data from ``conn`` (a connection as the market's service role, not in a transaction),
    in one read-only REPEATABLE READ transaction: every count, list and the ledger's verification see the
    same state."""
    if conn.autocommit:
        raise ValueError("gather reads in one transaction: give it a connection that is not in autocommit")
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction():
        taken_at = now or datetime.now(UTC)
        p = {"limit": limit, "latest": latest, "reads": list(READ_KINDS)}
        (counts,) = _rows(
            conn,
            "SELECT (SELECT count(*) FROM exchange.participants) AS participants,"
            " (SELECT count(*) FROM exchange.products) AS products,"
            " (SELECT count(*) FROM exchange.offers) AS offers,"
            " (SELECT count(*) FROM exchange.approvals WHERE decision = 'pending') AS approvals_pending,"
            " (SELECT count(*) FROM exchange.negotiations) AS negotiations,"
            " (SELECT count(*) FROM exchange.agreements) AS agreements,"
            " (SELECT count(*) FROM exchange.ledger) AS ledger,"
            " (SELECT count(*) FROM exchange.ledger WHERE kind = 'read') AS reads,"
            " (SELECT count(*) FROM exchange.ledger WHERE kind = 'read_refused') AS reads_refused",
        )
        names = {
            r["participant_id"]: r["name"]
            for r in _rows(conn, "SELECT participant_id, name FROM exchange.participants")
        }
        products = [
            ProductRow(product, column_levels(product.contract))
            for product in map(
                Product.from_row,
                _rows(conn, "SELECT * FROM exchange.products ORDER BY listed_at DESC, product_id LIMIT %(limit)s", p),
            )
        ]
        offers = [
            Offer.from_row(r)
            for r in _rows(conn, "SELECT * FROM exchange.offers ORDER BY created_at DESC LIMIT %(limit)s", p)
        ]
        pending = [
            Approval.from_row(r)
            for r in _rows(
                conn,
                "SELECT * FROM exchange.approvals WHERE decision = 'pending'"
                " ORDER BY requested_at DESC LIMIT %(limit)s",
                p,
            )
        ]
        agreements = []
        for r in _rows(
            conn,
            "SELECT a.*, n.state AS negotiation_state, o.max_reads FROM exchange.agreements a"
            " JOIN exchange.negotiations n ON n.negotiation_id = a.negotiation_id"
            " JOIN exchange.offers o ON o.offer_id = a.offer_id"
            " ORDER BY a.signed_at DESC, a.agreement_id LIMIT %(limit)s",
            p,
        ):
            agreement, state = Agreement.from_row(r), State(r["negotiation_state"])
            status = agreement_status(agreement, state, r["max_reads"], taken_at)
            agreements.append(AgreementRow(agreement, state, r["max_reads"], status))
        reads = _entries(conn, sql.SQL("kind = ANY(%(reads)s)"), p)
        latest_entries = _entries(conn, sql.SQL("TRUE"), {"limit": latest})
        verification = ledger.verify(conn)
    return Snapshot(
        taken_at=taken_at,
        counts=dict(counts),
        names=names,
        products=products,
        offers=offers,
        pending=pending,
        agreements=agreements,
        reads=reads,
        ledger=latest_entries,
        verification=verification,
    )


def read_snapshot(dsn: str | None = None) -> Snapshot:
    """:func:`gather` on a connection of its own to ``dsn`` (default: ``settings.exchange_reader``)."""
    with psycopg.connect(
        dsn or get_settings().exchange_reader, connect_timeout=CONNECT_TIMEOUT_S, application_name="ibdc-exchange-page"
    ) as conn:
        return gather(conn)


# --- the page ---------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    """``value`` as HTML text: every character that could open markup or close an attribute escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def _time(moment: datetime | None) -> str:
    return "" if moment is None else _e(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _who(snapshot: Snapshot, participant_id: str | None) -> str:
    if participant_id is None:
        return "any"
    name = snapshot.names.get(participant_id)
    return f"{_e(name)} <code>{_e(participant_id)}</code>" if name is not None else f"<code>{_e(participant_id)}</code>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f"<p class=empty>{_e(empty)}</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(anchor: str, title: str, shown: int, total: int, content: str, note: str = "") -> str:
    more = f" (the {shown} newest of {total})" if shown < total else f" ({total})"
    note_html = f"<p class=note>{_e(note)}</p>" if note else ""
    return f"<section id={anchor}><h2>{_e(title)}{_e(more)}</h2>{note_html}{content}</section>"


def _levels(levels: Sequence[tuple[str, int | None, bool]]) -> str:
    items = []
    for name, level, approved in levels:
        label = "unclassified" if level is None else f"level {level}" + (" (approved)" if approved else "")
        css = "unclassified" if level is None else f"level{_e(level)}"
        items.append(f"<li><code>{_e(name)}</code>: <span class={css}>{_e(label)}</span></li>")
    return f"<ul class=levels>{''.join(items)}</ul>"


def _json_details(summary: str, document: Any) -> str:
    text = json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False, default=str)
    return f"<details><summary>{_e(summary)}</summary><pre>{_e(text)}</pre></details>"


def _payload(entry: ledger.LedgerEntry) -> str:
    return f"<code class=payload>{_e(entry.payload_json)}</code>"


def _ledger_rows(snapshot: Snapshot, entries: Sequence[ledger.LedgerEntry]) -> list[list[str]]:
    return [
        [
            _e(e.seq),
            _time(e.recorded_at),
            _e(e.kind),
            _who(snapshot, e.actor) if e.actor in snapshot.names else f"<code>{_e(e.actor)}</code>",
            f"<code>{_e(e.subject)}</code>",
            _payload(e),
            f"<code title='{_e(e.entry_hash)}'>{_e(e.entry_hash[:16])}…</code>",
        ]
        for e in entries
    ]


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1rem 1.5rem; color: #1a1a1a; font-size: 14px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #d0d0d0; padding: 4px 6px;
  text-align: left; vertical-align: top; } th { background: #f2f2f2; }
code { font-size: 12px; } .payload { word-break: break-all; } pre { max-height: 30rem; overflow: auto;
  background: #f8f8f8; padding: 6px; } ul.levels { margin: 0; padding-left: 1rem; }
.level1 { color: #1b6e1b; } .level2 { color: #a15c00; font-weight: 600; } .level3 { color: #b00020; }
.unclassified { color: #b00020; } .ok { color: #1b6e1b; font-weight: 600; }
.broken { color: #b00020; font-weight: 600; } .empty, .note { color: #555; }
"""


NAV = " · ".join(
    f"<a href=#{anchor}>{title}</a>"
    for anchor, title in (
        ("products", "Products"),
        ("offers", "Offers"),
        ("approvals", "Pending approvals"),
        ("agreements", "Agreements"),
        ("reads", "Reads"),
        ("ledger", "Ledger"),
    )
)


def render(snapshot: Snapshot) -> str:
    """The page's HTML (every value escaped; no script)."""
    c = snapshot.counts
    v = snapshot.verification
    if v.ok:
        verdict = f"<p id=verification class=ok>Ledger verified: {_e(v.reason)}; head {_e(v.head_hash)}</p>"
    else:
        verdict = (
            f"<p id=verification class=broken>Ledger BROKEN at entry {_e(v.first_broken)}: {_e(v.reason)}"
            f" ({_e(v.entries)} entries verified before it; last good hash {_e(v.head_hash)})</p>"
        )
    summary = _table(
        [
            "participants",
            "products",
            "offers",
            "approvals pending",
            "negotiations",
            "agreements",
            "reads",
            "reads refused",
            "ledger entries",
        ],
        [
            [
                _e(c[k])
                for k in (
                    "participants",
                    "products",
                    "offers",
                    "approvals_pending",
                    "negotiations",
                    "agreements",
                    "reads",
                    "reads_refused",
                    "ledger",
                )
            ]
        ],
        "",
    )
    products = _table(
        [
            "product",
            "version",
            "provider",
            "mart",
            "relation served",
            "rows",
            "columns and security levels",
            "contract",
        ],
        [
            [
                f"<code>{_e(r.product.product_id)}</code>",
                _e(r.product.version),
                _who(snapshot, r.product.provider_id),
                f"<code>{_e(r.product.mart)}</code>",
                f"<code>{_e(r.product.relation)}</code>",
                _e(r.product.province_code or "every province"),
                _levels(r.levels),
                _json_details("ODCS contract", r.product.contract)
                + (f"<p>withdrawn {_time(r.product.withdrawn_at)}</p>" if r.product.withdrawn_at else ""),
            ]
            for r in snapshot.products
        ],
        "No product is listed.",
    )
    offers = _table(
        ["offer", "product", "provider", "purposes", "days of use", "reads", "recipient", "price", "approval", "made"],
        [
            [
                f"<code>{_e(o.offer_id)}</code>" + (" (withdrawn)" if o.withdrawn_at else ""),
                f"<code>{_e(o.product_id)}</code> {_e(o.version)}",
                _who(snapshot, o.provider_id),
                _e(", ".join(p.value for p in o.purposes)),
                _e(o.use_days),
                _e(_limit(o.max_reads)),
                _who(snapshot, o.recipient_id),
                _e(o.price_model.value + (f" {o.price_cny} CNY" if o.price_cny is not None else "")),
                "required" if o.approval_required else "no",
                _time(o.created_at),
            ]
            for o in snapshot.offers
        ],
        "No offer is made.",
    )
    pending = _table(
        ["approval", "kind", "provider", "what", "requested"],
        [
            [
                f"<code>{_e(a.approval_id)}</code>",
                _e(a.kind.value),
                _who(snapshot, a.provider_id),
                (
                    f"column <code>{_e(a.mart)}.{_e(a.column_name)}</code>"
                    if a.column_name
                    else f"negotiation <code>{_e(a.negotiation_id)}</code>"
                ),
                _time(a.requested_at),
            ]
            for a in snapshot.pending
        ],
        "No approval is pending.",
    )
    agreements = _table(
        [
            "agreement",
            "status",
            "product",
            "consumer",
            "provider",
            "purpose",
            "signed",
            "valid until",
            "reads",
            "ended",
        ],
        [
            [
                f"<code>{_e(r.agreement.agreement_id)}</code>"
                + _json_details("ODRL agreement", r.agreement.policy)
                + f"<p>sha-256 <code>{_e(r.agreement.policy_sha256)}</code></p>",
                f"{_e(r.status)}<br>negotiation {_e(r.negotiation_state.value)}",
                f"<code>{_e(r.agreement.product_id)}</code> {_e(r.agreement.version)}",
                _who(snapshot, r.agreement.consumer_id),
                _who(snapshot, r.agreement.provider_id),
                _e(_purpose(r.agreement.policy)),
                _time(r.agreement.signed_at),
                _time(r.agreement.valid_until),
                f"<span class=reads>{_e(r.agreement.reads)} of {_e(_limit(r.max_reads))}</span>",
                (
                    f"{_time(r.agreement.terminated_at)} by {_who(snapshot, r.agreement.terminated_by)}:"
                    f" {_e(r.agreement.termination_reason)}"
                    if r.agreement.terminated_at
                    else ""
                ),
            ]
            for r in snapshot.agreements
        ],
        "No agreement is signed.",
    )
    ledger_headers = ["seq", "recorded", "kind", "actor", "subject", "payload", "hash"]
    reads = _table(ledger_headers, _ledger_rows(snapshot, snapshot.reads), "No read is recorded.")
    entries = _table(ledger_headers, _ledger_rows(snapshot, snapshot.ledger), "The ledger is empty.")
    sections = [
        _section("products", "Products", len(snapshot.products), c["products"], products),
        _section("offers", "Offers", len(snapshot.offers), c["offers"], offers),
        _section("approvals", "Pending approvals", len(snapshot.pending), c["approvals_pending"], pending),
        _section("agreements", "Agreements", len(snapshot.agreements), c["agreements"], agreements),
        _section(
            "reads",
            "Reads",
            len(snapshot.reads),
            c["reads"] + c["reads_refused"],
            reads,
            "Ledger entries of kind read and read_refused: answered and refused queries under agreements.",
        ),
        _section("ledger", "Ledger", len(snapshot.ledger), c["ledger"], verdict + entries),
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Data exchange</title>"
        f"<style>{STYLE}</style></head><body><h1>Data exchange</h1>"
        f"<p class=note>The market at {_time(snapshot.taken_at)}, read-only, as one snapshot of schema exchange.</p>"
        f"<nav>{NAV}</nav><section id=summary class=summary>{summary}</section>{''.join(sections)}</body></html>"
    )


def _limit(max_reads: int | None) -> str:
    return "no limit" if max_reads is None else str(max_reads)


def _purpose(policy: Mapping[str, Any]) -> str:
    """The purpose an ODRL agreement states (``purpose eq``), or ''."""
    for permission in policy.get("permission") or []:
        for constraint in permission.get("constraint") or []:
            if constraint.get("leftOperand") == "purpose":
                value = constraint.get("rightOperand")
                return str(value).rsplit("#", 1)[-1] if value else ""
    return ""


def exchange_app(
    dependencies: Sequence[Depends] = (),
    login_url: Callable[[str], str] | None = None,
    snapshot: Callable[[], Snapshot] = read_snapshot,
) -> FastAPI:
    """The page as a FastAPI app: ``GET /`` (HTML). ``dependencies`` run first: the Airflow plugin passes
    its login and permission check; a 401 they raise (no session, or an expired one) is answered with a
    redirect to ``login_url(<this page's path>)`` when given. 503 when the market's database cannot be
    reached (logged; no connection detail on the page). ``snapshot``: where the data comes from."""
    app = FastAPI(
        title="IBDC data exchange", docs_url=None, redoc_url=None, openapi_url=None, dependencies=list(dependencies)
    )

    if login_url is not None:

        @app.exception_handler(HTTPException)
        async def _to_login(request: Request, exc: HTTPException) -> Response:
            if exc.status_code == 401 and request.method == "GET":
                path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(login_url(path), status_code=303, headers={"Cache-Control": "no-store"})
            return HTMLResponse(
                f"<!DOCTYPE html><title>{exc.status_code}</title><p>{_e(exc.detail)}</p>",
                status_code=exc.status_code,
                headers={**PAGE_HEADERS, **(exc.headers or {})},
            )

    @app.get("/", response_class=HTMLResponse)
    def _page() -> HTMLResponse:
        try:
            taken = snapshot()
        except psycopg.OperationalError as error:
            log.error("the data exchange page cannot read the market: %s", str(error).strip()[:500])
            return HTMLResponse(
                "<!DOCTYPE html><title>Data exchange</title><h1>Data exchange</h1>"
                "<p>The market's database cannot be reached (see the api-server's log).</p>",
                status_code=503,
                headers=PAGE_HEADERS,
            )
        return HTMLResponse(render(taken), headers=PAGE_HEADERS)

    return app
