"""Wire formats of the provincial API styles, both ways: the simulator encodes canonical records into
a style's bytes, the platform decodes a style's bytes back into canonical records. One module per
style; :func:`format_for` looks one up by style name."""

from __future__ import annotations

import importlib

from ibdc.formats.base import DecodedPage, DecodeError, SchemaDrift, WireFormat


def format_for(style: str) -> WireFormat:
    """The wire format of ``style``, one of the registry's :class:`~ibdc.sources.registry.ApiStyle`;
    raises ``ValueError`` for any other."""
    # Imported here: the registry reads this package (ibdc.formats.envelope).
    from ibdc.sources.registry import ApiStyle

    if style not in set(ApiStyle):
        raise ValueError(f"unknown API style {style!r}; known: {', '.join(ApiStyle)}")
    return importlib.import_module(f"ibdc.formats.{style}")  # type: ignore[return-value]


__all__ = ["DecodeError", "DecodedPage", "SchemaDrift", "WireFormat", "format_for"]
