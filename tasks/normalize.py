"""Normalize: received records -> typed numpy columns (numbers parsed, units converted, catalog joined).

A batch of records becomes a ``Frame`` (validation.checks): one row per record, and for the
enterprise dataset a second frame with one row per reported value. The ordinary record takes a
few C-level passes (fields picked out of the parsed JSON with ``map``, values flattened with
``chain``, numbers parsed by Arrow's regex and cast kernels); an odd one — not an object, a
number where a code belongs, a full-width or non-ASCII figure, a boolean value — takes an exact
per-value path with the same answer. Texts only messages need (a value as received, a record's
canonical JSON) are made for the failing rows, by the validator.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from validation.checks import FREQUENCY_RANK, STATUSES, Frame
from validation.engine import value_text
from warehouse.staging import canonical_text
from zonestats.catalog import Catalog

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Item = tuple[int, str, Any]  # (page number, page zone, record)

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


def canonical_json(record: Any) -> str:
    """The record as received, as stable JSON text (key order normalized, Chinese kept)."""
    return canonical_text(record)


# --- numbers -----------------------------------------------------------------------------------


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


# --- the catalog as arrays -------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogColumns:
    """One dataset's catalog as arrays indexed by indicator position (last row: unknown)."""

    index: dict[str, int]
    unknown: int
    code: npt.NDArray[np.object_]
    canonical_unit: npt.NDArray[np.object_]
    ind_frequency: npt.NDArray[np.object_]
    freq_rank: npt.NDArray[np.int8]
    basis: npt.NDArray[np.object_]
    is_rate: Bools
    min: Floats
    max: Floats
    integer: Bools
    allowed_units: npt.NDArray[np.object_]
    factors: dict[tuple[int, str], tuple[int, int]]  # (indicator, unit) -> numerator, denominator
    canonical_num: Floats  # the canonical unit's factor (1 in a sane catalog; NaN: unknown)
    canonical_den: Floats
    code_text: pa.StringArray  # code and canonical_unit as Arrow text, for the staged rows
    unit_text: pa.StringArray

    def positions(self, codes: Sequence[Any]) -> npt.NDArray[np.intp]:
        """Each code's position (``unknown`` for a code not in the catalog or not a string)."""
        # dict.get through map, one C-level pass; only strings are catalog keys
        return np.fromiter(map(self.index.get, codes, repeat(self.unknown)), np.intp, len(codes))

    def factor_of(self, ind: npt.NDArray[np.intp], units: Sequence[Any]) -> tuple[Floats, Floats]:
        """The numerator and denominator of each (indicator, unit); NaN where not allowed."""
        num = np.full(len(ind), np.nan)
        den = np.full(len(ind), np.nan)
        for i, (k, u) in enumerate(zip(ind.tolist(), units, strict=True)):
            f = self.factors.get((k, u)) if isinstance(u, str) else None
            if f is not None:
                num[i], den[i] = f
        return num, den


def _factor(factors: dict[str, Any], unit: str) -> tuple[float, float]:
    f = factors.get(unit)
    return (f.numerator, f.denominator) if f is not None else (math.nan, math.nan)


def catalog_columns(catalog: Catalog, dataset: str) -> CatalogColumns:
    """The catalog of a dataset as arrays (computed once per catalog and dataset)."""
    cache: dict[str, CatalogColumns] = catalog.__dict__.setdefault("_columns", {})
    if dataset not in cache:
        inds = catalog.for_dataset(dataset)
        n = len(inds)

        def col(values: list[Any], dtype: Any, missing: Any) -> np.ndarray:
            return np.array([*values, missing], dtype=dtype)

        cache[dataset] = CatalogColumns(
            index={i.code: k for k, i in enumerate(inds)},
            unknown=n,
            code=col([i.code for i in inds], object, None),
            canonical_unit=col([i.unit for i in inds], object, None),
            ind_frequency=col([i.frequency for i in inds], object, None),
            freq_rank=col([FREQUENCY_RANK.get(i.frequency, -1) for i in inds], np.int8, -1),
            basis=col([i.basis for i in inds], object, None),
            is_rate=col([i.basis == "ytd_rate" for i in inds], bool, False),
            min=col([np.nan if i.min is None else i.min for i in inds], np.float64, np.nan),
            max=col([np.nan if i.max is None else i.max for i in inds], np.float64, np.nan),
            integer=col([bool(i.integer) for i in inds], bool, False),
            allowed_units=col(["、".join(i.unit_factors) for i in inds], object, None),
            factors={
                (k, u): (f.numerator, f.denominator)
                for k, i in enumerate(inds)
                for u, f in i.unit_factors.items()
            },
            canonical_num=col([_factor(i.unit_factors, i.unit)[0] for i in inds], float, np.nan),
            canonical_den=col([_factor(i.unit_factors, i.unit)[1] for i in inds], float, np.nan),
            code_text=pa.array([*(i.code for i in inds), None], pa.string()),
            unit_text=pa.array([*(i.unit for i in inds), None], pa.string()),
        )
    return cache[dataset]


def _catalog_facts(cat: CatalogColumns, ind: npt.NDArray[np.intp]) -> dict[str, np.ndarray]:
    """The catalog facts the checks read, by each row's indicator position ``ind``."""
    return {
        "ind": ind,
        "known": ind != cat.unknown,
        "freq_rank": cat.freq_rank[ind],
        "is_rate": cat.is_rate[ind],
        "min": cat.min[ind],
        "max": cat.max[ind],
        "integer": cat.integer[ind],
    }


def _catalog_texts(cat: CatalogColumns) -> dict[str, tuple[str, np.ndarray]]:
    """The catalog facts only messages and the release rules read: made when read."""
    return {
        "canonical_unit": ("ind", cat.canonical_unit),
        "ind_frequency": ("ind", cat.ind_frequency),
        "basis": ("ind", cat.basis),
        "allowed_units": ("ind", cat.allowed_units),
    }


# --- records ---------------------------------------------------------------------------------


def _stripped(values: Sequence[Any], empty_is_missing: bool = True) -> list[str | None]:
    """Strings stripped (an empty one missing, if so told); anything else missing."""
    if empty_is_missing:
        return [(v.strip() or None) if type(v) is str else None for v in values]
    return [v.strip() if type(v) is str else None for v in values]


def _objects(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    # fromiter keeps a list or dict value as one element, where np.array would nest it
    return np.fromiter(values, dtype=object, count=len(values))


def _fields(
    records: Sequence[Any] | np.ndarray, names: Sequence[str]
) -> tuple[Bools, list[list[Any]]]:
    """Which records are objects, and each named field of every record (None where absent)."""
    types = list(map(type, records))
    if types.count(dict) == len(records):
        is_obj = np.ones(len(records), dtype=bool)
        objs: Sequence[Any] | np.ndarray = records
    else:
        is_obj = np.array([t is dict for t in types], dtype=bool)
        objs = [r if t is dict else {} for r, t in zip(records, types, strict=True)]
    # dict.get through map: one C-level pass per field, no Python frame per record
    return is_obj, [list(map(dict.get, objs, repeat(name))) for name in names]


def _pages(items: Sequence[Item], first_record_no: int) -> dict[str, np.ndarray]:
    n = len(items)
    return {
        "record_no": np.arange(first_record_no, first_record_no + n, dtype=np.int64),
        "page": np.fromiter((i[0] for i in items), np.int64, n),
        "page_zone": _objects([i[1] for i in items]),
        "records": _objects([i[2] for i in items]),
    }


def _record_keys(keys: list[str | None], record_no: npt.NDArray[np.int64]) -> np.ndarray:
    return _objects(
        [
            k if k is not None else f"record:{no}"
            for k, no in zip(keys, record_no.tolist(), strict=True)
        ]
    )


def normalize_zone(
    items: Sequence[Item],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
) -> Frame:
    """(page number, page zone, record) items of a zone-dataset release as typed columns.

    One row per record received, numbered from ``first_record_no`` in the order received.
    Nothing is dropped here: deciding what is bad is validation's job.
    """
    n = len(items)
    cols = _pages(items, first_record_no)
    is_obj, (indicator_raw, value_raw, unit_raw, status_raw) = _fields(
        cols["records"], ("indicator", "value", "unit", "status")
    )
    indicator = _stripped(indicator_raw)
    status = [
        "A" if s is None or (isinstance(s, float) and math.isnan(s)) else str(s).strip()
        for s in status_raw
    ]
    units = _stripped(unit_raw, empty_is_missing=False)
    cat = catalog_columns(catalog, "zone")
    ind = cat.positions(indicator)
    parsed = parse_numbers(value_raw)
    num, den = cat.factor_of(ind, units)
    value, overflow = to_canonical(parsed, num, den)
    status_index = {s: k for k, s in enumerate(STATUSES)}
    cols.update(
        zone_code=np.full(n, zone_code, dtype=object),
        period=np.full(n, period, dtype=object),
        release_frequency=np.full(n, frequency, dtype=object),
        release_rank=np.full(n, FREQUENCY_RANK.get(frequency, -1), dtype=np.int8),
        malformed=~is_obj | np.array([i is None for i in indicator], dtype=bool),
        indicator=_objects(indicator),
        value_raw=_objects(value_raw),
        number=parsed.number,
        value_missing=parsed.missing,
        value_unparsable=parsed.unparsable | overflow,
        unit=_objects(units),
        status=_objects(status),
        status_code=np.array([status_index.get(s, -1) for s in status], dtype=np.int8),
        record_key=_record_keys(indicator, cols["record_no"]),
        **_catalog_facts(cat, ind),
        unit_ok=~np.isnan(num),
        value=value,
    )
    return Frame(cols, n, _catalog_texts(cat))


def normalize_enterprise(
    items: Sequence[Item],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
    uscc_allow: frozenset[str] = frozenset(),
) -> tuple[Frame, Frame]:
    """Enterprise records as a frame of enterprises and a frame of their values.

    The first frame has one row per enterprise received (the unit of the ledger's counts); the
    second one row per (enterprise, reported indicator), units converted, catalog joined, with
    ``rec`` the row of its enterprise. A missing key in ``values`` means not reported and makes
    no row.
    """
    n = len(items)
    cols = _pages(items, first_record_no)
    is_obj, (uscc_raw, name_raw, industry_raw, flag, values_raw, units_raw) = _fields(
        cols["records"], ("uscc", "name", "industry_code", "above_scale", "values", "units")
    )
    uscc = [(u.strip() or None) if type(u) is str else None for u in uscc_raw]
    uscc = [u.upper() if u is not None else None for u in uscc]
    flag_kinds = list(map(type, flag))
    flag_ok = np.array(
        [
            t is bool or f is None or (t is float and math.isnan(f))
            for f, t in zip(flag, flag_kinds, strict=True)
        ],
        dtype=bool,
    )
    has_values = np.array([type(v) is dict for v in values_raw], dtype=bool)
    units_ok = np.array(
        [
            u is None or type(u) is dict or (isinstance(u, float) and math.isnan(u))
            for u in units_raw
        ],
        dtype=bool,
    )
    cols.update(
        zone_code=np.full(n, zone_code, dtype=object),
        period=np.full(n, period, dtype=object),
        release_frequency=np.full(n, frequency, dtype=object),
        malformed=~is_obj
        | np.array([u is None for u in uscc], dtype=bool)
        | ~has_values
        | ~units_ok,
        uscc=_objects(uscc),
        uscc_allowed=np.array([u in uscc_allow for u in uscc], dtype=bool)
        if uscc_allow
        else np.zeros(n, dtype=bool),
        name=_objects(_stripped(name_raw)),
        industry_code=_objects(_stripped(industry_raw)),
        above_scale=_objects(
            [f if t is bool else None for f, t in zip(flag, flag_kinds, strict=True)]
        ),
        above_scale_ok=flag_ok,
        above_scale_src=_objects(flag),
        record_key=_record_keys(uscc, cols["record_no"]),
    )
    records = Frame(cols, n)
    # one row per reported value: the nested JSON flattened in C-level passes
    flat = np.flatnonzero(has_values & units_ok)
    dicts = [values_raw[i] for i in flat.tolist()]
    counts = np.fromiter(map(len, dicts), np.int64, len(dicts))
    codes: list[Any] = list(chain.from_iterable(map(dict.keys, dicts)))
    raw: list[Any] = list(chain.from_iterable(map(dict.values, dicts)))
    rec = np.repeat(flat, counts)
    cat = catalog_columns(catalog, "enterprise")
    ind = cat.positions(codes)
    # the canonical unit unless the record names another
    num, den = cat.canonical_num[ind], cat.canonical_den[ind]
    unit = cat.canonical_unit[ind]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]) if len(counts) else counts
    unit_maps = list(map(units_raw.__getitem__, flat.tolist()))
    for k in [k for k, u in enumerate(unit_maps) if type(u) is dict and u]:
        overrides = unit_maps[k]
        lo = int(starts[k])
        for j, code in enumerate(dicts[k]):
            if code in overrides:
                u = overrides[code]
                u = u.strip() if type(u) is str else None
                unit[lo + j] = u
                f = cat.factors.get((int(ind[lo + j]), u)) if u is not None else None
                num[lo + j], den[lo + j] = f if f is not None else (np.nan, np.nan)
    parsed = parse_numbers(raw)
    value, overflow = to_canonical(parsed, num, den)
    m = len(raw)
    values = Frame(
        {
            "rec": rec,
            "record_no": cols["record_no"][rec],
            "malformed": np.zeros(m, dtype=bool),
            # codes are the keys of JSON objects, so strings, unless a record was built otherwise
            "indicator": _objects(
                codes
                if list(map(type, codes)).count(str) == m
                else [c if type(c) is str else None for c in codes]
            ),
            "value_raw": _objects(raw),
            "number": parsed.number,
            "value_missing": parsed.missing,
            "value_unparsable": parsed.unparsable | overflow,
            "unit": unit,
            **_catalog_facts(cat, ind),
            "unit_ok": ~np.isnan(num),
            "value": value,
        },
        m,
        _catalog_texts(cat),
    )
    return records, values


# --- the frames of before, for the operators' one-record paths and the tests --------------------


def frame_to_pandas(frame: Frame) -> pd.DataFrame:
    """A frame as pandas, with the texts messages quote (value text, canonical JSON) made."""
    out = frame.to_pandas()
    if "value_raw" in out:
        out["value_text"] = pd.array([value_text(v) for v in frame["value_raw"]], dtype="string")
    if "records" in out:
        out["raw"] = [canonical_json(r) for r in frame["records"]]
    if "above_scale_src" in out:
        out["above_scale_raw"] = pd.array(
            [value_text(v) for v in frame["above_scale_src"]], dtype="string"
        )
        out["above_scale"] = pd.array(list(frame["above_scale"]), dtype="boolean")
    return out


def parse_values(values: pd.Series) -> pd.DataFrame:
    """Parse numbers given as JSON numbers or strings ("1,234.5", " 12 ", "", "-").

    Returns ``number`` (float, NaN where missing or unparsable), ``missing`` (not reported),
    ``unparsable`` (reported but not a number), and the decimal digits as ``mantissa`` × 10^-``scale``
    so that unit conversion can stay exact.
    """
    raw = values.tolist()
    parsed = parse_numbers(raw)
    ok = np.flatnonzero(~np.isnan(parsed.number))
    mantissa = parsed.number.copy()
    scale = np.zeros(len(raw))
    if len(ok):
        m, s = exact_decimals(parsed.plain_texts(ok))
        exact = ~np.isnan(m) & (np.abs(m) < 2**53) & (s <= 15)
        mantissa[ok[exact]], scale[ok[exact]] = m[exact], s[exact]
    return pd.DataFrame(
        {
            "number": parsed.number,
            "missing": parsed.missing,
            "unparsable": parsed.unparsable,
            "mantissa": mantissa,
            "scale": scale,
        },
        index=values.index,
    )


def zone_records_frame(
    items: Sequence[Item],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
) -> pd.DataFrame:
    """``normalize_zone`` as a pandas frame, with each record's value text and canonical JSON."""
    return frame_to_pandas(
        normalize_zone(
            items,
            first_record_no=first_record_no,
            zone_code=zone_code,
            period=period,
            frequency=frequency,
            catalog=catalog,
        )
    )


def enterprise_records_frames(
    items: Sequence[Item],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
    uscc_allow: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``normalize_enterprise`` as pandas frames (enterprises, values)."""
    records, values = normalize_enterprise(
        items,
        first_record_no=first_record_no,
        zone_code=zone_code,
        period=period,
        frequency=frequency,
        catalog=catalog,
        uscc_allow=uscc_allow,
    )
    return frame_to_pandas(records), frame_to_pandas(values)
