"""Wire formats of the provincial API styles, both ways: the simulator encodes canonical records into
a style's bytes, the platform decodes a style's bytes back into canonical records. One module per
style; :func:`format_for` looks one up by style name."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
from pathlib import Path

from ibdc.formats.base import DecodedPage, DecodeError, SchemaDrift, WireFormat


def format_for(style: str) -> WireFormat:
    """The wire format of ``style``, one of the registry's :class:`~ibdc.sources.registry.ApiStyle`;
    raises ``ValueError`` for any other."""
    # Imported here: the registry reads this package (ibdc.formats.envelope).
    from ibdc.sources.registry import ApiStyle

    if style not in set(ApiStyle):
        raise ValueError(f"unknown API style {style!r}; known: {', '.join(ApiStyle)}")
    return importlib.import_module(f"ibdc.formats.{style}")  # type: ignore[return-value]


# What a decoded page depends on besides the bytes: this package's code, the record schemas, and the
# libraries that read JSON and build the columns.
DECODER_SOURCES = (*sorted(Path(__file__).parent.glob("*.py")), Path(__file__).parent.parent / "schemas.py")
DECODER_LIBRARIES = ("msgspec", "pyarrow")


@functools.cache
def decoder_fingerprint() -> str:
    """The decoders' version, as a sha256 (hex) of what decoding depends on (:data:`DECODER_SOURCES`,
    the versions of :data:`DECODER_LIBRARIES`): pages decoded by code of another fingerprint are not
    taken as this code would decode them (:mod:`ibdc.landing.decoded`). Derived, never bumped by hand:
    any change to a decoder changes it."""
    digest = hashlib.sha256()
    for path in DECODER_SOURCES:
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    for library in DECODER_LIBRARIES:
        digest.update(f"{library}=={importlib.metadata.version(library)}\0".encode())
    return digest.hexdigest()


__all__ = ["DecodeError", "DecodedPage", "SchemaDrift", "WireFormat", "decoder_fingerprint", "format_for"]
