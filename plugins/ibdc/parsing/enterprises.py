"""Registry of industrial enterprises, a monthly snapshot: served pages -> canonical records.

Canonical record: one enterprise (by its unified social credit code) as listed in the province's
registry at the end of the month. ``legal_representative`` and ``phone`` are personal data: they are
loaded into raw as served (raw is restricted; masking or dropping them is the marts' business).

Checks: the credit code's format and check digit (GB 32100-2015), the division (GB/T 4754-2017
13-43), the size class and status vocabularies, the phone format (an 11-digit mainland mobile number
or a landline with its area code), dates no later than the end of the snapshot's month and a last
change no earlier than the registration, and the record's province and month.
"""

from __future__ import annotations

import re
from datetime import date

import pyarrow as pa
from pydantic import BaseModel, ValidationInfo, field_validator, model_validator

from ibdc.landing.manifest import Manifest, ManifestObject
from ibdc.parsing.base import DivisionCode, PageRows, Records, shown, validate_records
from ibdc.periods import month_end
from ibdc.uscc import is_valid

SIZE_CLASSES = ("large", "medium", "small", "micro")
STATUSES = ("active", "deregistered")
CODE_LISTS = {"size_class": SIZE_CLASSES, "status": STATUSES}
# ASCII digits ([0-9]: Python's \d is any Unicode digit, and Decimal / int / date would follow), matched
# against the whole value (fullmatch: "$" would let a final newline through, which the table's CHECK,
# PostgreSQL's "$", refuses). PHONE is raw.enterprises.phone's CHECK.
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
PHONE = re.compile(r"1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}", re.ASCII)  # mobile, or area code + landline


class EnterpriseRecord(BaseModel, frozen=True):
    uscc: str
    name: str
    province_code: str
    city: str
    division_code: DivisionCode
    size_class: str
    legal_representative: str
    phone: str
    iot_adopted: bool
    fiveg_adopted: bool
    registered_on: date
    updated_on: date
    status: str
    period: str

    @field_validator("name", "city", "legal_representative")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v  # as served: personal data are not touched here

    @field_validator("registered_on", "updated_on", mode="before")
    @classmethod
    def _iso_date(cls, v: object) -> object:
        # Canonical dates are YYYY-MM-DD; pydantic alone would read "20200105" as a Unix timestamp.
        if not (isinstance(v, date) or (isinstance(v, str) and ISO_DATE.fullmatch(v))):
            raise ValueError(f"not a YYYY-MM-DD date: {shown(v) if isinstance(v, str) else repr(v)}")
        return v

    @field_validator("uscc")
    @classmethod
    def _credit_code(cls, v: str) -> str:
        if not is_valid(v):
            raise ValueError(f"invalid unified social credit code {shown(v)} (format or check digit)")
        return v

    @field_validator("size_class", "status")
    @classmethod
    def _known_value(cls, v: str, info: ValidationInfo) -> str:
        allowed = CODE_LISTS[info.field_name]
        if v not in allowed:
            raise ValueError(f"unknown {info.field_name.replace('_', ' ')} {shown(v)}; known: {', '.join(allowed)}")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if not PHONE.fullmatch(v):
            raise ValueError(f"malformed phone number {shown(v)}")
        return v

    @model_validator(mode="after")
    def _dates(self, info: ValidationInfo) -> EnterpriseRecord:
        end: date | None = (info.context or {}).get("month_end")
        future = [f"{f} {getattr(self, f)}" for f in ("registered_on", "updated_on") if end and getattr(self, f) > end]
        if future:
            verb = "is" if len(future) == 1 else "are"
            raise ValueError(f"future date: {' and '.join(future)} {verb} after the snapshot month's end {end}")
        if self.updated_on < self.registered_on:
            raise ValueError(f"updated_on {self.updated_on} is before registered_on {self.registered_on}")
        return self


SCHEMA = pa.schema(
    [
        ("uscc", pa.string()),
        ("name", pa.string()),
        ("city", pa.string()),
        ("division_code", pa.string()),
        ("size_class", pa.string()),
        ("legal_representative", pa.string()),  # personal data
        ("phone", pa.string()),  # personal data
        ("iot_adopted", pa.bool_()),
        ("fiveg_adopted", pa.bool_()),
        ("registered_on", pa.date32()),
        ("updated_on", pa.date32()),
        ("status", pa.string()),
        ("record_position", pa.int32()),
    ]
)


def _row(rec: EnterpriseRecord, position: int) -> dict:
    return {**rec.model_dump(exclude={"province_code", "period"}), "record_position": position}


def validate(manifest: Manifest, obj: ManifestObject, records: Records) -> PageRows:
    context = {"month_end": month_end(manifest.period)}
    return validate_records(EnterpriseRecord, _row, SCHEMA, manifest, obj, records, context)
