"""Unified social credit codes (统一社会信用代码, GB 32100-2015): 18 characters, the last a check digit."""

from __future__ import annotations

import re

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# The whole value (fullmatch: "$" would let a final newline through, which raw.enterprises' CHECK refuses).
PATTERN = re.compile(rf"[{CHARSET}]{{18}}", re.ASCII)


def check_digit(first17: str) -> str:
    """The check character for the first 17 characters of a code."""
    if len(first17) != 17 or any(c not in CHARSET for c in first17):
        raise ValueError(f"not the first 17 characters of a credit code: {first17!r}")
    total = sum(CHARSET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def is_valid(code: str) -> bool:
    """Whether ``code`` is a whole credit code: 18 characters of CHARSET, the last its check digit."""
    return isinstance(code, str) and bool(PATTERN.fullmatch(code)) and check_digit(code[:17]) == code[17]
