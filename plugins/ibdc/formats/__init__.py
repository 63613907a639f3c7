"""Wire formats of the provincial API styles, both ways: the simulator encodes canonical records into
a style's bytes, the platform decodes a style's bytes back into canonical records. One module per
style; :func:`format_for` looks one up by style name."""

from __future__ import annotations

import importlib

from ibdc.formats.base import DecodedPage, DecodeError, SchemaDrift, WireFormat

STYLES = ("rest_json", "app_key", "signed_gateway", "jsonp", "csv_download", "nbs_easyquery")


def format_for(style: str) -> WireFormat:
    if style not in STYLES:
        raise ValueError(f"unknown API style {style!r}; known: {STYLES}")
    return importlib.import_module(f"ibdc.formats.{style}")  # type: ignore[return-value]


__all__ = ["STYLES", "DecodeError", "DecodedPage", "SchemaDrift", "WireFormat", "format_for"]
