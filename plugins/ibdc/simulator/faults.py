"""Switchable source faults, per province and dataset, described as data in ``faults.yaml``."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

FAULTS_FILE = Path(__file__).with_name("faults.yaml")


class MalformedKind(enum.StrEnum):
    BAD_NUMBER = "bad_number"
    NEGATIVE = "negative"
    UNKNOWN_PRODUCT = "unknown_product"


@dataclass(frozen=True)
class Malformed:
    province: str
    product: str
    kind: MalformedKind


@functools.cache
def load_profile(name: str) -> dict[str, dict]:
    profiles = yaml.safe_load(FAULTS_FILE.read_text(encoding="utf-8"))
    if name not in profiles:
        raise ValueError(f"unknown fault profile {name!r}; known: {sorted(profiles)}")
    return profiles[name] or {}


def malformed_records(profile: str, dataset: str, province: str) -> dict[str, MalformedKind]:
    """Product code -> kind of malformation served for this province."""
    spec = load_profile(profile).get(dataset, {}).get("malformed", [])
    return {m["product"]: MalformedKind(m["kind"]) for m in spec if m["province"] == province}
