"""Identifier checks, vectorized: unified social credit codes (GB 32100-2015) and industry codes
(GB/T 4754-2017)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


def _texts(codes: Iterable[Any]) -> pa.StringArray:
    """Codes as Arrow text: strings as they are, nothing for a missing one, str() of the rest."""
    values = list(codes)
    try:
        return pa.array(values, pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(
            [
                None
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else str(v)
                for v in values
            ],
            pa.string(),
        )


def _joined(text: pa.StringArray) -> npt.NDArray[np.uint8]:
    """The bytes of ASCII strings end to end (codes of one length become a matrix)."""
    whole = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text), "")
    return np.frombuffer(whole[0].as_buffer(), dtype=np.uint8)


def uscc_valid(codes: Iterable[Any]) -> npt.NDArray[np.bool_]:
    """True where a code is 18 characters of the alphabet and its check character is right."""
    text = _texts(codes)
    shaped = (
        pc.match_substring_regex(text, f"^[{USCC_ALPHABET}]{{18}}$")
        .fill_null(False)
        .to_numpy(zero_copy_only=False)
    )
    ok = np.zeros(len(text), dtype=bool)
    if not shaped.any():
        return ok
    # one matrix of byte values, one weighted sum per row: no Python loop over the codes
    values = _USCC_VALUE[_joined(text.filter(pa.array(shaped)))].reshape(-1, 18)
    expected = (31 - (values[:, :17] @ _USCC_WEIGHTS) % 31) % 31
    ok[shaped] = expected == values[:, 17]
    return ok


# the section's first and last division, by the section letter's byte (0, -1: no section)
_SECTION_LOW = np.zeros(256, dtype=np.int64)
_SECTION_HIGH = np.full(256, -1, dtype=np.int64)
for _s, (_lo, _hi) in SECTION_DIVISIONS.items():
    _SECTION_LOW[ord(_s)], _SECTION_HIGH[ord(_s)] = _lo, _hi


def industry_code_valid(codes: Iterable[Any]) -> npt.NDArray[np.bool_]:
    """True where a code is a section letter and 2–4 digits whose division is in the section."""
    text = _texts(codes)
    # "\n?" before the end: the pattern's "$" once was Python's, which allows a final newline
    shaped = (
        pc.match_substring_regex(text, r"^[A-T][0-9]{2}[0-9]{0,2}\n?$")
        .fill_null(False)
        .to_numpy(zero_copy_only=False)
    )
    ok = np.zeros(len(text), dtype=bool)
    if not shaped.any():
        return ok
    good = text.filter(pa.array(shaped))
    letters = _joined(pc.utf8_slice_codeunits(good, 0, 1))
    division = pc.cast(pc.utf8_slice_codeunits(good, 1, 3), pa.int64()).to_numpy()
    ok[shaped] = (division >= _SECTION_LOW[letters]) & (division <= _SECTION_HIGH[letters])
    return ok
