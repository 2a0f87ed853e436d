"""Normalize: received records -> a typed long frame (numbers parsed, units converted, catalog joined)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from zonestats.catalog import Catalog

# Full-width forms that Chinese office software produces in numbers.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９，．－＋　", "0123456789,.-+ ")
# powers of ten as exact doubles (a vectorized pow may be off by one ulp)
_POW10 = np.array([10.0**i for i in range(16)])
_MISSING_TEXT = ("", "-", "—", "--")
_NUMBER = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?([eE][+-]?\d+)?$|^[+-]?\.\d+$"


def canonical_json(record: Any) -> str:
    """The record as received, as stable JSON text (key order normalized, Chinese kept)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _raw_texts(items: Sequence[tuple[Any, ...]]) -> list[str]:
    """Each record's canonical JSON: a 4th item element when the caller has made it already."""
    return [i[3] if len(i) > 3 else canonical_json(i[2]) for i in items]


def parse_values(values: pd.Series) -> pd.DataFrame:
    """Parse numbers given as JSON numbers or strings ("1,234.5", " 12 ", "", "-").

    Returns ``number`` (float, NaN where missing or unparsable), ``missing`` (not reported),
    ``unparsable`` (reported but not a number), and the decimal digits as ``mantissa`` × 10^-``scale``
    so that unit conversion can stay exact; vectorized over the batch.
    """
    kinds = values.map(type)
    is_bool = kinds.eq(bool)
    is_null = values.isna()
    text = values.astype("string")
    # full-width digits are rare: translate (a Python call per value) only the non-ASCII texts
    wide = ~pd.Series(
        pc.string_is_ascii(pa.array(text.to_numpy(dtype=object, na_value=None), pa.string()))
        .fill_null(True)
        .to_numpy(zero_copy_only=False),
        index=values.index,
    )
    if wide.any():
        text = text.where(~wide, text[wide].str.translate(_FULL_WIDTH))
    text = text.str.strip()
    missing = is_null | text.isin(_MISSING_TEXT).fillna(True).astype(bool)
    shaped = text.str.match(_NUMBER).fillna(False).astype(bool)
    plain = text.str.replace(",", "", regex=False).where(shaped)
    number = pd.to_numeric(plain, errors="coerce").astype("float64")
    finite = np.isfinite(number.to_numpy(dtype="float64", na_value=np.nan))
    unparsable = ~missing & (is_bool | ~shaped | ~finite)
    ok = ~unparsable & ~missing
    number = number.where(ok)
    # "3.5421" -> 35421 × 10^-4: integers convert between units without binary rounding
    # Arrow's regex kernels work on the buffers; pandas' extract goes through Python per value
    shapes = pc.extract_regex(
        pa.array(plain.to_numpy(dtype=object, na_value=None), type=pa.large_string()),
        r"^(?P<sign>[+-]?)(?P<int>\d*)(?:\.(?P<frac>\d*))?$",
    )
    frac = pc.struct_field(shapes, "frac")
    digits = pc.binary_join_element_wise(
        pc.struct_field(shapes, "sign"),
        pc.struct_field(shapes, "int"),
        frac,
        pa.scalar("", pa.large_string()),
    )
    mantissa = pd.to_numeric(
        pd.Series(digits.to_pandas(), index=values.index), errors="coerce"
    ).astype("float64")
    scale = pd.Series(
        pc.fill_null(pc.utf8_length(frac), 0).to_numpy(zero_copy_only=False), index=values.index
    ).astype("float64")
    exact = ok & mantissa.notna() & (mantissa.abs() < 2**53) & (scale <= 15)
    return pd.DataFrame(
        {
            "number": number,
            "missing": missing & ~is_bool,
            "unparsable": unparsable,
            "mantissa": mantissa.where(exact, number),
            "scale": scale.where(exact, 0.0),
        },
        index=values.index,
    )


def _records_body(
    items: Sequence[tuple[int, str, Any]], columns: list[str]
) -> tuple[list[Any], pd.Series, pd.DataFrame]:
    """The records, which of them are objects, and their fields as columns (one row each)."""
    recs = [i[2] for i in items]
    is_obj = pd.Series([isinstance(r, dict) for r in recs], dtype=bool)
    body = pd.DataFrame.from_records(
        [r if isinstance(r, dict) else {} for r in recs], columns=columns, nrows=len(recs)
    )
    if len(body) < len(recs):  # from_records of an empty list of dicts gives no rows
        body = body.reindex(range(len(recs)))
    return recs, is_obj, body


def zone_records_frame(
    items: Sequence[tuple[int, str, Any]],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
) -> pd.DataFrame:
    """Turn (page number, page zone, record) items of a zone-dataset release into a typed frame.

    One row per record received, numbered from ``first_record_no`` in the order received.
    Nothing is dropped here: deciding what is bad is validation's job.
    """
    n = len(items)
    pages = pd.Series([i[0] for i in items], dtype="int64")
    page_zone = pd.Series([i[1] for i in items], dtype="string")
    _recs, is_obj, body = _records_body(items, ["indicator", "value", "unit", "status"])
    indicator = body["indicator"].where(body["indicator"].map(type).eq(str)).astype("string")
    unit = body["unit"].where(body["unit"].map(type).eq(str)).astype("string").str.strip()
    status = body["status"].astype("string").str.strip().fillna("A")
    parsed = parse_values(body["value"])
    frame = pd.DataFrame(
        {
            "record_no": pd.RangeIndex(first_record_no, first_record_no + n).to_numpy(),
            "page": pages,
            "page_zone": page_zone,
            "zone_code": zone_code,
            "period": period,
            "release_frequency": frequency,
            "malformed": ~is_obj | indicator.str.strip().replace("", pd.NA).isna(),
            "indicator": indicator.str.strip().replace("", pd.NA),
            "value_text": body["value"].astype("string"),
            "number": parsed["number"],
            "mantissa": parsed["mantissa"],
            "scale": parsed["scale"],
            "value_missing": parsed["missing"],
            "value_unparsable": parsed["unparsable"],
            "unit": unit,
            "status": status,
            "raw": _raw_texts(items),
        }
    )
    frame["record_key"] = frame["indicator"].fillna("record:" + frame["record_no"].astype(str))
    return join_catalog(frame, catalog, "zone")


def join_catalog(frame: pd.DataFrame, catalog: Catalog, dataset: str) -> pd.DataFrame:
    """Attach each row's catalog facts and convert its value to the canonical unit."""
    facts = catalog.lookup(dataset)
    out = frame.copy()
    for column, mapping in facts.by_indicator.items():
        out[column] = out["indicator"].map(mapping)
    unit_key = out["indicator"].fillna("") + "\x1f" + out["unit"].fillna("\x1e")
    out["factor_num"] = unit_key.map(facts.factor_num)
    out["factor_den"] = unit_key.map(facts.factor_den)
    out["known"] = out["canonical_unit"].notna()
    out["unit_ok"] = out["factor_num"].notna()
    out["min"] = out["min"].astype("float64")
    out["max"] = out["max"].astype("float64")
    # exact arithmetic up to one final rounding: (digits × numerator) / (10^scale × denominator),
    # so 12345 元 is 1.2345 万元 and 3.5421 万人 is 35421 人, not 35420.999…
    num = out["mantissa"] * out["factor_num"].astype("float64")
    power = _POW10[out["scale"].fillna(0).astype("int64").to_numpy()]
    out["value"] = num / (power * out["factor_den"].astype("float64"))
    # a figure near the float limit (1e308 亿元) overflows to ±inf in the canonical unit: no
    # bound catches an infinity where the catalog has no max, so it would load; it is a figure
    # no double can hold, held out as unparsable (its message quotes the text as received)
    overflow = np.isinf(out["value"].to_numpy(dtype="float64", na_value=np.nan))
    if overflow.any():
        out.loc[overflow, "value_unparsable"] = True
        out.loc[overflow, "value"] = np.nan
    out["integer"] = out["integer"].astype("boolean").fillna(False).astype(bool)
    return out


def _text(series: pd.Series) -> pd.Series:
    """Strings stripped; anything that is not a string becomes missing."""
    return series.where(series.map(type).eq(str)).astype("string").str.strip().replace("", pd.NA)


def enterprise_records_frames(
    items: Sequence[tuple[int, str, Any]],
    *,
    first_record_no: int,
    zone_code: str,
    period: str,
    frequency: str,
    catalog: Catalog,
    uscc_allow: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn enterprise records into a frame of enterprises and a long frame of their values.

    The first frame has one row per enterprise received (the unit of the ledger's counts); the
    second one row per (enterprise, reported indicator), units converted, catalog joined. A
    missing key in ``values`` means not reported and makes no row.
    """
    n = len(items)
    _recs, is_obj, body = _records_body(
        items, ["uscc", "name", "industry_code", "above_scale", "values", "units"]
    )
    record_no = pd.RangeIndex(first_record_no, first_record_no + n).to_numpy()
    uscc = _text(body["uscc"]).str.upper()
    flag = body["above_scale"]
    flag_kind = flag.map(type)
    has_values = body["values"].map(type).eq(dict)
    units_ok = body["units"].isna() | body["units"].map(type).eq(dict)
    frame = pd.DataFrame(
        {
            "record_no": record_no,
            "page": pd.Series([i[0] for i in items], dtype="int64"),
            "page_zone": pd.Series([i[1] for i in items], dtype="string"),
            "zone_code": zone_code,
            "period": period,
            "release_frequency": frequency,
            "malformed": ~is_obj | uscc.isna() | ~has_values | ~units_ok,
            "uscc": uscc,
            "uscc_allowed": uscc.isin(list(uscc_allow)).fillna(False).astype(bool),
            "name": _text(body["name"]),
            "industry_code": _text(body["industry_code"]),
            "above_scale": flag.where(flag_kind.eq(bool)).astype("boolean"),
            "above_scale_ok": (flag_kind.eq(bool) | flag.isna()).astype(bool),
            "above_scale_raw": flag.astype("string"),
            "raw": _raw_texts(items),
        }
    )
    frame["record_key"] = frame["uscc"].fillna("record:" + frame["record_no"].astype(str))
    # one row per reported value; building it walks the nested JSON once, the checks stay vectorized
    rows_no: list[int] = []
    codes: list[Any] = []
    raw_values: list[Any] = []
    units: list[Any] = []
    canonical = catalog.lookup("enterprise").by_indicator["canonical_unit"]
    for no, vals, unit_map, ok in zip(
        record_no, body["values"], body["units"], has_values & units_ok, strict=True
    ):
        if not ok:
            continue
        overrides = unit_map if isinstance(unit_map, dict) else {}
        for code, value in vals.items():
            rows_no.append(int(no))
            codes.append(code)
            raw_values.append(value)
            units.append(overrides.get(code, canonical.get(code)))
    parsed = parse_values(pd.Series(raw_values, dtype=object))
    values = pd.DataFrame(
        {
            "record_no": pd.Series(rows_no, dtype="int64"),
            "malformed": False,
            "indicator": pd.Series(codes, dtype=object)
            .where(lambda s: s.map(type).eq(str))
            .astype("string"),
            "value_text": pd.Series(raw_values, dtype=object).astype("string"),
            "number": parsed["number"],
            "mantissa": parsed["mantissa"],
            "scale": parsed["scale"],
            "value_missing": parsed["missing"],
            "value_unparsable": parsed["unparsable"],
            "unit": pd.Series(units, dtype=object)
            .where(lambda s: s.map(type).eq(str))
            .astype("string")
            .str.strip(),
        }
    )
    return frame, join_catalog(values, catalog, "enterprise")
