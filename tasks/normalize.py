"""Normalize: received records -> typed numpy columns (numbers parsed, units converted, catalog joined).

A batch of records becomes a ``Frame`` (validation.checks): one row per record, and for the
enterprise dataset a second frame with one row per reported value. The ordinary record takes a
few C-level passes (fields picked out of the parsed JSON with ``map``, values flattened with
``chain``, numbers parsed by Arrow's regex and cast kernels); an odd one — not an object, a
number where a code belongs, a full-width or non-ASCII figure, a boolean value — takes an exact
per-value path with the same answer. Texts only messages need (a value as received, a record's
canonical JSON) are made for the failing rows, by the validator. The numbers are read by
``tasks.numeric``, the catalog joined through ``tasks.catalog_columns``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from tasks.catalog_columns import catalog_columns, catalog_facts, catalog_texts
from tasks.numeric import Bools, exact_decimals, parse_numbers, to_canonical
from validation.checks import FREQUENCY_RANK, STATUSES, Frame
from validation.engine import value_text
from warehouse.staging import canonical_text
from zonestats.catalog import Catalog

Item = tuple[int, str, Any]  # (page number, page zone, record)


def canonical_json(record: Any) -> str:
    """The record as received, as stable JSON text (key order normalized, Chinese kept)."""
    return canonical_text(record)


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
        **catalog_facts(cat, ind),
        unit_ok=~np.isnan(num),
        value=value,
    )
    return Frame(cols, n, catalog_texts(cat))


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
            **catalog_facts(cat, ind),
            "unit_ok": ~np.isnan(num),
            "value": value,
        },
        m,
        catalog_texts(cat),
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
