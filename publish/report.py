"""The illustrated annual report: one self-contained HTML page plus PNG charts beside it.

This module picks the year's rows out of the marts and writes the report; the charts are
``publish.report_charts`` (their font ``publish.chart_fonts``), the page ``publish.report_page``
with its tables from ``publish.report_tables``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from publish import chart_fonts
from publish.atomic import write_atomically
from publish.report_charts import TREND_INDICATORS, draw_charts
from publish.report_page import render_page

__all__ = ["write_report"]


def write_report(
    out_dir: Path,
    year: int,
    evaluation: pd.DataFrame,
    monthly: pd.DataFrame,
    zones: pd.DataFrame,
    indicators: pd.DataFrame,
    punctuality: pd.DataFrame | None = None,
    calendar_as_of: datetime | None = None,
) -> Path:
    """Write ``out_dir/report-<year>.html`` and its charts in ``out_dir/report-<year>/``.

    ``punctuality``: per zone the year's releases due, on time, late, missing, overdue (the
    marts.release_calendar.punctuality frame), as the release calendar of ``calendar_as_of``
    says; without it the section says there is none.
    """
    out_dir = Path(out_dir)
    chart_dir = out_dir / f"report-{year}"
    chart_dir.mkdir(parents=True, exist_ok=True)
    names = _zone_frame(zones)
    ev = _evaluation_of(evaluation, year)
    mon = _monthly_of(monthly, year)
    inds = _indicator_names(indicators)
    zh_names = {code: str(row.get("name_zh") or code) for code, row in names.items()}
    # looked up through the module at each call: the tests put a font of their own in its place
    charts = draw_charts(chart_dir, ev, mon, zh_names, inds, chart_fonts.find_cjk_font())
    page = render_page(year, ev, mon, names, inds, charts, punctuality, calendar_as_of)
    target = out_dir / f"report-{year}.html"
    return write_atomically(target, lambda tmp: tmp.write_text(page, encoding="utf-8"))


# --- inputs ---------------------------------------------------------------------------------


def _zone_frame(zones: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if zones is None or zones.empty:
        return {}
    return {str(r["zone_code"]): dict(r) for r in zones.to_dict("records")}


def _evaluation_of(evaluation: pd.DataFrame, year: int) -> pd.DataFrame:
    """The evaluation rows of ``year`` in rank order (ties by zone_code); empty if none."""
    if evaluation is None or evaluation.empty or "zone_code" not in evaluation.columns:
        return pd.DataFrame()
    ev = evaluation
    if "year" in ev.columns:
        ev = ev[pd.to_numeric(ev["year"], errors="coerce") == year]
    ev = ev.assign(_rank=pd.to_numeric(ev.get("rank"), errors="coerce"))
    return ev.sort_values(["_rank", "zone_code"], na_position="last", kind="stable").reset_index(
        drop=True
    )


def _monthly_of(monthly: pd.DataFrame, year: int) -> pd.DataFrame:
    """The zone_monthly rows of ``year`` for the trend indicators, with an integer month."""
    if monthly is None or monthly.empty:
        return pd.DataFrame()
    mon = monthly[monthly["indicator_code"].isin(TREND_INDICATORS)]
    if "year" in mon.columns:
        mon = mon[pd.to_numeric(mon["year"], errors="coerce") == year]
    else:
        mon = mon[mon["period"].astype(str).str[:4] == str(year)]
    months = mon["month"] if "month" in mon.columns else mon["period"].astype(str).str[5:7]
    mon = mon.assign(
        month=pd.to_numeric(months, errors="coerce"),
        ytd_value=pd.to_numeric(mon["ytd_value"], errors="coerce"),
    )
    return mon.dropna(subset=["month", "ytd_value"])


def _indicator_names(indicators: pd.DataFrame) -> dict[str, dict[str, Any]]:
    if indicators is None or indicators.empty:
        return {}
    zone = indicators[indicators["dataset"] == "zone"] if "dataset" in indicators else indicators
    return {str(r["code"]): dict(r) for r in zone.to_dict("records")}
