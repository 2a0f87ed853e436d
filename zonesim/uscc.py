"""Unified social credit codes (统一社会信用代码, GB 32100-2015): building and checking them.

Layout of the 18 characters: 1 registration authority (9 = market regulation, 工商), 2 type
(1 = enterprise), 3–8 the administrative division code of the registering authority, 9–17 the
organization code (GB 11714: 8 characters and their own check character), 18 the check character
over the first 17.
"""

from __future__ import annotations

import re

# The 31 characters a code may use: digits and capitals without I, O, S, V, Z (too easily misread).
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: n for n, ch in enumerate(ALPHABET)}
# w_i = 3^(i-1) mod 31 for positions 1..17.
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_SHAPE = re.compile(f"[{ALPHABET}]{{18}}")
# GB 11714 (organization codes): weights of the 8 body characters; letters count A=10 … Z=35.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def check_char(first17: str) -> str:
    """Return the GB 32100 check character of the first 17 characters of a code."""
    if len(first17) != 17:
        raise ValueError(f"expected 17 characters, got {len(first17)}")
    try:
        total = sum(VALUES[ch] * w for ch, w in zip(first17, WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not a code character") from None
    return ALPHABET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str:
    """Return the GB 11714 check character of an 8-character organization code body."""
    if len(body8) != 8:
        raise ValueError(f"expected 8 characters, got {len(body8)}")
    total = sum(int(ch, 36) * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def make_uscc(region: str, org_code: str, authority: str = "9", kind: str = "1") -> str:
    """Return the valid 18-character code for a region (6 digits) and a 9-character org code."""
    first17 = authority + kind + region + org_code
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region must be 6 digits, got {region!r}")
    if len(org_code) != 9:
        raise ValueError(f"organization code must be 9 characters, got {org_code!r}")
    return first17 + check_char(first17)


def is_valid_uscc(code: object) -> bool:
    """Whether a value is an 18-character code of the right alphabet with a matching check char."""
    if not isinstance(code, str) or _SHAPE.fullmatch(code) is None:
        return False
    return check_char(code[:17]) == code[17]
