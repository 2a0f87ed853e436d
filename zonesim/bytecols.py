"""Byte strings of many rows at once (JSON records, XML rows), built column by column.

A row's text is a sequence of fields: constants, choices from small tables, decimal digits.
Each field is a uint8 matrix, one line per row, in which a zero byte stands for "nothing here"
(the texts written never contain NUL); the rows are the non-zero bytes of the fields side by
side, taken with one boolean selection. A few thousand records then cost a few numpy passes
instead of a Python loop (and a dict and json.dumps) per record.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]
Bytes = npt.NDArray[np.uint8]

_ZERO = ord("0")
_COMMA = ord(",")
_POINT = ord(".")
# Integers written have at most this many digits (int64 holds any 18-digit number).
MAX_DIGITS = 18
_POWERS = 10 ** np.arange(MAX_DIGITS, dtype=np.int64)


@cache
def _table(options: tuple[bytes, ...]) -> Bytes:
    """The options as the lines of a zero-padded matrix, plus an all-zero line (nothing)."""
    width = max((len(o) for o in options), default=0)
    table = np.zeros((len(options) + 1, max(width, 1)), dtype=np.uint8)
    for n, option in enumerate(options):
        if b"\0" in option:
            raise ValueError(f"{option!r}: a NUL byte cannot be written")
        table[n, : len(option)] = np.frombuffer(option, dtype=np.uint8)
    return table


def encoded(options: Sequence[str]) -> tuple[bytes, ...]:
    """Return the options as UTF-8 (a hashable key for the table cache)."""
    return tuple(o.encode("utf-8") for o in options)


def digit_count(value: Ints) -> Ints:
    """Return how many decimal digits each non-negative value has (1 for 0)."""
    top = int(value.max()) if len(value) else 0
    width = max(1, len(str(top)))
    count: Ints = 1 + (value[:, None] >= _POWERS[1:width][None, :]).sum(axis=1)
    return count


def trailing_zeros(value: Ints, limit: int) -> Ints:
    """Return how many of the last ``limit`` decimal digits of each value are zeros, from the
    right (0 for a value of 0: there is nothing to strip)."""
    zeros = np.zeros(len(value), dtype=np.int64)
    for k in range(1, limit + 1):
        # one scalar divisor per pass: numpy divides by a scalar far faster than elementwise
        zeros += value % int(_POWERS[k]) == 0
    return np.where(value > 0, zeros, 0)


def _digit_matrix(value: Ints, width: int) -> Bytes:
    """The last ``width`` decimal digits of each value as ASCII, most significant first."""
    digits = np.empty((len(value), width), dtype=np.uint8)
    rest = value.copy()
    for j in range(width - 1, -1, -1):
        digits[:, j] = rest % 10 + _ZERO
        rest //= 10
    return digits


def decimal(value: Ints, where: Mask | None = None, commas: Mask | None = None) -> Bytes:
    """Return non-negative integers (< 10^MAX_DIGITS) in decimal without leading zeros ("0"
    for 0) as a field: a comma between groups of three digits where ``commas`` is True,
    nothing where ``where`` is False."""
    top = int(value.max())
    width = len(str(top))
    if width > MAX_DIGITS or int(value.min()) < 0:
        raise ValueError(f"cannot write {top} or {int(value.min())} in bulk")
    digits = _digit_matrix(value, width)
    # a digit exists where the value reaches its power; the last one always does
    shown = value[:, None] >= _POWERS[width - 1 :: -1][None, :]
    shown[:, -1] = True
    if where is not None:
        shown &= where[:, None]
    digits *= shown
    if commas is None or width <= 3 or not commas.any():
        return digits
    # a comma after each digit that has a multiple of three digits on its right
    after = [j for j in range(width - 1) if (width - 1 - j) % 3 == 0]
    at = np.arange(width) + np.searchsorted(np.array(after), np.arange(width))
    matrix = np.zeros((len(value), width + len(after)), dtype=np.uint8)
    matrix[:, at] = digits
    matrix[:, at[after] + 1] = _COMMA * (shown[:, after] & commas[:, None])
    return matrix


class Rows:
    """The text of ``n`` rows, appended field by field; join() returns one bytes per row."""

    def __init__(self, n: int) -> None:
        """Start ``n`` empty rows."""
        self.n = n
        self._fields: list[Bytes] = []

    def text(self, text: str | bytes, where: Mask | None = None) -> None:
        """Append the same text to every row (or to the rows where ``where`` is True)."""
        raw = text.encode("utf-8") if isinstance(text, str) else text
        if not raw or self.n == 0:
            return
        line = _table((raw,))[0]
        if where is None:
            self._fields.append(np.broadcast_to(line, (self.n, len(raw))))
        else:
            self._fields.append(line[None, :] * where[:, None].astype(np.uint8))

    def choice(self, options: tuple[bytes, ...], index: Ints, where: Mask | None = None) -> None:
        """Append options[index[i]] to row i (nothing where ``where`` is False, where index may
        be anything)."""
        if self.n == 0:
            return
        table = _table(options)
        if where is not None:
            index = np.where(where, index, len(options))  # the all-zero line
        self._fields.append(table[index])

    def raw(self, matrix: Bytes) -> None:
        """Append the bytes of a (n, width) matrix (its zero bytes write nothing)."""
        self._fields.append(matrix)

    def digits(self, value: Ints, where: Mask | None = None, commas: Mask | None = None) -> None:
        """Append non-negative integers in decimal (see decimal())."""
        if self.n:
            self._fields.append(decimal(value, where, commas))

    def fraction(self, value: Ints, places: Ints, where: Mask | None = None) -> None:
        """Append "." and the digits of value / 10^places after the point, trailing zeros
        stripped; nothing for a value of 0 (0 <= value < 10^places, 0 <= places)."""
        if self.n == 0:
            return
        most = int(places.max())
        if most == 0:
            return
        # the digits right-aligned to ``most`` places, then moved left where places < most
        digits = _digit_matrix(value * _POWERS[most - places], most)
        point = value > 0
        if where is not None:
            point &= where
        keep = np.where(point, places - trailing_zeros(value, most), 0)
        digits *= np.arange(most)[None, :] < keep[:, None]
        self._fields.append((_POINT * point).astype(np.uint8)[:, None])
        self._fields.append(digits)

    def join(self) -> list[bytes]:
        """Return each row's bytes."""
        if self.n == 0:
            return []
        if not self._fields:
            return [b""] * self.n
        matrix = np.concatenate(self._fields, axis=1)
        shown = matrix != 0
        flat = matrix[shown].tobytes()
        ends = np.cumsum(np.count_nonzero(shown, axis=1)).tolist()
        return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
