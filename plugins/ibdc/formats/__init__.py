"""Wire formats of the provincial API styles, both ways: the simulator encodes canonical records into
a style's bytes, the platform decodes a style's bytes back into canonical records. One module per
style; :func:`format_for` looks one up by style name."""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import sys
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


# What a decoded page depends on besides the bytes: the platform's code and reference data (the whole
# ``ibdc`` package: the decoders import timestamps, reference, periods, ...; a change anywhere counts),
# the interpreter, and the libraries that read JSON and build the columns.
PACKAGE = Path(__file__).parent.parent
DECODER_LIBRARIES = ("msgspec", "pyarrow")


@functools.cache
def decoder_fingerprint() -> str | None:
    """The decoders' version: a sha256 (hex) of every file of the ``ibdc`` package (sources and
    reference data, by path), the Python version and the versions of :data:`DECODER_LIBRARIES`, taken
    once a process; None when the package's files cannot be read (an install without its sources):
    no decoded pages are then stored nor taken. Pages decoded by code of another fingerprint are not
    taken as this code would decode them (:mod:`ibdc.landing.decoded`). Derived, never bumped by hand:
    any change to the package changes it (more than decoding needs: a release decodes the pages of
    earlier extractions again, once)."""
    digest = hashlib.sha256(f"python {sys.version_info[:3]}\0".encode())
    try:
        for path in sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{path.relative_to(PACKAGE).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    except OSError:
        return None
    for library in DECODER_LIBRARIES:
        digest.update(f"{library}=={importlib.metadata.version(library)}\0".encode())
    return digest.hexdigest()


__all__ = ["DecodeError", "DecodedPage", "SchemaDrift", "WireFormat", "decoder_fingerprint", "format_for"]
