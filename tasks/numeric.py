"""Numbers as zones send them: JSON numbers or texts ("1,234.5", " 12 ", "", "-", full-width).

Read in a few C-level passes (Arrow's regex and cast kernels) where the values allow it, else
the exact per-value way, with the same answer; then put in the catalog's unit with exact decimal
arithmetic up to one final rounding.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

# Full-width forms that Chinese office software produces in numbers.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９，．－＋　", "0123456789,.-+ ")
# powers of ten as exact doubles (a vectorized pow may be off by one ulp)
_POW10 = np.array([10.0**i for i in range(16)])
_MISSING_TEXT = ("", "-", "—", "--")
_NUMBER = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?([eE][+-]?\d+)?$|^[+-]?\.\d+$"
# Python's \d is any decimal digit; a figure in other digits is shaped, but no number
_NUMBER_RE = re.compile(_NUMBER)
_DECIMAL = r"^(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?$"
_DECIMAL_RE = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?\Z")
# below this many values plain Python beats the fixed cost of a dozen Arrow kernel calls (a
# zone release is a dozen records); both ways give the same answer (tests run both)
SMALL = 48
# what str.strip() removes from an ASCII string (Arrow's own whitespace class is smaller)
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace())
_ASCII_MISSING = pa.array([t for t in _MISSING_TEXT if t.isascii()], pa.string())

# how a raw value is read: 0 text (Arrow kernels), 1 JSON number, 2 null, 3 anything else
_TEXT, _NUM, _NULL, _ODD = 0, 1, 2, 3
_KIND: defaultdict[type, int] = defaultdict(lambda: _ODD, {str: _TEXT, float: _NUM, int: _NUM})
_KIND[type(None)] = _NULL


@dataclass
class Parsed:
    """Values read as numbers, one row per value."""

    number: Floats  # NaN where missing or unparsable
    missing: Bools  # not reported (null, "", "-", …)
    unparsable: Bools  # reported but not a finite number
    raw: Sequence[Any]  # the values as received
    plain: dict[int, str]  # rows read the exact way: the number's text, separators dropped
    # strings read Arrow's way: (their rows, their texts trimmed); a later one wins for a row
    texts: list[tuple[npt.NDArray[np.intp], pa.StringArray]] = field(default_factory=list)

    def plain_texts(self, rows: npt.NDArray[np.intp]) -> pa.StringArray:
        """The number texts (thousands separators dropped) of some rows, for exact decimals."""
        if len(self.texts) == 1 and not self.plain and len(self.texts[0][0]) == len(self.number):
            # every value a string read Arrow's way: the texts stay in Arrow
            at, texts = self.texts[0]
            pos = np.empty(len(self.number), dtype=np.intp)
            pos[at] = np.arange(len(at))
            return pc.replace_substring(texts.take(pa.array(pos[rows])), ",", "")
        return pa.array(self.plain_list(rows), pa.string())

    def plain_list(self, rows: npt.NDArray[np.intp]) -> list[str | None]:
        """``plain_texts`` as Python strings."""
        out: list[str | None] = [None] * len(rows)
        for at, texts in self.texts:
            pos = np.full(len(self.number), -1, dtype=np.intp)
            pos[at] = np.arange(len(at))
            mine = np.flatnonzero(pos[rows] >= 0)
            if len(mine):
                taken = texts.take(pa.array(pos[rows[mine]]))
                texts_ = pc.replace_substring(taken, ",", "").to_pylist()
                for k, t in zip(mine.tolist(), texts_, strict=True):
                    out[k] = t
        for k, row in enumerate(rows.tolist()):
            exact = self.plain.get(row)
            if exact is not None:
                out[k] = exact
            elif out[k] is None:
                out[k] = _odd(self.raw[row])[3]
        return out


# the bytes of a plain decimal ("2583.9", "-12", ".5"): 0 digit, 1 point, 2 sign, 3 any other
_BYTE_CLASS = np.full(256, 3, dtype=np.uint8)
_BYTE_CLASS[np.frombuffer(b"0123456789", dtype=np.uint8)] = 0
_BYTE_CLASS[ord(".")] = 1
_BYTE_CLASS[np.frombuffer(b"+-", dtype=np.uint8)] = 2


def plain_decimals(arr: pa.StringArray) -> Bools:
    """Which strings are plain decimals: digits, at most one point, a sign only first.

    Such a string is a number as it is (no spaces, no separators, no exponent): one pass over
    the bytes instead of trimming, matching and cleaning every string. Each one matches
    ``_NUMBER``; the others take the full way.
    """
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    lo = int(offsets[0])
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    cls = _BYTE_CLASS[data[lo : int(offsets[-1])]]
    starts, ends = offsets[:-1] - lo, offsets[1:] - lo
    length = ends - starts
    filled = length > 0
    sign = cls == 2
    first = np.zeros(len(cls), dtype=bool)
    first[starts[filled]] = True
    bad = np.zeros(len(cls) + 1, dtype=np.int64)
    np.cumsum((cls == 3) | (sign & ~first), out=bad[1:])
    points = np.zeros(len(cls) + 1, dtype=np.int64)
    np.cumsum(cls == 1, out=points[1:])
    n_points = points[ends] - points[starts]
    lead = np.zeros(n, dtype=bool)
    lead[filled] = sign[starts[filled]]
    digits = length - n_points - lead
    out: Bools = (bad[ends] == bad[starts]) & (n_points <= 1) & (digits >= 1)
    return out


def _odd(value: Any) -> tuple[float, bool, bool, str | None]:
    """One value the exact, slow way: (number, missing, unparsable, text without separators)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan, True, False, None
    if isinstance(value, bool):
        return math.nan, False, True, None
    text = str(value)
    if not text.isascii():
        text = text.translate(_FULL_WIDTH)
    text = text.strip()
    if text in _MISSING_TEXT:
        return math.nan, True, False, None
    if not _NUMBER_RE.match(text):
        return math.nan, False, True, None
    plain = text.replace(",", "")
    if not plain.isascii():  # digits of another script: shaped, but no number
        return math.nan, False, True, None
    number = float(plain)
    if not math.isfinite(number):
        return math.nan, False, True, None
    return number, False, False, plain


def parse_numbers(raw: Sequence[Any]) -> Parsed:
    """Read values given as JSON numbers or strings ("1,234.5", " 12 ", "", "-") as numbers."""
    n = len(raw)
    number = np.full(n, np.nan)
    missing = np.zeros(n, dtype=bool)
    unparsable = np.zeros(n, dtype=bool)
    plain: dict[int, str] = {}
    if n <= SMALL:
        for i, v in enumerate(raw):
            number[i], missing[i], unparsable[i], text = _odd(v)
            if text is not None:
                plain[i] = text
        return Parsed(number, missing, unparsable, raw, plain)
    types = list(map(type, raw))
    kinds = (
        None if types.count(str) == n else np.fromiter(map(_KIND.__getitem__, types), np.int8, n)
    )
    odd: list[int] = []
    segments: list[tuple[npt.NDArray[np.intp], pa.StringArray]] = []
    text_rows: npt.NDArray[np.intp] | None = None
    if kinds is None:
        texts: Sequence[Any] = raw
    else:
        text_rows = np.flatnonzero(kinds == _TEXT)
        texts = list(compress(raw, (kinds == _TEXT).tolist()))
        missing[kinds == _NULL] = True
        nums = np.flatnonzero(kinds == _NUM)
        if len(nums):
            try:
                values = np.array(list(compress(raw, (kinds == _NUM).tolist())), dtype=np.float64)
            except OverflowError:  # an integer past the largest double
                odd.extend(nums.tolist())
            else:
                finite = np.isfinite(values)
                number[nums[finite]] = values[finite]
                missing[nums[np.isnan(values)]] = True
                unparsable[nums[np.isinf(values)]] = True
        odd.extend(np.flatnonzero(kinds == _ODD).tolist())
    if len(texts):
        try:
            arr = pa.array(texts, pa.string())
        except (pa.ArrowException, UnicodeError):
            arr = None  # text that is not Unicode: every string the exact way
        if arr is None:
            odd.extend(text_rows.tolist() if text_rows is not None else list(range(n)))
        else:
            rows = text_rows if text_rows is not None else np.arange(n)
            simple = plain_decimals(arr)
            if simple.any():
                numbers = pc.cast(pc.if_else(pa.array(simple), arr, None), pa.float64()).to_numpy(
                    zero_copy_only=False
                )
                fine = simple & np.isfinite(numbers)
                number[rows[fine]] = numbers[fine]
                unparsable[rows[simple & ~fine]] = True  # digits past the largest double
                segments.append((rows, arr))
            rest = np.flatnonzero(~simple)
            if len(rest):
                sub = arr if len(rest) == len(arr) else arr.take(pa.array(rest))
                at = rows[rest]
                odd.extend(_full_way(sub, at, number, missing, unparsable))
                segments.append((at, pc.utf8_trim(sub, _ASCII_SPACE)))
    for i in odd:
        number[i], missing[i], unparsable[i], text = _odd(raw[i])
        if text is not None:
            plain[i] = text
    return Parsed(number, missing, unparsable, raw, plain, segments)


def _full_way(
    arr: pa.StringArray,
    rows: npt.NDArray[np.intp],
    number: Floats,
    missing: Bools,
    unparsable: Bools,
) -> list[int]:
    """Read strings the full way (trimmed, matched, separators dropped) into the rows given;
    return the rows of the non-ASCII ones, left for the exact per-value way."""
    ascii_ = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    t = pc.utf8_trim(arr, _ASCII_SPACE)
    gone = pc.is_in(t, value_set=_ASCII_MISSING).to_numpy(zero_copy_only=False)
    shaped = pc.match_substring_regex(t, _NUMBER).to_numpy(zero_copy_only=False)
    numbers = pc.cast(
        pc.if_else(pa.array(shaped), pc.replace_substring(t, ",", ""), None), pa.float64()
    ).to_numpy(zero_copy_only=False)
    fine = ascii_ & ~gone & shaped & np.isfinite(numbers)
    number[rows[fine]] = numbers[fine]
    missing[rows[ascii_ & gone]] = True
    unparsable[rows[ascii_ & ~gone & ~fine]] = True
    return list(rows[~ascii_].tolist())


def _decimal(text: str | None) -> tuple[float, float]:
    m = _DECIMAL_RE.match(text) if text is not None else None
    if m is None:
        return math.nan, 0.0
    digits = m.group(1) + m.group(2) + (m.group(3) or "")
    mantissa = float(digits) if any(c.isdigit() for c in digits) else math.nan
    return mantissa, float(len(m.group(3) or ""))


def exact_decimals(texts: pa.StringArray | list[str | None]) -> tuple[Floats, Floats]:
    """Number texts as ``mantissa`` × 10^-``scale`` ("3.5421" -> 35421, 4); NaN, 0 if not plain."""
    if isinstance(texts, list):  # a few: plain Python
        pairs = [_decimal(t) for t in texts]
        return (
            np.array([p[0] for p in pairs], dtype=np.float64),
            np.array([p[1] for p in pairs], dtype=np.float64),
        )
    # Arrow's regex kernels work on the buffers; a Python loop would cost a call per value
    shapes = pc.extract_regex(texts, _DECIMAL)
    frac = pc.struct_field(shapes, "frac")
    digits = pc.binary_join_element_wise(
        pc.struct_field(shapes, "sign"), pc.struct_field(shapes, "int"), frac, ""
    )
    # "" (a shape without digits cannot be a number here) and "+" become nothing
    digits = pc.if_else(pc.match_substring_regex(digits, r"[0-9]"), digits, None)
    mantissa = pc.cast(digits, pa.float64()).to_numpy(zero_copy_only=False)
    scale = pc.fill_null(pc.utf8_length(frac), 0).to_numpy(zero_copy_only=False).astype(np.float64)
    return mantissa, scale


def to_canonical(parsed: Parsed, num: Floats, den: Floats) -> tuple[Floats, Bools]:
    """Values in the canonical unit (× num / den), and which overflowed the doubles.

    Exact arithmetic up to one final rounding where a factor is not 1: (digits × numerator) /
    (10^scale × denominator), so 12345 元 is 1.2345 万元 and 3.5421 万人 is 35421 人, not 35420.999….
    A factor of 1 leaves the number as parsed, which is that same correctly rounded decimal.
    """
    number = parsed.number
    with np.errstate(invalid="ignore", over="ignore"):
        value = number * num / den
    ok = ~np.isnan(number)
    scaled = np.flatnonzero(ok & ~((num == 1) & (den == 1)) & ~np.isnan(num))
    if len(scaled):
        texts = parsed.plain_list(scaled) if len(scaled) <= SMALL else parsed.plain_texts(scaled)
        mantissa, scale = exact_decimals(texts)
        exact = ~np.isnan(mantissa) & (np.abs(mantissa) < 2**53) & (scale <= 15)
        m = np.where(exact, mantissa, number[scaled])
        power = _POW10[np.where(exact, scale, 0).astype(np.int64)]
        with np.errstate(over="ignore"):
            value[scaled] = (m * num[scaled]) / (power * den[scaled])
    # a zero is +0 (the decimals of "-0" are the integer 0); NaN and the rest are unchanged
    value = value + 0.0
    # a figure near the float limit (1e308 亿元) overflows to ±inf in the canonical unit: no
    # bound catches an infinity where the catalog has no max, so it would load; it is a figure
    # no double can hold, held out as unparsable (its message quotes the text as received)
    overflow = np.isinf(value)
    value[overflow] = np.nan
    return value, overflow
