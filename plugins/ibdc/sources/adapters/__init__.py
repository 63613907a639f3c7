"""One adapter per provincial API style, looked up by :func:`adapter_for`."""

from __future__ import annotations

import importlib

from ibdc.sources.adapters.base import Extraction, RawPage, ReconciliationError, SourceAdapter, SourceRefused
from ibdc.sources.registry import ApiStyle

# style -> "module:class" under ibdc.sources.adapters
ADAPTERS: dict[ApiStyle, str] = {
    ApiStyle.REST_JSON: "rest_json:RestJsonAdapter",
    ApiStyle.APP_KEY: "app_key:AppKeyAdapter",
    ApiStyle.SIGNED_GATEWAY: "signed_gateway:SignedGatewayAdapter",
    ApiStyle.JSONP: "jsonp:JsonpAdapter",
    ApiStyle.CSV_DOWNLOAD: "csv_download:CsvDownloadAdapter",
    ApiStyle.NBS_EASYQUERY: "nbs_easyquery:NbsEasyqueryAdapter",
}


def adapter_for(style: ApiStyle) -> SourceAdapter:
    module, cls = ADAPTERS[style].split(":")
    return getattr(importlib.import_module(f"ibdc.sources.adapters.{module}"), cls)()


__all__ = ["Extraction", "RawPage", "ReconciliationError", "SourceAdapter", "SourceRefused", "adapter_for"]
