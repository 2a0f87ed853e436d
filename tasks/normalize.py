"""Normalize: received records -> a typed long frame (numbers parsed, units converted, catalog joined)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from zonestats.catalog import Catalog

# Full-width forms that Chinese office software produces in numbers.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９，．－＋　", "0123456789,.-+ ")
_MISSING_TEXT = ("", "-", "—", "--")
_NUMBER = r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?([eE][+-]?\d+)?$|^[+-]?\.\d+$"


def canonical_json(record: Any) -> str:
    """The record as received, as stable JSON text (key order normalized, Chinese kept)."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def parse_values(values: pd.Series) -> pd.DataFrame:
    """Parse numbers given as JSON numbers or strings ("1,234.5", " 12 ", "", "-").

    Returns columns ``number`` (float, NaN where missing or unparsable), ``missing`` (not
    reported) and ``unparsable`` (reported but not a number), vectorized over the batch.
    """
    kinds = values.map(type)
    is_bool = kinds.eq(bool)
    is_null = values.isna()
    text = values.astype("string").str.translate(_FULL_WIDTH).str.strip()
    missing = is_null | text.isin(_MISSING_TEXT).fillna(True).astype(bool)
    shaped = text.str.match(_NUMBER).fillna(False).astype(bool)
    number = pd.to_numeric(text.str.replace(",", "", regex=False).where(shaped), errors="coerce")
    number = number.astype("float64")
    finite = np.isfinite(number.to_numpy(dtype="float64", na_value=np.nan))
    unparsable = ~missing & (is_bool | ~shaped | ~finite)
    number = number.where(~unparsable & ~missing)
    return pd.DataFrame(
        {"number": number, "missing": missing & ~is_bool, "unparsable": unparsable},
        index=values.index,
    )


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
    recs = [i[2] for i in items]
    is_obj = pd.Series([isinstance(r, dict) for r in recs], dtype=bool)
    body = pd.DataFrame.from_records(
        [r if isinstance(r, dict) else {} for r in recs],
        columns=["indicator", "value", "unit", "status"],
        nrows=n,
    )
    if len(body) < n:  # from_records of an empty list of dicts gives no rows
        body = body.reindex(range(n))
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
            "malformed": ~is_obj | indicator.isna(),
            "indicator": indicator.str.strip(),
            "value_text": body["value"].astype("string"),
            "number": parsed["number"],
            "value_missing": parsed["missing"],
            "value_unparsable": parsed["unparsable"],
            "unit": unit,
            "status": status,
            "raw": [canonical_json(r) for r in recs],
        }
    )
    frame["record_key"] = frame["indicator"].fillna("record:" + frame["record_no"].astype(str))
    return join_catalog(frame, catalog, "zone")


def join_catalog(frame: pd.DataFrame, catalog: Catalog, dataset: str) -> pd.DataFrame:
    """Attach each row's catalog facts and convert its value to the canonical unit."""
    inds = catalog.indicators_frame
    inds = inds[inds["dataset"] == dataset].drop(columns="dataset")
    units = catalog.units_frame
    units = units[units["dataset"] == dataset].drop(columns="dataset")
    allowed = units.groupby("indicator")["unit"].agg(lambda u: "、".join(u)).rename("allowed_units")
    out = frame.merge(inds, on="indicator", how="left", validate="many_to_one")
    out = out.merge(units, on=["indicator", "unit"], how="left", validate="many_to_one")
    out = out.merge(allowed, left_on="indicator", right_index=True, how="left")
    out["known"] = out["canonical_unit"].notna()
    out["unit_ok"] = out["factor_num"].notna()
    # exact factors: multiply by the numerator, then divide by the denominator (元 -> 万元 is /10000)
    out["value"] = (
        out["number"] * out["factor_num"].astype("float64") / out["factor_den"].astype("float64")
    )
    out["integer"] = out["integer"].astype("boolean").fillna(False).astype(bool)
    return out.set_index(frame.index)
