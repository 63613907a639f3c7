"""The registry of provincial sources, read from ``registry.yaml`` and validated."""

from __future__ import annotations

import enum
import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, field_validator

from ibdc.reference import provinces
from ibdc.settings import get_settings

REGISTRY_FILE = Path(__file__).with_name("registry.yaml")


class ApiStyle(enum.StrEnum):
    REST_JSON = "rest_json"


class Cadence(enum.StrEnum):
    MONTHLY = "monthly"
    DAILY = "daily"


class ProvinceSource(BaseModel, frozen=True):
    code: str
    style: ApiStyle
    base_url: str
    datasets: tuple[str, ...]
    cadence: Cadence
    conn_id: str

    @field_validator("code")
    @classmethod
    def _known_province(cls, code: str) -> str:
        if code not in provinces():
            raise ValueError(f"{code!r} is not a GB/T 2260 provincial code")
        return code

    @property
    def url(self) -> str:
        return self.base_url.format(sources_url=get_settings().sources_url, code=self.code).rstrip("/")


@functools.cache
def load_registry(path: Path = REGISTRY_FILE) -> dict[str, ProvinceSource]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = doc.get("defaults", {})
    sources = [ProvinceSource(**{**defaults, **entry}) for entry in doc["provinces"]]
    by_code = {s.code: s for s in sources}
    if len(by_code) != len(sources):
        raise ValueError(f"{path}: a province is listed twice")
    return by_code


def sources_for(dataset: str) -> dict[str, ProvinceSource]:
    return {code: s for code, s in load_registry().items() if dataset in s.datasets}


def resolve_provinces(dataset: str, requested: list[str] | None) -> list[str]:
    """Validate a ``provinces`` request (None or empty: all) against the registry."""
    available = sources_for(dataset)
    if not requested:
        return sorted(available)
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise ValueError(f"unknown provinces for {dataset}: {unknown}; known: {sorted(available)}")
    return sorted(set(requested))
