"""The market's records as typed values (pydantic): what ``ibdc.exchange.market`` returns, the REST API
answers and ``ibdc exchange`` prints. One model per table of ``market.sql``; ``from_row`` reads a row
of it (psycopg's dict rows)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ibdc.exchange.negotiation import State
from ibdc.exchange.policy import PriceModel, Purpose


class Role(enum.StrEnum):
    PROVIDER = "provider"
    CONSUMER = "consumer"
    OPERATOR = "operator"


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Self:
        return cls.model_validate({k: v for k, v in row.items() if k in cls.model_fields})


class Participant(Record):
    participant_id: str  # unified social credit code (GB 32100-2015)
    name: str
    province_code: str | None  # GB/T 2260 code; None: national
    roles: list[Role]
    created_at: datetime

    def has(self, role: Role) -> bool:
        return role in self.roles


class Product(Record):
    product_id: str
    version: str
    provider_id: str
    mart: str
    relation: str
    columns: list[str]
    province_code: str | None  # the row scope: one province's rows; None: every province
    contract: dict[str, Any]  # ODCS v3
    asset_uri: str
    listed_at: datetime
    withdrawn_at: datetime | None


class ApprovalKind(enum.StrEnum):
    LEVEL2_COLUMN = "level2_column"
    NEGOTIATION = "negotiation"


class Approval(Record):
    approval_id: UUID
    kind: ApprovalKind
    provider_id: str
    mart: str | None
    column_name: str | None
    negotiation_id: UUID | None
    requested_at: datetime
    decision: str  # pending, approved, refused
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


class Offer(Record):
    offer_id: UUID
    product_id: str
    version: str
    provider_id: str
    purposes: list[Purpose]
    use_days: int
    max_reads: int | None
    recipient_id: str | None
    delete_after_use: bool
    price_model: PriceModel
    price_cny: Decimal | None
    approval_required: bool
    policy: dict[str, Any]  # the ODRL Offer
    created_at: datetime
    withdrawn_at: datetime | None


class Negotiation(Record):
    negotiation_id: UUID
    offer_id: UUID
    consumer_id: str
    provider_id: str
    purpose: Purpose
    state: State
    created_at: datetime
    updated_at: datetime


class Agreement(Record):
    agreement_id: UUID
    negotiation_id: UUID
    offer_id: UUID
    provider_id: str
    consumer_id: str
    product_id: str
    version: str
    policy: dict[str, Any]  # the ODRL Agreement
    policy_sha256: str  # of its RFC 8785 canonical JSON
    signed_at: datetime
    valid_until: datetime
    reads: int
    terminated_at: datetime | None
    terminated_by: str | None
    termination_reason: str | None


class OfferTerms(BaseModel):
    """What a provider offers a product version on (``Market.make_offer``; the API's request body)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    purposes: list[Purpose] = Field(min_length=1, description="DPV purposes the consumer may state")
    use_days: int = Field(90, ge=1, le=3660, description="the period of use from the agreement, in days")
    max_reads: int | None = Field(None, ge=1, le=1_000_000, description="answered queries allowed; none: no limit")
    recipient_id: str | None = Field(None, description="the one participant the offer is made (and shown) to")
    delete_after_use: bool = True
    price_model: PriceModel = PriceModel.FREE
    # Two decimals at most: the figure stored and the one in the ODRL policy are the same, unrounded.
    price_cny: Decimal | None = Field(None, ge=0, max_digits=14, decimal_places=2)
    approval_required: bool = False
