"""The exchange market over HTTP on the local stack (issue 21): a provider lists a product generated from a
mart, its ODCS contract validates against the standard's JSON schema; the gate refuses a level-2 column
without approval, personal data, another province's rows, a rank and a request without a purpose, each a
ledger entry; a negotiation walks the Dataspace Protocol's states and an illegal jump is refused; an
agreement is hashed and its termination recorded; the ledger verifies through the API and the CLI.

Every run registers participants and products of its own (random credit codes, product ids), so runs
do not meet in the shared test database."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import sys
import uuid
from importlib import resources

import jsonschema
import psycopg
import pytest
import requests
import rfc8785
from psycopg.rows import dict_row

from ibdc import uscc
from ibdc.exchange import ledger
from ibdc.exchange.market import Market
from ibdc.exchange.models import Role

pytestmark = pytest.mark.integration

OUTPUT = "mart_industrial_output_monthly"
LEVEL1 = ["province_code", "period_month", "product_code", "product_name_en", "unit_code", "months_covered"]


def credit_code(kind: str = "9") -> str:
    first17 = kind + "".join(secrets.choice(uscc.CHARSET) for _ in range(16))
    return first17 + uscc.check_digit(first17)


@pytest.fixture(scope="module")
def market_db(services):
    with psycopg.connect(services.exchange, autocommit=True) as conn:
        yield Market(conn)


@pytest.fixture(scope="module")
def people(services, market_db):
    """An operator, Guangdong's provincial centre, the national centre and a buyer: id -> (participant, key)."""
    made = {}
    for name, province, roles in [
        ("operator", None, [Role.OPERATOR]),
        ("guangdong", "440000", [Role.PROVIDER]),
        ("national", None, [Role.PROVIDER]),
        ("buyer", "320000", [Role.CONSUMER]),
    ]:
        made[name] = market_db.register(credit_code(), f"test {name} {uuid.uuid4().hex[:6]}", province, roles)
    return made


class Client:
    def __init__(self, base: str, key: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {key}"}

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=30, **kw)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(self.base + path, headers=self.headers, json=body or {}, timeout=30)


@pytest.fixture(scope="module")
def http(services, people):
    return {name: Client(services.exchange_url, key) for name, (_, key) in people.items()}


def product_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def entries_about(services, subject: str) -> list[ledger.LedgerEntry]:
    with psycopg.connect(services.warehouse, autocommit=True) as conn:
        return ledger.entries(conn, subject=subject, limit=1000)


def refusal(response: requests.Response, status: int, rule: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == rule, body
    return body


def test_a_call_without_a_key_or_with_a_wrong_one_is_unauthenticated(services):
    assert requests.get(services.exchange_url + "/products", timeout=10).status_code == 401
    wrong = Client(services.exchange_url, secrets.token_urlsafe(32))
    refusal(wrong.get("/products"), 401, "bad_credentials")
    spec = requests.get(services.exchange_url + "/openapi.json", timeout=10).json()
    assert {"/products", "/negotiations", "/agreements/{agreement_id}/termination"} <= set(spec["paths"])


def test_a_provincial_centre_lists_its_rows_of_a_mart_with_a_valid_odcs_contract(services, http, people):
    pid = product_id()
    answer = http["guangdong"].post(
        "/products",
        {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"},
    )
    assert answer.status_code == 201, answer.text
    listed = answer.json()
    assert listed["relation"] == f"marts.{OUTPUT}" and listed["columns"] == LEVEL1
    document = http["buyer"].get(f"/products/{pid}/versions/1.0.0/contract").json()
    schema = json.loads(resources.files("open_data_contract_standard").joinpath("schema.json").read_text())
    jsonschema.validate(document, schema)  # the standard's own JSON schema
    assert document["apiVersion"] == "v3.2.0" and document["kind"] == "DataContract"
    properties = [p["name"] for obj in document["schema"] for p in obj["properties"]]
    assert properties == LEVEL1
    (entry,) = [e for e in entries_about(services, f"{pid}@1.0.0") if e.kind == ledger.EntryKind.PRODUCT_LISTED]
    assert entry.actor == people["guangdong"][0].participant_id
    assert entry.payload["contract_sha256"] == hashlib.sha256(rfc8785.dumps(document)).hexdigest()


@pytest.mark.parametrize(
    ("who", "mart", "columns", "province", "rule"),
    [
        ("guangdong", OUTPUT, [*LEVEL1, "output_value"], "440000", "level2_not_approved"),
        ("guangdong", "dim_enterprise", ["uscc", "province_code", "legal_representative"], "440000", "personal_data"),
        ("guangdong", OUTPUT, LEVEL1, "110000", "other_province"),
        ("guangdong", OUTPUT, LEVEL1, None, "other_province"),
        ("national", OUTPUT, ["province_code", "period_month", "product_code", "province_rank"], None, "disclosure"),
        ("buyer", OUTPUT, LEVEL1, "320000", "not_provider"),
    ],
    ids=[
        "level2-without-approval",
        "personal-data",
        "other-province",
        "every-province-by-a-province",
        "rank",
        "not-a-provider",
    ],
)
def test_the_gate_refuses_and_records_each_refusal(services, http, people, who, mart, columns, province, rule):
    pid = product_id()
    body = {"product_id": pid, "version": "1.0.0", "mart": mart, "columns": columns, "province_code": province}
    refusal(http[who].post("/products", body), 403, rule)
    assert http[who].get(f"/products/{pid}").status_code == 404  # nothing listed
    (entry,) = entries_about(services, f"{pid}@1.0.0")
    assert entry.kind == ledger.EntryKind.PRODUCT_REFUSED and entry.payload["rule"] == rule
    assert entry.actor == people[who][0].participant_id


def test_a_level2_column_is_listed_after_the_operators_recorded_approval_and_a_rank_never(services, http, people):
    pid = product_id()
    body = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": [*LEVEL1, "output_value"]}
    body["province_code"] = "440000"
    refusal(http["guangdong"].post("/products", body), 403, "level2_not_approved")
    pending = [
        a
        for a in http["operator"].get("/approvals", params={"pending": "true"}).json()
        if a["provider_id"] == people["guangdong"][0].participant_id and a["column_name"] == "output_value"
    ]
    assert len(pending) == 1 and pending[0]["kind"] == "level2_column"
    # Only the operator decides.
    refusal(
        http["guangdong"].post(f"/approvals/{pending[0]['approval_id']}/decision", {"approve": True, "reason": "x"}),
        403,
        "not_operator",
    )
    decided = http["operator"].post(
        f"/approvals/{pending[0]['approval_id']}/decision", {"approve": True, "reason": "aggregate monthly output"}
    )
    assert decided.status_code == 200 and decided.json()["decision"] == "approved"
    assert http["guangdong"].post("/products", body).status_code == 201
    (entry,) = [
        e for e in entries_about(services, pending[0]["approval_id"]) if e.kind == ledger.EntryKind.APPROVAL_DECIDED
    ]
    assert entry.actor == people["operator"][0].participant_id and entry.payload["decision"] == "approved"
    # An approved level-2 rank is still a rank: disclosure control never shows ranks to the exchange.
    national = {"product_id": product_id(), "version": "1.0.0", "mart": OUTPUT, "columns": [*LEVEL1, "province_rank"]}
    refusal(http["guangdong"].post("/products", {**national, "province_code": "440000"}), 403, "disclosure")


def test_an_aggregate_over_provinces_is_served_from_the_disclosure_controlled_view(http):
    columns = ["province_code", "period_month", "product_code", "national_output_value"]
    body = {"product_id": product_id(), "version": "1.0.0", "mart": OUTPUT, "columns": columns}
    refused = refusal(http["national"].post("/products", body), 403, "level2_not_approved")
    approval_id = refused["detail"].split("approvals ")[1].split(" ")[0]
    decided = http["operator"].post(
        f"/approvals/{approval_id}/decision", {"approve": True, "reason": "national totals"}
    )
    assert decided.status_code == 200, decided.text
    answer = http["national"].post("/products", body)
    assert answer.status_code == 201, answer.text
    # The national total over provinces: the governance layer's view suppresses cells under the threshold
    # or dominance rule; the mart's own column is never what a buyer's product reads.
    assert answer.json()["relation"] == f"marts.{OUTPUT}_disclosed"


@pytest.fixture(scope="module")
def offered(http):
    pid = product_id()
    listing = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"}
    assert http["guangdong"].post("/products", listing).status_code == 201
    terms = {"purposes": ["AcademicResearch", "CommercialResearch"], "use_days": 30, "max_reads": 5}
    answer = http["guangdong"].post(f"/products/{pid}/versions/1.0.0/offers", terms)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_offer_is_an_odrl_policy_of_its_terms(offered, people):
    policy = offered["policy"]
    assert policy["@context"] == "http://www.w3.org/ns/odrl.jsonld" and policy["@type"] == "Offer"
    assert policy["assigner"] == f"urn:uscc:{people['guangdong'][0].participant_id}"
    (permission,) = policy["permission"]
    constraints = {c["leftOperand"]: c for c in permission["constraint"]}
    assert constraints["purpose"]["rightOperand"] == [
        {"@id": "https://w3id.org/dpv#AcademicResearch"},
        {"@id": "https://w3id.org/dpv#CommercialResearch"},
    ]
    assert constraints["elapsedTime"]["rightOperand"]["@value"] == "P30D"
    assert constraints["count"]["rightOperand"] == 5
    assert [d["action"] for d in permission["duty"]] == ["delete"]


def test_a_request_states_a_purpose_the_offer_allows(services, http, offered):
    refusal(http["buyer"].post("/negotiations", {"offer_id": offered["offer_id"]}), 403, "purpose_missing")
    refusal(
        http["buyer"].post("/negotiations", {"offer_id": offered["offer_id"], "purpose": " "}), 403, "purpose_missing"
    )
    refusal(
        http["buyer"].post("/negotiations", {"offer_id": offered["offer_id"], "purpose": "Marketing"}),
        403,
        "purpose_not_offered",
    )
    rules = [
        e.payload["rule"]
        for e in entries_about(services, offered["offer_id"])
        if e.kind == ledger.EntryKind.REQUEST_REFUSED
    ]
    assert rules == ["purpose_missing", "purpose_missing", "purpose_not_offered"]


def test_a_negotiation_walks_the_dataspace_protocol_states_and_an_illegal_jump_is_refused(services, http, offered):
    answer = http["buyer"].post("/negotiations", {"offer_id": offered["offer_id"], "purpose": "AcademicResearch"})
    assert answer.status_code == 201 and answer.json()["state"] == "REQUESTED"
    nid = answer.json()["negotiation_id"]
    refusal(http["buyer"].post(f"/negotiations/{nid}/finalize"), 409, "illegal_transition")  # REQUESTED -> FINALIZED
    refusal(http["buyer"].post(f"/negotiations/{nid}/agree"), 409, "wrong_party")  # the provider agrees
    assert http["national"].post(f"/negotiations/{nid}/agree").status_code == 404  # not a party
    walk = [("guangdong", "offer", "OFFERED"), ("buyer", "accept", "ACCEPTED"), ("guangdong", "agree", "AGREED")]
    walk += [("buyer", "verify", "VERIFIED"), ("guangdong", "finalize", "FINALIZED")]
    for who, event, state in walk:
        moved = http[who].post(f"/negotiations/{nid}/{event}")
        assert moved.status_code == 200 and moved.json()["state"] == state, moved.text
    refusal(http["guangdong"].post(f"/negotiations/{nid}/terminate"), 409, "illegal_transition")  # FINALIZED is final
    events = [
        (e.payload["from"], e.payload["to"])
        for e in entries_about(services, nid)
        if e.kind == ledger.EntryKind.NEGOTIATION_EVENT
    ]
    assert events == [
        (None, "REQUESTED"),
        ("REQUESTED", "OFFERED"),
        ("OFFERED", "ACCEPTED"),
        ("ACCEPTED", "AGREED"),
        ("AGREED", "VERIFIED"),
        ("VERIFIED", "FINALIZED"),
    ]
    refused = [e.payload["rule"] for e in entries_about(services, nid) if e.kind == ledger.EntryKind.REQUEST_REFUSED]
    assert refused == ["illegal_transition", "wrong_party", "illegal_transition"]

    (agreement,) = [a for a in http["buyer"].get("/agreements").json() if a["negotiation_id"] == nid]
    assert agreement["policy_sha256"] == hashlib.sha256(rfc8785.dumps(agreement["policy"])).hexdigest()
    assert agreement["policy"]["@type"] == "Agreement"
    assert agreement["policy"]["assignee"] == f"urn:uscc:{agreement['consumer_id']}"
    assert http["national"].get(f"/agreements/{agreement['agreement_id']}").status_code == 404

    # The agreement's terms cannot change, even for the table's owner while its trigger stands.
    with psycopg.connect(services.warehouse, autocommit=True) as admin, pytest.raises(psycopg.errors.RaiseException):
        admin.execute(
            "UPDATE exchange.agreements SET valid_until = valid_until + interval '1 year' WHERE agreement_id = %s",
            (agreement["agreement_id"],),
        )

    ended = http["buyer"].post(f"/agreements/{agreement['agreement_id']}/termination", {"reason": "project closed"})
    assert ended.status_code == 200 and ended.json()["terminated_at"] is not None
    refusal(
        http["guangdong"].post(f"/agreements/{agreement['agreement_id']}/termination", {"reason": "again"}),
        403,
        "terminated",
    )
    kinds = [e.kind for e in entries_about(services, agreement["agreement_id"])]
    assert kinds == [
        ledger.EntryKind.AGREEMENT_SIGNED,
        ledger.EntryKind.AGREEMENT_TERMINATED,
        ledger.EntryKind.REQUEST_REFUSED,
    ]


def test_an_offer_requiring_approval_is_agreed_only_after_the_operator_approves(http, people):
    pid = product_id()
    listing = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"}
    assert http["guangdong"].post("/products", listing).status_code == 201
    terms = {"purposes": ["ServiceProvision"], "approval_required": True, "price_model": "paid", "price_cny": "1200.00"}
    offer = http["guangdong"].post(f"/products/{pid}/versions/1.0.0/offers", terms).json()
    duty = offer["policy"]["permission"][0]["duty"]
    assert {"action": "compensate"}.items() <= duty[-1].items() and duty[-1]["constraint"][0]["rightOperand"][
        "@value"
    ] == "1200.00"
    nid = (
        http["buyer"]
        .post("/negotiations", {"offer_id": offer["offer_id"], "purpose": "ServiceProvision"})
        .json()["negotiation_id"]
    )
    refusal(http["guangdong"].post(f"/negotiations/{nid}/agree"), 403, "approval_pending")
    (approval,) = [a for a in http["operator"].get("/approvals").json() if a["negotiation_id"] == nid]
    http["operator"].post(f"/approvals/{approval['approval_id']}/decision", {"approve": True, "reason": "buyer vetted"})
    assert http["guangdong"].post(f"/negotiations/{nid}/agree").json()["state"] == "AGREED"


def test_the_ledger_verifies_through_the_api_and_the_cli(services, http):
    verified = http["operator"].get("/ledger/verification").json()
    assert verified["ok"] is True and verified["first_broken"] is None and verified["entries"] >= 20
    cli = subprocess.run(
        [sys.executable, "-m", "ibdc.cli", "exchange", "verify"], capture_output=True, text=True, timeout=120
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["entries"] >= verified["entries"]


def test_the_cli_registers_a_participant_only_for_an_operator(services, people):
    code = credit_code()
    base = [sys.executable, "-m", "ibdc.cli", "exchange"]
    add = ["participants", "add", "--id", code, "--name", "CLI buyer", "--roles", "consumer"]
    refused = subprocess.run(
        [*base, "--as", people["buyer"][0].participant_id, *add], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 3 and "not_operator" in refused.stderr
    done = subprocess.run(
        [*base, "--as", people["operator"][0].participant_id, *add], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)["api_key"]
    me = Client(services.exchange_url, key).get("/participants/me").json()
    assert me["participant_id"] == code and me["roles"] == ["consumer"]
    with psycopg.connect(services.warehouse, row_factory=dict_row) as admin:
        kept = admin.execute(
            "SELECT api_key_sha256 FROM exchange.participants WHERE participant_id = %s", (code,)
        ).fetchone()
    assert bytes(kept["api_key_sha256"]) == hashlib.sha256(key.encode()).digest()  # the digest, never the key


def test_out_of_range_terms_are_refused_as_invalid_not_a_server_error(http):
    pid = product_id()
    listing = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"}
    assert http["guangdong"].post("/products", listing).status_code == 201
    for terms in (
        {"purposes": ["AcademicResearch"], "use_days": 99_999_999_999},
        {"purposes": ["AcademicResearch"], "price_model": "paid", "price_cny": "1e20"},
        {"purposes": ["AcademicResearch"], "price_model": "paid", "price_cny": "1.005"},  # stored and hashed alike
        {"purposes": ["AcademicResearch"], "max_reads": 0},
        {"purposes": []},
    ):
        refusal(http["guangdong"].post(f"/products/{pid}/versions/1.0.0/offers", terms), 422, "invalid")
    refusal(http["guangdong"].post("/products", {**listing, "product_id": "has.dot"}), 400, "invalid")


def test_an_offer_to_one_recipient_is_seen_and_requested_by_it_alone(services, http, people, market_db):
    pid = product_id()
    listing = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"}
    assert http["guangdong"].post("/products", listing).status_code == 201
    other, other_key = market_db.register(credit_code(), "another buyer", None, [Role.CONSUMER])
    terms = {"purposes": ["AcademicResearch"], "recipient_id": people["buyer"][0].participant_id}
    offer = http["guangdong"].post(f"/products/{pid}/versions/1.0.0/offers", terms).json()
    assert offer["policy"]["assignee"] == f"urn:uscc:{people['buyer'][0].participant_id}"
    outsider = Client(services.exchange_url, other_key)
    assert offer["offer_id"] not in [o["offer_id"] for o in outsider.get("/offers").json()]
    assert outsider.get(f"/offers/{offer['offer_id']}").status_code == 404
    request = {"offer_id": offer["offer_id"], "purpose": "AcademicResearch"}
    assert outsider.post("/negotiations", request).status_code == 404
    assert http["buyer"].post("/negotiations", request).status_code == 201
    # A retried request opens no second negotiation (one open request or agreement per consumer and offer).
    refusal(http["buyer"].post("/negotiations", request), 403, "open_request")


def test_the_operator_does_not_decide_its_own_approval(services, market_db):
    both, key = market_db.register(credit_code(), "provider and operator", None, [Role.PROVIDER, Role.OPERATOR])
    client = Client(services.exchange_url, key)
    body = {"product_id": product_id(), "version": "1.0.0", "mart": OUTPUT, "columns": [*LEVEL1, "output_value"]}
    refused = refusal(client.post("/products", body), 403, "level2_not_approved")
    approval_id = refused["detail"].split("approvals ")[1].split(" ")[0]
    refusal(client.post(f"/approvals/{approval_id}/decision", {"approve": True, "reason": "mine"}), 403, "own_approval")
    (entry,) = [e for e in entries_about(services, approval_id) if e.kind == ledger.EntryKind.REQUEST_REFUSED]
    assert entry.payload["rule"] == "own_approval" and entry.payload["operation"] == "decide"


def test_a_non_operator_asking_for_the_approvals_is_refused_and_recorded(services, http, people):
    refusal(http["buyer"].get("/approvals"), 403, "not_operator")
    refusal(http["buyer"].get("/ledger/verification"), 403, "not_operator")
    mine = [e for e in entries_about(services, "approvals") if e.actor == people["buyer"][0].participant_id]
    assert [e.payload["rule"] for e in mine] == ["not_operator"]


def test_racing_ends_of_one_agreement_and_racing_listings_never_deadlock(services, http, people):
    """Two ways of ending one agreement at once (the negotiation's terminate and the agreement's
    termination), and two listings asking the same level-2 approvals in the opposite order: each answers
    a decision or a refusal, never a server error (the market's writes take one lock first)."""
    from concurrent.futures import ThreadPoolExecutor

    pid = product_id()
    listing = {"product_id": pid, "version": "1.0.0", "mart": OUTPUT, "columns": LEVEL1, "province_code": "440000"}
    assert http["guangdong"].post("/products", listing).status_code == 201
    offer = http["guangdong"].post(f"/products/{pid}/versions/1.0.0/offers", {"purposes": ["AcademicResearch"]}).json()
    statuses = []
    for _ in range(5):
        nid = http["buyer"].post("/negotiations", {"offer_id": offer["offer_id"], "purpose": "AcademicResearch"})
        nid = nid.json()["negotiation_id"]
        assert http["guangdong"].post(f"/negotiations/{nid}/agree").status_code == 200
        (agreement,) = [a for a in http["buyer"].get("/agreements").json() if a["negotiation_id"] == nid]
        with ThreadPoolExecutor(2) as pool:
            ends = [
                pool.submit(http["buyer"].post, f"/negotiations/{nid}/terminate"),
                pool.submit(
                    http["guangdong"].post, f"/agreements/{agreement['agreement_id']}/termination", {"reason": "race"}
                ),
            ]
            statuses += [f.result().status_code for f in ends]
        assert http["buyer"].get(f"/agreements/{agreement['agreement_id']}").json()["terminated_at"] is not None
    assert 500 not in statuses and 503 not in statuses, statuses

    extra = ["output_value", "output_ytd", "output_value_base"]
    with ThreadPoolExecutor(2) as pool:
        answers = [
            pool.submit(
                http["guangdong"].post,
                "/products",
                {**listing, "product_id": product_id(), "columns": [*LEVEL1, *order]},
            )
            for order in (extra, extra[::-1])
        ]
        codes = [a.result().status_code for a in answers]
    assert codes == [403, 403], codes
    with psycopg.connect(services.warehouse, autocommit=True) as admin:
        asked = admin.execute(
            "SELECT count(*) FROM exchange.approvals WHERE provider_id = %s AND column_name = ANY(%s)",
            (people["guangdong"][0].participant_id, extra),
        ).fetchone()[0]
    assert asked == 3  # each column asked once, whichever listing asked first
    assert http["operator"].get("/ledger/verification").json()["ok"] is True


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE exchange.offers SET max_reads = 1000000",
        "UPDATE exchange.offers SET policy = '{}'::jsonb",
        "UPDATE exchange.participants SET roles = ARRAY['operator']",
        "UPDATE exchange.participants SET api_key_sha256 = api_key_sha256",
        "UPDATE exchange.products SET contract = '{}'::jsonb",
        "UPDATE exchange.agreements SET valid_until = valid_until",
        "DELETE FROM exchange.negotiations",
        "DELETE FROM exchange.participants",
    ],
)
def test_the_service_role_changes_only_a_rows_state_never_its_terms(services, statement):
    with psycopg.connect(services.exchange) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_service_role_may_change_what_does_change(services):
    with psycopg.connect(services.exchange) as conn:  # rolled back: no change kept
        conn.execute("UPDATE exchange.negotiations SET state = state, updated_at = updated_at WHERE false")
        conn.execute("UPDATE exchange.offers SET withdrawn_at = withdrawn_at WHERE false")
        conn.rollback()


def test_the_pages_reader_role_reads_the_market_and_writes_nothing(services):
    """The operator's page reads as ibdc_exchange_reader: SELECT on the market's tables and ledger, no
    write, no ledger append, no token."""
    with psycopg.connect(services.exchange_reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM exchange.participants").fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM exchange.ledger").fetchone()[0] > 0
        for statement in (
            "UPDATE exchange.negotiations SET state = state WHERE false",
            "INSERT INTO exchange.participants SELECT * FROM exchange.participants WHERE false",
            "SELECT count(*) FROM exchange.sharing_tokens",
            "SELECT exchange.ledger_append('read', 'x', 'y', '{}')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
