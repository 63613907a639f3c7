"""Canonical record schemas: the fields every provincial source publishes for each dataset.

This is the contract between the sources and the platform. Every API style carries the same fields
(renamed, re-typed, re-encoded in its own way); the wire formats in :mod:`ibdc.formats` translate
between a style and these canonical records. A canonical record is a ``dict`` of field name -> text
(``None`` for a value the source marks as missing), in the canonical text of the field's kind:

- ``PERIOD`` ``YYYY-MM``; ``DATE`` ``YYYY-MM-DD``; ``TIMESTAMP`` ``YYYY-MM-DDTHH:MM:SSZ`` (UTC);
- ``DECIMAL`` and ``INT`` plain decimal text (``12.5``, ``-3``); ``BOOL`` ``true`` / ``false``;
- ``TEXT`` as is.

Validation (is the number non-negative, the product known, the credit code valid) is the parsers'
job, not the formats': a format turns bytes into records faithfully, malformed values included.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from ibdc.periods import Cadence


class Kind(enum.StrEnum):
    TEXT = "text"
    PERIOD = "period"
    DATE = "date"
    TIMESTAMP = "timestamp"
    DECIMAL = "decimal"
    INT = "int"
    BOOL = "bool"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    label_zh: str  # the column heading Chinese portals use (CSV downloads)
    unit: str | None = None  # fixed publication unit of a numeric field (unit code, see reference/units)
    nullable: bool = False  # a source may mark the value as missing ("-", "—", "…", null)


@dataclass(frozen=True)
class RecordSchema:
    dataset: str
    cadence: Cadence
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # unique within one (province, period) partition
    title: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.dataset} has no field {name!r}")


F = Field
# Fields several datasets share.
PROVINCE_CODE = F("province_code", Kind.TEXT, "地区代码")
PERIOD = F("period", Kind.PERIOD, "统计月份")
DIVISION_CODE = F("division_code", Kind.TEXT, "行业代码")

OUTPUT_TITLE = "Monthly output of major industrial products, by province (NBS units, current month and year-to-date)"
OUTPUT_FIELDS = (
    PROVINCE_CODE,
    PERIOD,
    F("product_code", Kind.TEXT, "产品代码"),
    F("product_name", Kind.TEXT, "产品名称"),
    F("unit", Kind.TEXT, "计量单位"),
    # NBS calendar: January and February are released together; February carries only the
    # January-February year-to-date figure, its current-month value is missing (no January release).
    F("current_month", Kind.DECIMAL, "本月", nullable=True),
    F("cumulative", Kind.DECIMAL, "1-本月累计"),
)

ELECTRICITY_TITLE = "Monthly industrial electricity consumption, by province and GB/T 4754-2017 manufacturing division"
ELECTRICITY_FIELDS = (
    PROVINCE_CODE,
    PERIOD,
    DIVISION_CODE,
    F("division_name", Kind.TEXT, "行业名称"),
    # Some provinces do not publish every division (confidential or below threshold): missing.
    F("consumption", Kind.DECIMAL, "本月用电量", unit="10k_kwh", nullable=True),
    F("cumulative", Kind.DECIMAL, "1-本月累计用电量", unit="10k_kwh", nullable=True),
)

ENTERPRISE_TITLE = "Registry of industrial enterprises, by province: a monthly snapshot (contains personal data)"
ENTERPRISE_FIELDS = (
    F("uscc", Kind.TEXT, "统一社会信用代码"),
    F("name", Kind.TEXT, "企业名称"),
    PROVINCE_CODE,
    F("city", Kind.TEXT, "所在城市"),
    DIVISION_CODE,
    F("size_class", Kind.TEXT, "企业规模"),
    F("legal_representative", Kind.TEXT, "法定代表人"),
    F("phone", Kind.TEXT, "联系电话"),
    F("iot_adopted", Kind.BOOL, "是否接入工业互联网"),
    F("fiveg_adopted", Kind.BOOL, "是否应用5G"),
    F("registered_on", Kind.DATE, "成立日期"),
    F("updated_on", Kind.DATE, "变更日期"),
    F("status", Kind.TEXT, "登记状态"),
    PERIOD,
)

TELEMETRY_TITLE = "Hourly equipment telemetry from enterprises' IoT devices, by province and day"
TELEMETRY_FIELDS = (
    F("device_id", Kind.TEXT, "设备编号"),
    F("enterprise_code", Kind.TEXT, "统一社会信用代码"),
    F("ts", Kind.TIMESTAMP, "采集时间"),
    F("runtime_min", Kind.INT, "运行时长", unit="minute"),
    F("output_units", Kind.INT, "产出", unit="unit"),
    F("energy_kwh", Kind.DECIMAL, "能耗", unit="kwh"),
    F("fault_code", Kind.TEXT, "故障代码", nullable=True),
)

INDUSTRIAL_OUTPUT = RecordSchema(
    "industrial_output", Cadence.MONTHLY, OUTPUT_FIELDS, key=("product_code",), title=OUTPUT_TITLE
)
ELECTRICITY_CONSUMPTION = RecordSchema(
    "electricity_consumption", Cadence.MONTHLY, ELECTRICITY_FIELDS, key=("division_code",), title=ELECTRICITY_TITLE
)
ENTERPRISES = RecordSchema("enterprises", Cadence.MONTHLY, ENTERPRISE_FIELDS, key=("uscc",), title=ENTERPRISE_TITLE)
EQUIPMENT_TELEMETRY = RecordSchema(
    "equipment_telemetry", Cadence.DAILY, TELEMETRY_FIELDS, key=("device_id", "ts"), title=TELEMETRY_TITLE
)

SCHEMAS: dict[str, RecordSchema] = {
    s.dataset: s for s in (INDUSTRIAL_OUTPUT, ELECTRICITY_CONSUMPTION, ENTERPRISES, EQUIPMENT_TELEMETRY)
}


def canonical_text(kind: Kind, value: object) -> str | None:
    """A typed value (as the simulator's truth holds it) in the canonical text of its kind."""
    if value is None:
        return None
    if isinstance(value, str):
        return value  # already text (malformed values are served as text)
    if kind is Kind.BOOL:
        return "true" if value else "false"
    if kind is Kind.TIMESTAMP and isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind is Kind.DATE and isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)
