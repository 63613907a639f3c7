"""The data exchange page's rendering (``ibdc.exchange.page``) on a market made up here: every section is
there, what participants wrote (names, reasons, ledger payloads, contracts) is shown as text and never
as markup, the agreement's status and reads are what its rows say, a broken ledger is named; the app
answers with a content security policy that allows no script, sends a visitor without a session to the
login page, and answers 503 when the market's database cannot be reached."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi import Depends, HTTPException
from fastapi.testclient import TestClient

from ibdc.exchange import ledger, page
from ibdc.exchange.models import Agreement, Approval, Offer, Product
from ibdc.exchange.negotiation import State

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVIL = "<script>alert(1)</script>"
PROVIDER, CONSUMER = "91440000MA5FXXXXX1", "91320000MA5FYYYYY2"
INTACT = ledger.Verification(True, 3, "c" * 64, None, "3 entries, chain intact")


def _contract(product_id: str) -> dict:
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": product_id,
        "description": {"purpose": f"monthly output {EVIL}"},
        "schema": [
            {
                "name": "mart_industrial_output_monthly",
                "properties": [
                    {"name": "province_code", "classification": "level-1", "customProperties": []},
                    {
                        "name": "output_value",
                        "classification": "level-2",
                        "customProperties": [
                            {"property": "securityLevel", "value": 2},
                            {"property": "level2Approved", "value": True},
                        ],
                    },
                    {"name": "remark", "customProperties": []},
                ],
            }
        ],
    }


def _entry(seq: int, kind: str, actor: str, subject: str, payload: dict) -> ledger.LedgerEntry:
    text = ledger.canonical_payload(payload)
    recorded = NOW - timedelta(minutes=10 - seq)
    prev = "0" * 64
    digest = ledger.entry_hash(seq, recorded, kind, actor, subject, text, prev)
    return ledger.LedgerEntry.from_row((seq, recorded, kind, actor, subject, text, prev, digest))


def _snapshot(verification: ledger.Verification | None = None) -> page.Snapshot:
    product = Product(
        product_id="output-gd",
        version="1.0.0",
        provider_id=PROVIDER,
        mart="mart_industrial_output_monthly",
        relation="marts.mart_industrial_output_monthly",
        columns=["province_code", "output_value", "remark"],
        province_code="440000",
        contract=_contract("output-gd"),
        asset_uri="ibdc://warehouse/marts/mart_industrial_output_monthly",
        listed_at=NOW - timedelta(days=2),
        withdrawn_at=None,
    )
    offer = Offer(
        offer_id=uuid.uuid4(),
        product_id="output-gd",
        version="1.0.0",
        provider_id=PROVIDER,
        purposes=["AcademicResearch"],
        use_days=30,
        max_reads=5,
        recipient_id=None,
        delete_after_use=True,
        price_model="paid",
        price_cny="1200.00",
        approval_required=True,
        policy={"@type": "Offer"},
        created_at=NOW - timedelta(days=1),
        withdrawn_at=None,
    )
    approval = Approval(
        approval_id=uuid.uuid4(),
        kind="level2_column",
        provider_id=PROVIDER,
        mart="mart_industrial_output_monthly",
        column_name=f"col{EVIL}",
        negotiation_id=None,
        requested_at=NOW - timedelta(hours=3),
        decision="pending",
        decided_by=None,
        decided_at=None,
        reason=None,
    )

    def agreement(reads: int, terminated: bool) -> Agreement:
        return Agreement(
            agreement_id=uuid.uuid4(),
            negotiation_id=uuid.uuid4(),
            offer_id=offer.offer_id,
            provider_id=PROVIDER,
            consumer_id=CONSUMER,
            product_id="output-gd",
            version="1.0.0",
            policy={
                "@type": "Agreement",
                "permission": [
                    {
                        "constraint": [
                            {"leftOperand": "purpose", "rightOperand": "https://w3id.org/dpv#AcademicResearch"}
                        ]
                    }
                ],
                "note": EVIL,
            },
            policy_sha256="a" * 64,
            signed_at=NOW - timedelta(days=1),
            valid_until=NOW + timedelta(days=29),
            reads=reads,
            terminated_at=NOW - timedelta(hours=1) if terminated else None,
            terminated_by=CONSUMER if terminated else None,
            termination_reason=f"done {EVIL}" if terminated else None,
        )

    active, ended = agreement(2, False), agreement(5, True)
    entries = [
        _entry(1, "participant_registered", "operator", CONSUMER, {"name": EVIL}),
        _entry(2, "read", CONSUMER, str(active.agreement_id), {"rows": 3, "note": f"</code>{EVIL}"}),
        _entry(3, "read_refused", CONSUMER, str(ended.agreement_id), {"reason": f"terminated {EVIL}"}),
    ]
    return page.Snapshot(
        taken_at=NOW,
        counts={
            "participants": 2,
            "products": 1,
            "offers": 1,
            "approvals_pending": 1,
            "negotiations": 2,
            "agreements": 2,
            "ledger": 3,
            "reads": 1,
            "reads_refused": 1,
        },
        names={PROVIDER: "Guangdong centre", CONSUMER: f"{EVIL} Trading & Co"},
        products=[page.ProductRow(product, page.column_levels(product.contract))],
        offers=[offer],
        pending=[approval],
        agreements=[
            page.AgreementRow(active, State.FINALIZED, 5, page.agreement_status(active, State.FINALIZED, 5, NOW)),
            page.AgreementRow(ended, State.FINALIZED, 5, page.agreement_status(ended, State.FINALIZED, 5, NOW)),
        ],
        reads=entries[:0:-1],
        ledger=entries[::-1],
        verification=verification
        or ledger.Verification(True, 3, entries[-1].entry_hash, None, "3 entries, chain intact"),
    )


def test_every_section_is_there_and_user_input_is_text():
    html = page.render(_snapshot())
    for anchor in ("summary", "products", "offers", "approvals", "agreements", "reads", "ledger", "verification"):
        assert f"id={anchor}" in html, anchor
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Trading &amp; Co" in html  # the buyer's name, as text
    assert "done &lt;script&gt;" in html  # the termination's reason
    assert "&lt;/code&gt;&lt;script&gt;" in html  # a payload cannot close its element
    assert "Ledger verified: 3 entries, chain intact" in html
    assert "ODCS contract" in html and "ODRL agreement" in html
    assert "<code>output_value</code>: <span class=level2>level 2 (approved)</span>" in html
    assert "<code>remark</code>: <span class=unclassified>unclassified</span>" in html
    assert "2 of 5" in html and "5 of 5" in html
    assert "AcademicResearch" in html and "paid 1200.00 CNY" in html


def test_the_statuses_and_levels_are_the_rows():
    snap = _snapshot()
    assert [r.status for r in snap.agreements] == ["active", "terminated"]
    assert snap.products[0].levels == [("province_code", 1, False), ("output_value", 2, True), ("remark", None, False)]
    agreement = snap.agreements[0].agreement
    assert page.agreement_status(agreement, State.VERIFIED, 5, NOW) == "not finalized (VERIFIED)"
    assert page.agreement_status(agreement, State.FINALIZED, 2, NOW) == "reads used up"
    assert page.agreement_status(agreement, State.FINALIZED, None, NOW + timedelta(days=30)) == "expired"


def test_a_broken_ledger_is_named():
    broken = ledger.Verification(False, 6, "b" * 64, 7, "entry 7's entry_hash does not match its content (edited)")
    html = page.render(_snapshot(broken))
    assert "Ledger BROKEN at entry 7: entry 7&#x27;s entry_hash does not match its content (edited)" in html
    assert "Ledger verified" not in html


def test_the_app_serves_the_page_without_any_script():
    with TestClient(page.exchange_app(snapshot=_snapshot)) as http:
        answer = http.get("/")
    assert answer.status_code == 200 and "Data exchange" in answer.text
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("default-src 'none';") and "script-src" not in csp and "frame-ancestors 'self'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"


def test_a_visitor_without_a_session_is_sent_to_the_login_and_a_refused_one_gets_403():
    def no_session():
        raise HTTPException(401, "Not authenticated")

    def no_permission():
        raise HTTPException(403, f"not yours {EVIL}")

    login = page.exchange_app([Depends(no_session)], login_url=lambda path: f"/auth/login/?next={path}")
    with TestClient(login, follow_redirects=False) as http:
        answer = http.get("/?x=1")
    assert answer.status_code == 303 and answer.headers["location"] == "/auth/login/?next=/?x=1"
    refused = page.exchange_app([Depends(no_permission)], login_url=lambda path: "/auth/login/")
    with TestClient(refused, follow_redirects=False) as http:
        answer = http.get("/")
    assert answer.status_code == 403 and "<script" not in answer.text and "&lt;script&gt;" in answer.text


def test_an_unreachable_market_is_503(caplog):
    def unreachable():
        raise psycopg.OperationalError("connection refused")

    with TestClient(page.exchange_app(snapshot=unreachable)) as http:
        answer = http.get("/")
    assert answer.status_code == 503 and "cannot be reached" in answer.text
    assert "connection refused" in caplog.text


def test_gather_wants_one_transaction():
    class Autocommit:
        autocommit = True

    with pytest.raises(ValueError, match="one transaction"):
        page.gather(Autocommit())
