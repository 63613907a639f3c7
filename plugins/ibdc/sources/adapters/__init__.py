"""One adapter per provincial API style, looked up by :func:`adapter_for`."""

from __future__ import annotations

from ibdc.sources.adapters.base import Extraction, RawPage, ReconciliationError, SourceAdapter
from ibdc.sources.adapters.rest_json import RestJsonAdapter
from ibdc.sources.registry import ApiStyle

ADAPTERS: dict[ApiStyle, type[SourceAdapter]] = {ApiStyle.REST_JSON: RestJsonAdapter}


def adapter_for(style: ApiStyle) -> SourceAdapter:
    return ADAPTERS[style]()


__all__ = ["Extraction", "RawPage", "ReconciliationError", "SourceAdapter", "adapter_for"]
