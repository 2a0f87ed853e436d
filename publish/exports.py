"""Exports a statistician hands on: the provincial xlsx summary, a long CSV and SDMX-CSV 2.0.

Every export covers the releases that end with the requested period P (see
``periods_for_export``) and is written under a hidden temp name beside its final path, then
renamed into place, so a reader never opens half a file. This module writes the two CSV
formats and is where callers find every export; the workbook is ``publish.xlsx``, the rows an
export holds ``publish.selection``, the wording of figures ``publish.wording``.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import pandas as pd

from publish.atomic import write_atomically
from publish.selection import (
    catalog_order,
    ordered,
    periods_for_export,
    select_rows,
    zone_indicators,
    zone_names,
)
from publish.wording import METRICS, PILLARS, figure_kind, flag_zh, is_missing, missing_metrics_zh
from publish.xlsx import export_xlsx

# the names callers import from here: each export, and what the exports share
__all__ = [
    "DEFAULT_DATAFLOW",
    "METRICS",
    "PILLARS",
    "export_csv",
    "export_sdmx_csv",
    "export_xlsx",
    "figure_kind",
    "flag_zh",
    "is_missing",
    "missing_metrics_zh",
    "periods_for_export",
    "write_atomically",
]

CSV_COLUMNS = (
    "zone_code",
    "zone_name_zh",
    "indicator_code",
    "indicator_name_zh",
    "period",
    "frequency",
    "value",
    "unit",
    "status",
    "revision",
)
SDMX_COLUMNS = (
    "STRUCTURE",
    "STRUCTURE_ID",
    "ACTION",
    "REF_AREA",
    "INDICATOR",
    "TIME_PERIOD",
    "OBS_VALUE",
    "UNIT_MEASURE",
    "OBS_STATUS",
)
DEFAULT_DATAFLOW = "SX_DZ:DF_ZONESTATS(1.0)"
# AGENCY:ID(VERSION) — a typo here makes the file unloadable by SDMX tools, so refuse it early.
_DATAFLOW_RE = re.compile(r"^[A-Za-z][\w.@$-]*:[A-Za-z][\w@$-]*\([0-9A-Za-z.+*-]+\)\Z")


def export_csv(
    path: Path, period: str, obs: pd.DataFrame, indicators: pd.DataFrame, zones: pd.DataFrame
) -> Path:
    """Write the releases of ``period`` as long UTF-8 CSV with a BOM, so Excel shows Chinese."""
    periods = periods_for_export(period)
    inds = zone_indicators(indicators)
    names = zone_names(zones)
    rows = ordered(select_rows(obs, periods.values()), periods, {c: n for n, c in enumerate(inds)})

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(CSV_COLUMNS)
            for r in rows.itertuples(index=False):
                ind = inds.get(r.indicator_code, {})
                out.writerow(
                    [
                        r.zone_code,
                        names.get(r.zone_code, {}).get("name_zh", ""),
                        r.indicator_code,
                        ind.get("name_zh", ""),
                        r.period,
                        r.frequency,
                        _csv_number(r.value, r.status),
                        r.unit,
                        r.status,
                        _int_text(r.revision),
                    ]
                )

    return write_atomically(path, write)


def export_sdmx_csv(
    path: Path, period: str, obs: pd.DataFrame, dataflow: str = DEFAULT_DATAFLOW
) -> Path:
    """Write the releases of ``period`` as SDMX-CSV 2.0 (UTF-8, one observation a line)."""
    if not _DATAFLOW_RE.match(dataflow):
        raise ValueError(
            f"dataflow {dataflow!r} is not AGENCY:ID(VERSION), e.g. {DEFAULT_DATAFLOW}"
        )
    periods = periods_for_export(period)
    rows = ordered(select_rows(obs, periods.values()), periods, catalog_order())

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(SDMX_COLUMNS)
            for r in rows.itertuples(index=False):
                # the warehouse's period strings are already SDMX time periods (2026-03,
                # 2026-Q1, 2026), so TIME_PERIOD is the period as stored
                out.writerow(
                    [
                        "dataflow",
                        dataflow,
                        "I",
                        r.zone_code,
                        r.indicator_code,
                        r.period,
                        _csv_number(r.value, r.status),
                        r.unit,
                        r.status,
                    ]
                )

    return write_atomically(path, write)


def _csv_number(value: Any, status: Any) -> str:
    """A figure as plain text: shortest round-trip form, no thousands separator, '' for M."""
    if status == "M" or is_missing(value):
        return ""
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _int_text(value: Any) -> str:
    return "" if is_missing(value) else str(int(value))
