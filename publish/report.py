"""The illustrated annual report: one self-contained HTML page plus PNG charts beside it."""

from __future__ import annotations

import contextlib
import functools
import html
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pandas as pd

from publish.exports import (
    PILLARS,
    flag_zh,
    is_missing,
    missing_metrics_zh,
    write_atomically,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: chart key -> file name inside ``report-<year>/``
CHART_FILES = {"ranking": "ranking.png", "pillars": "pillars.png", "trend": "trend.png"}
#: the indicators of the monthly trend chart, in panel order
TREND_INDICATORS = ("revenue", "industrial_output", "tax_revenue", "electricity_consumption")
GRADE_COLOURS = {"A": "#2e7d32", "B": "#1565c0", "C": "#ef6c00", "D": "#c62828"}
_NO_GRADE = "#9e9e9e"
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
# names tried first; any other installed font whose name suggests CJK is tried after them
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Serif CJK SC",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
)
_CJK_HINTS = ("CJK", "Han Sans", "Han Serif", "WenQuanYi", "Hei", "Song", "Kai", "Ming", "Fallback")
_CJK_PROBE = "山西示范区综合评价营业收入亩均"
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
# China keeps no daylight saving time, so a fixed offset is exact and needs no tz database
_CST = timezone(timedelta(hours=8), "UTC+08:00")


@functools.lru_cache(maxsize=1)
def _find_cjk_font() -> str | None:
    """The family name of an installed font that really has the Chinese glyphs, or None.

    matplotlib lists fonts from a cache it built once: a Chinese font installed after that is
    on the system but not in the list. Such a font file (fontconfig knows it) is added to the
    list, and the list saved back to matplotlib's cache, so the charts are drawn in Chinese.
    """
    found = _cjk_in_font_list()
    if found is None and _add_uncached_cjk_fonts():
        found = _cjk_in_font_list()
    return found


def _cjk_in_font_list() -> str | None:
    """The first font of matplotlib's list that has the glyphs of the charts' Chinese text."""
    from matplotlib import font_manager, ft2font

    files: dict[str, str] = {}
    for entry in font_manager.fontManager.ttflist:
        files.setdefault(entry.name, entry.fname)
    named = [n for n in _CJK_FONTS if n in files]
    hinted = sorted(n for n in files if n not in named and any(h in n for h in _CJK_HINTS))
    for name in named + hinted:
        try:
            font = ft2font.FT2Font(files[name])
        except (OSError, RuntimeError, ValueError):
            continue
        # a name is no proof: check the glyphs the charts need actually exist
        if all(font.get_char_index(ord(ch)) for ch in _CJK_PROBE):
            return name
    return None


def cjk_font_files() -> list[str]:
    """The font files fontconfig says cover Chinese (none without fontconfig's ``fc-list``)."""
    fc = shutil.which("fc-list")
    if fc is None:
        return []
    try:
        out = subprocess.run(  # noqa: S603 (fontconfig's own tool, fixed arguments)
            [fc, ":lang=zh", "file"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    # each line is "<path>: "
    return sorted({line.rsplit(":", 1)[0].strip() for line in out.splitlines() if ":" in line})


def _font_cache_file() -> Path:
    """matplotlib's font list cache (what it reads at import instead of scanning the fonts)."""
    import matplotlib
    from matplotlib import font_manager

    version = font_manager.FontManager.__version__
    return Path(matplotlib.get_cachedir()) / f"fontlist-v{version}.json"


def _add_uncached_cjk_fonts() -> bool:
    """Add the Chinese fonts matplotlib's list lacks; True when one was added."""
    from matplotlib import font_manager

    listed = {os.path.realpath(e.fname) for e in font_manager.fontManager.ttflist}
    added = False
    for path in cjk_font_files():
        if os.path.realpath(path) in listed:
            continue
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue  # a file matplotlib cannot read: the others may still do
        added = True
    if added:
        # the next process reads the font from the cache, without this detour; a read-only
        # cache costs the detour next time, nothing else
        with contextlib.suppress(OSError):
            font_manager.json_dump(font_manager.fontManager, _font_cache_file())
    return added


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
    font = _find_cjk_font()
    text = _Text(cjk=font is not None)
    zh_names = {code: str(row.get("name_zh") or code) for code, row in names.items()}

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

    page = _html(year, ev, mon, names, inds, charts, punctuality, calendar_as_of)
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


# --- charts ---------------------------------------------------------------------------------


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
        color=[GRADE_COLOURS.get(g, _NO_GRADE) for g in grades],
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


# --- page -----------------------------------------------------------------------------------

_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",
"Source Han Sans SC",system-ui,sans-serif;margin:2rem auto;max-width:1180px;padding:0 1rem;
color:#212121;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2.2rem;
border-bottom:2px solid #1565c0;padding-bottom:.2rem}
.en{color:#616161;font-weight:normal;font-size:.85em;margin-left:.5em}
p.en,div.en{margin:.1rem 0 1rem 0}
.meta{color:#424242;font-size:.9rem}.meta td{padding:.1rem 1rem .1rem 0}
table.data{border-collapse:collapse;font-size:.88rem;margin:.8rem 0;width:100%}
table.data th,table.data td{border:1px solid #d0d7de;padding:.3rem .5rem}
table.data th{background:#e3edf7;font-weight:600}
table.data th .en{display:block;margin:0;font-size:.75rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.c{text-align:center}
.grade{display:inline-block;min-width:1.6em;border-radius:3px;color:#fff;font-weight:700;
text-align:center}
.flag{color:#c62828;font-weight:600}
.empty{background:#fff8e1;border-left:4px solid #f9a825;padding:.8rem 1rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#616161;font-size:.85rem}
footer{margin-top:3rem;color:#757575;font-size:.8rem;border-top:1px solid #e0e0e0;padding-top:.5rem}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _score(value: Any) -> str:
    return "—" if is_missing(value) else f"{float(value):.1f}"


def _heading(zh: str, en: str, level: int = 2) -> str:
    return f'<h{level}>{_e(zh)}<span class="en">{_e(en)}</span></h{level}>'


def _th(zh: str, en: str) -> str:
    return f'<th>{_e(zh)}<span class="en">{_e(en)}</span></th>'


def _figure_html(charts: dict[str, str], key: str, alt: str, caption: str) -> str:
    if key not in charts:
        return ""
    src = quote(charts[key])
    return (
        f'<figure><img src="{_e(src)}" alt="{_e(alt)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _flag_html(value: Any) -> str:
    flag = flag_zh(value)
    return '<span class="flag">是</span>' if flag == "是" else (flag or "—")


def _ranking_table(ev: pd.DataFrame, names: dict[str, dict[str, Any]]) -> str:
    head = "".join(
        [
            _th("排名", "Rank"),
            _th("示范区", "Zone"),
            _th("等级", "Grade"),
            _th("综合得分", "Composite"),
            *(_th(zh, en) for _, zh, en in PILLARS),
            _th("观察名单", "Watchlist"),
            _th("转型候选", "Transition candidate"),
            _th("缺失指标", "Missing metrics"),
        ]
    )
    body = []
    for r in ev.to_dict("records"):
        code = str(r["zone_code"])
        grade = "" if is_missing(r.get("grade")) else str(r["grade"])
        badge = (
            f'<span class="grade" style="background:{GRADE_COLOURS.get(grade, _NO_GRADE)}">'
            f"{_e(grade)}</span>"
            if grade
            else "—"
        )
        watch, trans = (_flag_html(r.get(col)) for col in ("watchlist", "transition_candidate"))
        pillars = "".join(f'<td class="num">{_score(r.get(col))}</td>' for col, _, _ in PILLARS)
        body.append(
            "<tr>"
            f'<td class="c">{"—" if is_missing(r["_rank"]) else int(r["_rank"])}</td>'
            f"<td>{_e(names.get(code, {}).get('name_zh', code))}"
            f' <span class="en">{_e(code)}</span></td>'
            f'<td class="c">{badge}</td>'
            f'<td class="num">{_score(r.get("composite"))}</td>'
            f"{pillars}"
            f'<td class="c">{watch}</td><td class="c">{trans}</td>'
            f"<td>{_e(missing_metrics_zh(r.get('missing_metrics'))) or '—'}</td>"
            "</tr>"
        )
    return (
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _punctuality_table(punct: pd.DataFrame, names: dict[str, dict[str, Any]]) -> str:
    head = "".join(
        [
            _th("示范区", "Zone"),
            _th("应报", "Due"),
            _th("按时", "On time"),
            _th("迟报", "Late"),
            _th("缺报", "Missing"),
            _th("逾期未报", "Overdue"),
            _th("按时率", "On time, %"),
            _th("平均逾期天数", "Mean days late"),
        ]
    )
    body = []
    for r in punct.to_dict("records"):
        code = str(r["zone_code"])
        counts = "".join(
            f'<td class="num">{int(r[c])}</td>'
            for c in ("due", "on_time", "late", "missing", "overdue")
        )
        body.append(
            "<tr>"
            f"<td>{_e(names.get(code, {}).get('name_zh', code))}"
            f' <span class="en">{_e(code)}</span></td>'
            f"{counts}"
            f'<td class="num">{_score(r["on_time_pct"])}</td>'
            f'<td class="num">{_score(r["mean_days_late"])}</td>'
            "</tr>"
        )
    return (
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def _punctuality_section(
    year: int, punct: pd.DataFrame | None, as_of: datetime | None, names: dict[str, dict[str, Any]]
) -> list[str]:
    parts = [_heading("四、报送及时性", "4. Punctuality")]
    if punct is None or punct.empty:
        return [
            *parts,
            f'<div class="empty">{year} 年暂无已到期的报送。'
            f'<div class="en">No release of {year} is due yet.</div></div>',
        ]
    when = f"{as_of.astimezone(_CST):%Y-%m-%d %H:%M}" if as_of is not None else "—"
    return [
        *parts,
        f"<p>{year} 年各报告期中已过截止时间的报送（截至 {_e(when)}，报送日程见数据字典）：按时率 = "
        "按时 ÷ 应报；平均逾期天数按迟报、缺报和逾期未报的报送计算（不足一天计一天）。</p>",
        f'<p class="en">The releases of {year}\'s periods past their deadline (as of '
        f"{_e(when)}, Beijing time; the reporting calendar is in the data dictionary): on time, % "
        "= on time ÷ due; mean days late over the releases late, missing or overdue (a part day "
        "counts as one).</p>",
        _punctuality_table(punct, names),
    ]


def _zone_table(codes: list[str], names: dict[str, dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(c)}</td><td>{_e(names.get(c, {}).get('name_zh', ''))}</td>"
        f"<td>{_e(names.get(c, {}).get('name_en', ''))}</td>"
        f"<td>{_e(names.get(c, {}).get('city_zh', ''))}</td></tr>"
        for c in codes
    )
    head = _th("代码", "Code") + _th("示范区", "Zone") + _th("英文名称", "English name")
    head += _th("所在城市", "City")
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _html(
    year: int,
    ev: pd.DataFrame,
    mon: pd.DataFrame,
    names: dict[str, dict[str, Any]],
    inds: dict[str, dict[str, Any]],
    charts: dict[str, str],
    punct: pd.DataFrame | None = None,
    calendar_as_of: datetime | None = None,
) -> str:
    generated = datetime.now(_CST).strftime("%Y-%m-%d %H:%M:%S (UTC+08:00)")
    versions = sorted(
        {str(v) for v in ev.get("method_version", pd.Series(dtype=object)) if not is_missing(v)}
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{year} 年度示范区综合评价报告</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>山西省省级转型综改示范区 {year} 年度综合评价报告</h1>",
        f'<p class="en">Shanxi provincial transformation and comprehensive-reform demonstration '
        f"zones — comprehensive evaluation report {year}</p>",
        '<table class="meta">',
        f"<tr><td>评价方法版本 Method version</td><td>{_e('、'.join(versions) or '—')}</td></tr>",
        f"<tr><td>生成时间 Generated</td><td>{_e(generated)}</td></tr>",
        "<tr><td>数据来源 Sources</td><td>mart_zone_evaluation, zone_monthly, release_calendar "
        "(zonestats)</td></tr>",
        "</table>",
        _heading("一、综合评价排名", "1. Ranking"),
    ]
    if ev.empty:
        none = (
            f'<div class="empty">{year} 年度暂无综合评价结果。'
            f'<div class="en">No evaluation for {year}.</div></div>'
        )
        parts += [none, _heading("二、分项得分", "2. Pillar scores"), none]
    else:
        parts += [
            "<p>依据亩均效益、集聚集约、增量增速、减污降碳四个方面 12 项指标综合评分（0–100），"
            "等级 A≥80、B≥65、C≥50、其余为 D；连续两年为 D 的列入观察名单，"
            "工业用地占已开发面积不足 30% 的为转型候选。</p>",
            '<p class="en">Twelve metrics in four pillars, scored 0–100 across zones; grade A ≥ 80, '
            "B ≥ 65, C ≥ 50, else D. Watchlist: graded D two years running. Transition candidate: "
            "industrial land under 30% of the developed area.</p>",
            _ranking_table(ev, names),
            _figure_html(
                charts,
                "ranking",
                "综合得分排名 Composite ranking",
                "图1 综合得分排名（颜色表示等级） Figure 1. Composite score, coloured by grade",
            ),
            _heading("二、分项得分", "2. Pillar scores"),
            _figure_html(
                charts,
                "pillars",
                "分项得分 Pillar scores",
                "图2 四个方面得分，虚线为各区均值 Figure 2. Pillar scores; dashed line: mean",
            ),
        ]
    parts.append(_heading("三、主要指标月度走势", "3. Monthly trend of main indicators"))
    if "trend" in charts:
        shown = [
            str(inds.get(c, {}).get("name_zh", c))
            for c in TREND_INDICATORS
            if (mon["indicator_code"] == c).any()
        ]
        parts += [
            f"<p>{_e('、'.join(shown))}：1 月至当月累计值（1–2 月合并报送），各区一条线。</p>",
            '<p class="en">Year-to-date values (January is reported with February), one line per '
            "zone.</p>",
            _figure_html(
                charts,
                "trend",
                "主要指标月度走势 Monthly trend",
                "图3 主要指标累计值 Figure 3. Main indicators, year-to-date",
            ),
        ]
    else:
        parts.append(
            f'<div class="empty">{year} 年暂无月度数据。'
            f'<div class="en">No monthly data for {year}.</div></div>'
        )
    parts += _punctuality_section(year, punct, calendar_as_of, names)
    codes = sorted(
        set(names)
        | ({str(z) for z in ev["zone_code"]} if not ev.empty else set())
        | ({str(z) for z in mon["zone_code"]} if not mon.empty else set())
    )
    parts += [
        _heading("附：示范区代码", "Annex: zone codes"),
        '<p class="en">Charts name the zones by code when no Chinese font is available.</p>',
        _zone_table(codes, names),
        f"<footer>由 zonestats 生成 Generated by zonestats · {_e(generated)}</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
