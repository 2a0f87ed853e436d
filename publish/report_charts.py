"""The report's charts (matplotlib, Agg, no pyplot): ranking, pillar scores, monthly trend.

Drawn bilingual with a Chinese font, in English with zone codes without one; each saved as a PNG
by temp-and-rename beside the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from publish.atomic import write_atomically
from publish.wording import PILLARS, is_missing

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: chart key -> file name inside ``report-<year>/``
CHART_FILES = {"ranking": "ranking.png", "pillars": "pillars.png", "trend": "trend.png"}
#: the indicators of the monthly trend chart, in panel order
TREND_INDICATORS = ("revenue", "industrial_output", "tax_revenue", "electricity_consumption")
GRADE_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#ef6c00", "D": "#c62828"}
NO_GRADE = "#9e9e9e"
_PILLAR_COLOURS = ("#00796b", "#5e35b1", "#f9a825", "#558b2f")
# dark half of tab20 plus black: 11 zones, each one colour in every panel
_ZONE_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#000000",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h")
# units in English for charts drawn without a CJK font
_UNITS_EN = {
    "万元": "10k yuan",
    "万美元": "10k USD",
    "万千瓦时": "10k kWh",
    "吨标准煤": "t coal equiv.",
    "吨": "t",
    "亩": "mu",
    "个": "count",
    "人": "persons",
    "%": "%",
}
_MONTHS_EN = (
    "",
    "Jan",
    "Jan–Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


@dataclass(frozen=True)
class _Text:
    """Chart wording: bilingual with a CJK font, English and zone codes without one."""

    cjk: bool

    def __call__(self, zh: str, en: str) -> str:
        return f"{zh}  {en}" if self.cjk else en

    def unit(self, unit: str) -> str:
        if self.cjk:
            return unit
        return _UNITS_EN.get(unit, unit if unit.isascii() else "")

    def zone(self, code: str, names: dict[str, str]) -> str:
        return names.get(code, code) if self.cjk else code

    def month(self, month: int) -> str:
        if self.cjk:
            return "1–2月" if month == 2 else f"{month}月"
        return _MONTHS_EN[month] if 1 <= month <= 12 else str(month)


@contextmanager
def _chart_style(font: str | None) -> Iterator[None]:
    import matplotlib

    rc: dict[RcKeyType, Any] = {
        "font.size": 9,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    if font is not None:
        rc.update(
            {
                "font.family": "sans-serif",
                "font.sans-serif": [font, "DejaVu Sans"],
                # many CJK fonts lack U+2212, the minus sign matplotlib draws by default
                "axes.unicode_minus": False,
            }
        )
    # rc_context, not rcParams: the caller's own matplotlib settings are left as they were
    with matplotlib.rc_context(rc):
        yield


def _figure(width: float, height: float) -> Figure:
    # The Agg canvas is attached to each figure here instead of switching the process-wide
    # backend: works headless, needs no pyplot, and leaves a notebook's backend alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(chart_dir: Path, key: str, fig: Figure) -> str:
    """Save a chart under its name by temp-and-rename; return its path relative to the page."""
    name = CHART_FILES[key]
    write_atomically(
        chart_dir / name,
        lambda tmp: fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None}),
    )
    return f"{chart_dir.name}/{name}"


def _ranking_chart(ev: pd.DataFrame, names: dict[str, str], text: _Text) -> Figure:
    from matplotlib.patches import Patch

    n = len(ev)
    fig = _figure(9.5, 1.2 + 0.42 * n)
    ax = fig.add_subplot()
    composite = pd.to_numeric(ev["composite"], errors="coerce")
    grades = [str(g) if not is_missing(g) else "" for g in ev.get("grade", [""] * n)]
    labels = [
        f"{'' if is_missing(r) else int(r)}. {text.zone(str(z), names)}"
        for r, z in zip(ev["_rank"], ev["zone_code"], strict=True)
    ]
    ys = list(range(n))
    ax.barh(
        ys,
        composite.fillna(0),
        color=[GRADE_COLOURS.get(g, NO_GRADE) for g in grades],
        height=0.7,
    )
    for y, value in zip(ys, composite, strict=True):
        label = "—" if pd.isna(value) else f"{value:.1f}"
        ax.text((0 if pd.isna(value) else value) + 1, y, label, va="center", fontsize=8)
    for threshold in (50, 65, 80):  # the grade boundaries of evaluation.md
        ax.axvline(threshold, color="#bdbdbd", linestyle="--", linewidth=0.8, zorder=0)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()  # rank 1 on top
    ax.set_xlim(0, 108)
    ax.set_xlabel(text("综合得分（0–100）", "Composite score (0–100)"))
    ax.set_title(
        text("综合评价排名", "Composite evaluation ranking"), loc="left", fontweight="bold"
    )
    bounds = {"A": "≥ 80", "B": "65–80", "C": "50–65", "D": "< 50"}
    ax.legend(
        handles=[Patch(color=c, label=f"{g}  {bounds[g]}") for g, c in GRADE_COLOURS.items()],
        title=text("等级", "Grade"),
        loc="lower right",
        fontsize=8,
        frameon=False,
    )
    return fig


def _pillar_chart(ev: pd.DataFrame, text: _Text) -> Figure:
    fig = _figure(11, 6.5)
    axes = fig.subplots(2, 2, sharey=True)
    codes = [str(z) for z in ev["zone_code"]]
    xs = list(range(len(codes)))
    for ax, (column, zh, en), colour in zip(axes.flat, PILLARS, _PILLAR_COLOURS, strict=True):
        scores = pd.to_numeric(ev.get(column, pd.Series([None] * len(ev))), errors="coerce")
        ax.bar(xs, scores.fillna(0), color=colour, width=0.7)
        if scores.notna().any():
            mean = float(scores.mean())
            ax.axhline(mean, color="#424242", linestyle="--", linewidth=0.8)
            ax.text(
                len(xs) - 0.5,
                mean + 2,
                text(f"均值 {mean:.1f}", f"mean {mean:.1f}"),
                ha="right",
                fontsize=7,
                color="#424242",
                # the label sits over the bars; a white box keeps it legible on any of them
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
            )
        ax.set_xticks(xs, codes, fontsize=7.5)
        ax.set_ylim(0, 105)
        ax.set_title(text(zh, en), loc="left", fontweight="bold")
    axes[0][0].set_ylabel(text("得分", "Score"))
    axes[1][0].set_ylabel(text("得分", "Score"))
    fig.suptitle(
        text("分项得分（按综合排名排列）", "Pillar scores (zones in rank order)"),
        x=0.01,
        ha="left",
        fontweight="bold",
    )
    return fig


def _trend_chart(mon: pd.DataFrame, inds: dict[str, dict[str, Any]], text: _Text) -> Figure | None:
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    present = [code for code in TREND_INDICATORS if (mon["indicator_code"] == code).any()]
    if not present:
        return None
    zones = sorted(str(z) for z in mon["zone_code"].unique())
    style = {
        z: (_ZONE_COLOURS[n % len(_ZONE_COLOURS)], _MARKERS[n % len(_MARKERS)])
        for n, z in enumerate(zones)
    }
    fig = _figure(11.5, 7)
    axes = fig.subplots(2, 2)
    months = sorted(int(m) for m in mon["month"].unique())
    thousands = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    for ax, code in zip(axes.flat, TREND_INDICATORS, strict=True):
        if code not in present:
            ax.set_axis_off()
            continue
        ind = inds.get(code, {})
        rows = mon[mon["indicator_code"] == code]
        for zone, part in rows.groupby("zone_code", sort=True):
            part = part.sort_values("month")
            colour, marker = style[str(zone)]
            ax.plot(
                part["month"],
                part["ytd_value"],
                color=colour,
                marker=marker,
                markersize=3.5,
                linewidth=1.3,
            )
        unit = str(ind.get("unit") or (rows["unit"].iloc[0] if "unit" in rows else ""))
        ax.set_title(
            text(str(ind.get("name_zh", code)), str(ind.get("name_en", code))),
            loc="left",
            fontweight="bold",
        )
        ax.set_ylabel(text.unit(unit))
        ax.yaxis.set_major_formatter(thousands)
        ax.set_xticks(months, [text.month(m) for m in months], fontsize=7.5)
        ax.grid(axis="y", color="#eeeeee")
    handles = [
        Line2D([], [], color=c, marker=m, markersize=4, label=z) for z, (c, m) in style.items()
    ]
    fig.legend(
        handles=handles, loc="outside right center", frameon=False, title=text("示范区", "Zone")
    )
    fig.suptitle(
        text("主要指标月度走势（1月至当月累计值）", "Main indicators, year-to-date by month"),
        x=0.01,
        ha="left",
        fontweight="bold",
    )
    return fig


def draw_charts(
    chart_dir: Path,
    ev: pd.DataFrame,
    mon: pd.DataFrame,
    zh_names: dict[str, str],
    inds: dict[str, dict[str, Any]],
    font: str | None,
) -> dict[str, str]:
    """Draw the charts there are data for into ``chart_dir``; chart key -> path from the page."""
    text = _Text(cjk=font is not None)
    charts: dict[str, str] = {}
    with _chart_style(font):
        if not ev.empty:
            charts["ranking"] = _save(chart_dir, "ranking", _ranking_chart(ev, zh_names, text))
            charts["pillars"] = _save(chart_dir, "pillars", _pillar_chart(ev, text))
        trend = _trend_chart(mon, inds, text) if not mon.empty else None
        if trend is not None:
            charts["trend"] = _save(chart_dir, "trend", trend)
    # a chart of an earlier run that this one did not draw (e.g. the evaluation was withdrawn)
    # must not linger next to a page that no longer describes it
    for key, name in CHART_FILES.items():
        if key not in charts:
            (chart_dir / name).unlink(missing_ok=True)
    return charts
