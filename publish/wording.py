"""How a figure reads to a statistician: missing or not, its kind, flags and metrics in Chinese."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from zonestats.periods import infer_frequency

#: (code, name_zh, name_en) of the four pillars of evaluation.md, in the spec's order
PILLARS: tuple[tuple[str, str, str], ...] = (
    ("score_mujun", "亩均效益", "Output per mu"),
    ("score_jiju", "集聚集约", "Agglomeration"),
    ("score_zengliang", "增量增速", "Growth"),
    ("score_jiantan", "减污降碳", "Pollution & carbon"),
)
#: code -> (name_zh, unit) of the twelve annual metrics of evaluation.md, in the spec's order
METRICS: dict[str, tuple[str, str]] = {
    "tax_per_mu": ("亩均税收", "万元/亩"),
    "revenue_per_mu": ("亩均营收", "万元/亩"),
    "va_per_mu": ("亩均工业增加值", "万元/亩"),
    "leading_industry_share": ("主导产业集聚率", "%"),
    "land_development_rate": ("土地开发率", "%"),
    "rd_intensity": ("研发投入强度", "%"),
    "revenue_growth": ("营业收入增速", "%"),
    "investment_growth": ("固定资产投资增速", "%"),
    "industrial_va_growth": ("规上工业增加值增速", "%"),
    "energy_per_va": ("单位工业增加值能耗", "吨标准煤/万元"),
    "co2_per_va": ("单位工业增加值碳排放", "吨/万元"),
    "green_power_share": ("绿电消费占比", "%"),
}


def is_missing(value: Any) -> bool:
    """True for None, NA and NaN: a figure that is not there."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def figure_kind(basis: str, period: str) -> str:
    """What a figure of ``period`` is, in a statistician's words: 1–3月累计, 3月末, 1季度, 年末."""
    freq = infer_frequency(period)
    if freq == "A":
        return "年末" if basis == "stock" else "全年"
    n = int(period.rsplit("-", 1)[1].lstrip("Q"))
    unit = "月" if freq == "M" else "季度"
    if basis == "stock":
        return f"{n}{unit}末"
    span = f"{n}{unit}" if n == 1 else f"1–{n}{unit}"
    if basis == "ytd_rate":
        return f"{span}累计同比"
    return span if n == 1 else f"{span}累计"


def _metric_list(value: Any) -> list[str]:
    """missing_metrics as a list of codes, whether stored as a list, JSON text or 'a,b'."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else list(value)
        return [str(v) for v in items if str(v)]
    if is_missing(value):
        return []
    return [p for p in re.split(r"[\s,;、\[\]\"']+", str(value)) if p]


def missing_metrics_zh(value: Any) -> str:
    """missing_metrics in Chinese, e.g. '亩均税收、研发投入强度' ('' when none)."""
    return "、".join(METRICS.get(code, (code, ""))[0] for code in _metric_list(value))


def flag_zh(value: Any) -> str:
    """A flag as stored by SQLite, PostgreSQL or Parquet as 是/否, '' when it is unknown (NA)."""
    # the mart leaves transition_candidate NA when the land figures are missing: that is
    # "unknown", and printing 否 would assert something the data do not say
    if is_missing(value):
        return ""
    if isinstance(value, str):
        return "是" if value.strip().lower() in ("1", "true", "t", "y", "yes", "是") else "否"
    return "是" if bool(value) else "否"
