"""The report's HTML page: one self-contained file (no script, no link) around its charts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pandas as pd

from publish.report_charts import TREND_INDICATORS
from publish.report_tables import esc, punctuality_table, ranking_table, zone_table
from publish.wording import is_missing

# China keeps no daylight saving time, so a fixed offset is exact and needs no tz database
_CST = timezone(timedelta(hours=8), "UTC+08:00")

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


def _heading(zh: str, en: str, level: int = 2) -> str:
    return f'<h{level}>{esc(zh)}<span class="en">{esc(en)}</span></h{level}>'


def _figure_html(charts: dict[str, str], key: str, alt: str, caption: str) -> str:
    if key not in charts:
        return ""
    src = quote(charts[key])
    return (
        f'<figure><img src="{esc(src)}" alt="{esc(alt)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
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
        f"<p>{year} 年各报告期中已过截止时间的报送（截至 {esc(when)}，报送日程见数据字典）：按时率 = "
        "按时 ÷ 应报；平均逾期天数按迟报、缺报和逾期未报的报送计算（不足一天计一天）。</p>",
        f'<p class="en">The releases of {year}\'s periods past their deadline (as of '
        f"{esc(when)}, Beijing time; the reporting calendar is in the data dictionary): on time, % "
        "= on time ÷ due; mean days late over the releases late, missing or overdue (a part day "
        "counts as one).</p>",
        punctuality_table(punct, names),
    ]


def render_page(
    year: int,
    ev: pd.DataFrame,
    mon: pd.DataFrame,
    names: dict[str, dict[str, Any]],
    inds: dict[str, dict[str, Any]],
    charts: dict[str, str],
    punct: pd.DataFrame | None = None,
    calendar_as_of: datetime | None = None,
) -> str:
    """The whole page: ranking, pillar scores, monthly trend, punctuality, zone codes."""
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
        f"<tr><td>评价方法版本 Method version</td><td>{esc('、'.join(versions) or '—')}</td></tr>",
        f"<tr><td>生成时间 Generated</td><td>{esc(generated)}</td></tr>",
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
            ranking_table(ev, names),
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
            f"<p>{esc('、'.join(shown))}：1 月至当月累计值（1–2 月合并报送），各区一条线。</p>",
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
        zone_table(codes, names),
        f"<footer>由 zonestats 生成 Generated by zonestats · {esc(generated)}</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
