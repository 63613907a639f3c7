"""The exchange market's REST API for participants (FastAPI; OpenAPI at ``/openapi.json``, docs at ``/docs``).

Served by ``uvicorn ibdc.exchange.api:app``: the local stack runs it on ``IBDC_EXCHANGE_PORT``
(``ibdc-dev up``, 28300), docker-compose as service ``exchange-api``. It connects to the warehouse as
``ibdc_exchange`` (``IBDC_EXCHANGE_DSN``, or the warehouse's host with ``IBDC_EXCHANGE_PASSWORD``).

Every call but ``/health`` carries a participant's API key (``Authorization: Bearer <key>``; the
operator registers participants with ``ibdc exchange participants add``, which prints the key once).
Errors answer ``{"error": <rule>, "detail": <why>}`` with the status of ``ibdc.exchange.errors``: 400
invalid, 422 a body or parameter not of the documented shape (FastAPI's validation; rule ``invalid``),
401 no or unknown key, 403 refused by the market's rules (recorded in the ledger), 404 unknown
or not the caller's, 409 a negotiation event its state does not allow.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Annotated
from uuid import UUID

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from ibdc.exchange import ledger, sharing
from ibdc.exchange.errors import ExchangeError, Refused
from ibdc.exchange.market import Market
from ibdc.exchange.models import Agreement, Approval, Negotiation, Offer, OfferTerms, Participant, Product, Role
from ibdc.exchange.negotiation import Event
from ibdc.settings import get_settings

log = logging.getLogger(__name__)
_pool: ConnectionPool | None = None


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    global _pool
    _pool = ConnectionPool(
        get_settings().exchange, min_size=1, max_size=8, kwargs={"autocommit": True}, open=True, name="exchange"
    )
    try:
        yield
    finally:
        _pool.close()
        _pool = None


class Error(BaseModel):
    """Every error's answer: the rule that refused (``level2_not_approved``, ``purpose_missing``, ...) and why."""

    error: str
    detail: str


ERRORS = {
    401: {"model": Error, "description": "no API key, or one no participant holds"},
    403: {"model": Error, "description": "refused by the market's rules (recorded in the ledger)"},
    404: {"model": Error, "description": "unknown, or not the caller's to see"},
    409: {"model": Error, "description": "a negotiation event its state or the caller's side does not allow"},
    422: {"model": Error, "description": "a body or parameter not of the documented shape (rule invalid)"},
    503: {"model": Error, "description": "a conflicting change was under way: retry (Retry-After)"},
}

app = FastAPI(
    title="IBDC industrial data exchange",
    version="1.0.0",
    description=(__doc__ or "").replace("``", "`"),
    lifespan=_lifespan,
    responses=ERRORS,
)
bearer = HTTPBearer(auto_error=False, description="a participant's API key")
sharing.install(app)  # the Delta Sharing protocol for buyers, under /delta-sharing (its own bearer tokens)


@app.exception_handler(ExchangeError)
async def _refusal(request: Request, error: ExchangeError) -> JSONResponse:
    return JSONResponse({"error": error.rule, "detail": str(error)}, status_code=error.status)


@app.exception_handler(psycopg.errors.DeadlockDetected)
@app.exception_handler(psycopg.errors.SerializationFailure)
@app.exception_handler(psycopg.errors.LockNotAvailable)
async def _busy(request: Request, error: psycopg.Error) -> JSONResponse:
    log.warning("exchange API: %s %s: %s: %s", request.method, request.url.path, type(error).__name__, error)
    return JSONResponse(
        {"error": "busy", "detail": "the market was busy with a conflicting change: retry"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


@app.exception_handler(Exception)
async def _internal(request: Request, error: Exception) -> JSONResponse:
    # The detail stays in the server's log (no statement, parameter or credential in the answer).
    log.exception("exchange API: %s %s failed", request.method, request.url.path)
    return JSONResponse({"error": "internal", "detail": "internal error (logged by the service)"}, status_code=500)


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5]]
    return JSONResponse({"error": "invalid", "detail": "; ".join(problems)}, status_code=422)


def market() -> Iterator[Market]:
    if _pool is None:
        raise RuntimeError("the exchange API's connection pool is not open (the app was not started)")
    with _pool.connection() as conn:
        yield Market(conn)


MarketDep = Annotated[Market, Depends(market)]


def caller(m: MarketDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Participant:
    return m.authenticate(credentials.credentials if credentials else None)


Caller = Annotated[Participant, Depends(caller)]


class Health(BaseModel):
    status: str
    database: str
    role: str


@app.get("/health", response_model=Health, tags=["service"])
def health() -> Health:
    """The service and its database (unauthenticated: a load balancer's check)."""
    if _pool is None:
        raise RuntimeError("not started")
    with _pool.connection() as conn:
        database, role = conn.execute("SELECT current_database(), current_user").fetchone()
    return Health(status="ok", database=database, role=role)


@app.get("/participants/me", response_model=Participant, tags=["participants"])
def me(who: Caller) -> Participant:
    return who


class Listing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(max_length=100, examples=["guangdong-industrial-output"])
    version: str = Field(max_length=20, examples=["1.0.0"])
    mart: str = Field(max_length=200, examples=["mart_industrial_output_monthly"])
    columns: list[str] = Field(min_length=1, max_length=500)
    province_code: str | None = Field(None, description="the rows of one province (GB/T 2260); null: every province")


@app.get("/products", response_model=list[Product], tags=["products"])
def products(m: MarketDep, who: Caller) -> list[Product]:
    return m.products()


@app.post("/products", response_model=Product, status_code=201, tags=["products"])
def list_product(body: Listing, m: MarketDep, who: Caller) -> Product:
    """A provider lists a product version of a mart's columns (the gate: ``ibdc.exchange.market``)."""
    return m.list_product(who, **body.model_dump())


@app.get("/products/{product_id}", response_model=Product, tags=["products"])
def product(product_id: str, m: MarketDep, who: Caller, version: str | None = None) -> Product:
    return m.product(product_id, version)


@app.get("/products/{product_id}/versions/{version}/contract", tags=["products"])
def contract(product_id: str, version: str, m: MarketDep, who: Caller) -> dict:
    """The product version's data contract (Open Data Contract Standard v3, JSON)."""
    return m.product(product_id, version).contract


@app.post("/products/{product_id}/versions/{version}/offers", response_model=Offer, status_code=201, tags=["offers"])
def make_offer(product_id: str, version: str, terms: OfferTerms, m: MarketDep, who: Caller) -> Offer:
    """The product's provider offers it on these terms (an ODRL Offer)."""
    return m.make_offer(who, product_id, version, terms)


@app.get("/offers", response_model=list[Offer], tags=["offers"])
def offers(m: MarketDep, who: Caller, product_id: str | None = None) -> list[Offer]:
    return m.offers(who, product_id)


@app.get("/offers/{offer_id}", response_model=Offer, tags=["offers"])
def offer(offer_id: UUID, m: MarketDep, who: Caller) -> Offer:
    return m.offer(who, offer_id)


class ContractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_id: UUID
    purpose: str | None = Field(
        None, max_length=200, description="a DPV purpose the offer allows, e.g. AcademicResearch"
    )


@app.post("/negotiations", response_model=Negotiation, status_code=201, tags=["negotiations"])
def request_contract(body: ContractRequest, m: MarketDep, who: Caller) -> Negotiation:
    """A consumer's contract request (Dataspace Protocol ContractRequestMessage): state REQUESTED."""
    return m.request(who, body.offer_id, body.purpose)


@app.get("/negotiations", response_model=list[Negotiation], tags=["negotiations"])
def negotiations(m: MarketDep, who: Caller) -> list[Negotiation]:
    return m.negotiations(who)


@app.get("/negotiations/{negotiation_id}", response_model=Negotiation, tags=["negotiations"])
def negotiation(negotiation_id: UUID, m: MarketDep, who: Caller) -> Negotiation:
    return m.negotiation(who, negotiation_id)


@app.post("/negotiations/{negotiation_id}/{event}", response_model=Negotiation, tags=["negotiations"])
def advance(negotiation_id: UUID, event: Event, m: MarketDep, who: Caller) -> Negotiation:
    """Send a negotiation event (offer, request, accept, agree, verify, finalize, terminate); 409 when its
    state or the caller's side does not allow it."""
    return m.advance(who, negotiation_id, event)


@app.get("/agreements", response_model=list[Agreement], tags=["agreements"])
def agreements(m: MarketDep, who: Caller) -> list[Agreement]:
    return m.agreements(who)


@app.get("/agreements/{agreement_id}", response_model=Agreement, tags=["agreements"])
def agreement(agreement_id: UUID, m: MarketDep, who: Caller) -> Agreement:
    return m.agreement(who, agreement_id)


class Termination(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


@app.post("/agreements/{agreement_id}/termination", response_model=Agreement, tags=["agreements"])
def terminate(agreement_id: UUID, body: Termination, m: MarketDep, who: Caller) -> Agreement:
    """End an agreement (its consumer, provider or the operator): the consumer's access ends."""
    return m.terminate_agreement(who, agreement_id, body.reason)


@app.post("/agreements/{agreement_id}/sharing-profile", response_model=sharing.SharingProfile, tags=["agreements"])
def sharing_profile(agreement_id: UUID, m: MarketDep, who: Caller) -> sharing.SharingProfile:
    """The consumer of a finalized, active agreement gets its Delta Sharing profile (a new bearer token,
    shown once, expiring with the agreement; the token issued before stops working)."""
    return sharing.issue_profile(m, who, agreement_id)


def _operator(who: Participant) -> None:
    if not who.has(Role.OPERATOR):
        raise Refused(f"{who.participant_id} does not have the operator role", "not_operator")


@app.get("/approvals", response_model=list[Approval], tags=["operator"])
def approvals(m: MarketDep, who: Caller, pending: bool = False) -> list[Approval]:
    return m.approvals(who, pending_only=pending)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approve: bool
    reason: str = Field(min_length=1, max_length=500)


@app.post("/approvals/{approval_id}/decision", response_model=Approval, tags=["operator"])
def decide(approval_id: UUID, body: Decision, m: MarketDep, who: Caller) -> Approval:
    return m.decide(who, approval_id, body.approve, body.reason)


class LedgerVerification(BaseModel):
    ok: bool
    entries: int
    head_hash: str = Field(description="the last verified entry's hash: what to publish or compare elsewhere")
    first_broken: int | None
    reason: str | None


@app.get("/ledger/verification", response_model=LedgerVerification, tags=["ledger"])
def verify(m: MarketDep, who: Caller) -> LedgerVerification:
    """Every ledger entry's hash recomputed and its chain followed (an operator's: it reads the whole ledger)."""
    _operator(who)
    result: ledger.Verification = m.verify_ledger()
    return LedgerVerification(
        ok=result.ok,
        entries=result.entries,
        head_hash=result.head_hash,
        first_broken=result.first_broken,
        reason=result.reason,
    )
