"""Identifier checks, vectorized: unified social credit codes (GB 32100-2015) and industry codes
(GB/T 4754-2017)."""

from __future__ import annotations

import numpy as np
import pandas as pd

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
# byte -> value in the alphabet, -1 for any other byte
_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i

# GB/T 4754-2017: the two-digit divisions of each section (门类 -> 大类 range)
SECTION_DIVISIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52),
    "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72),
    "M": (73, 75), "N": (76, 79), "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90),
    "S": (91, 96), "T": (97, 97),
}  # fmt: skip


def uscc_check_char(first17: str) -> str:
    """The 18th character of a credit code from its first 17 (for tests and fixtures)."""
    total = sum(
        USCC_ALPHABET.index(c) * int(w) for c, w in zip(first17, _USCC_WEIGHTS, strict=True)
    )
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_valid(codes: pd.Series) -> pd.Series:
    """True where a code is 18 characters of the alphabet and its check character is right."""
    text = codes.astype("string").fillna("")
    shaped = text.str.fullmatch(f"[{USCC_ALPHABET}]{{18}}").fillna(False).astype(bool)
    ok = pd.Series(False, index=codes.index)
    if not shaped.any():
        return ok
    # one matrix of byte values, one weighted sum per row: no Python loop over the codes
    joined = "".join(text[shaped].tolist()).encode("ascii")
    values = _USCC_VALUE[np.frombuffer(joined, dtype=np.uint8)].reshape(-1, 18)
    expected = (31 - (values[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    ok[shaped] = expected == values[:, 17]
    return ok


def industry_code_valid(codes: pd.Series) -> pd.Series:
    """True where a code is a section letter and 2–4 digits whose division is in the section."""
    text = codes.astype("string")
    parts = text.str.extract(r"^([A-T])([0-9]{2})([0-9]{0,2})$")
    division = pd.to_numeric(parts[1], errors="coerce")
    low = parts[0].map({k: v[0] for k, v in SECTION_DIVISIONS.items()})
    high = parts[0].map({k: v[1] for k, v in SECTION_DIVISIONS.items()})
    return ((division >= low) & (division <= high)).fillna(False).astype(bool)
