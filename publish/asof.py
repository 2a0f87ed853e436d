"""The observations as the warehouse held them on a day, handed on as CSV or Parquet.

The rows keep the columns of ``obs_zone`` / ``obs_enterprise`` (the contract), nothing the
warehouse learnt later: not when a revision was superseded, which was not known that day.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from publish.atomic import write_atomically
from zonestats.numbers import plain_number

#: per dataset, the columns handed on, in the contract's order (``obs_zone`` / ``obs_enterprise``)
COLUMNS = {
    "zone": (
        "zone_code", "indicator_code", "period", "frequency", "revision", "value", "unit",
        "status", "load_id", "loaded_at",
    ),
    "enterprise": (
        "zone_code", "uscc", "period", "revision", "indicator_code", "value", "unit", "load_id",
        "loaded_at",
    ),
}  # fmt: skip
_TYPES = {
    "revision": pa.int32(),
    "value": pa.float64(),
    "loaded_at": pa.timestamp("us", tz="UTC"),
}


def _cell(name: str, value: Any) -> str:
    if name == "value":
        return plain_number(value)
    if name == "loaded_at":
        return pd.Timestamp(value).isoformat() if pd.notna(value) else ""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def write_csv(out: TextIO, rows: pd.DataFrame, dataset: str) -> None:
    """Write the rows as CSV (a header, then one observation a line; times ISO 8601 in UTC)."""
    columns = COLUMNS[dataset]
    writer = csv.writer(out)
    writer.writerow(columns)
    for record in rows[list(columns)].itertuples(index=False):
        writer.writerow([_cell(name, value) for name, value in zip(columns, record, strict=True)])


def write_csv_file(path: Path, rows: pd.DataFrame, dataset: str) -> Path:
    """Write the rows as a UTF-8 CSV file (temp file, then rename)."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            write_csv(fh, rows, dataset)

    return write_atomically(path, write)


def write_parquet(path: Path, rows: pd.DataFrame, dataset: str) -> Path:
    """Write the rows as one Parquet file (temp file, then rename), typed as the warehouse's."""
    columns = COLUMNS[dataset]
    schema = pa.schema([(c, _TYPES.get(c, pa.string())) for c in columns])
    table = pa.Table.from_pandas(
        rows[list(columns)].reset_index(drop=True), schema=schema, preserve_index=False
    )
    return write_atomically(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
