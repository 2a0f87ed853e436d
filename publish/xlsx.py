"""The provincial xlsx summary: a sheet per release ending with the period, then 综合评价."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from publish.atomic import write_atomically
from publish.selection import periods_for_export, select_rows, zone_indicators, zone_names
from publish.wording import METRICS, PILLARS, figure_kind, flag_zh, is_missing, missing_metrics_zh

FREQUENCY_ZH = {"M": "月报", "Q": "季报", "A": "年报"}
STATUS_ZH = {"A": "正式数", "P": "初步数", "E": "估计值", "M": "未报送"}
STATUS_EN = {"A": "actual", "P": "preliminary", "E": "estimated", "M": "missing"}

_NUM = "#,##0.00"
_INT = "#,##0"
_TITLE_FONT = Font(bold=True, size=14)
_NOTE_FONT = Font(italic=True, size=9, color="555555")
_HEAD_FONT = Font(bold=True)
_CODE_FONT = Font(size=9, color="666666")
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_CODE_FILL = PatternFill("solid", fgColor="F2F2F2")
# Comments are invisible on paper; a pale fill keeps E and P figures recognisable in a printout.
_STATUS_FILL = {
    "E": PatternFill("solid", fgColor="FFF2CC"),
    "P": PatternFill("solid", fgColor="E2EFDA"),
}
_THIN = Side(style="thin", color="BFBFBF")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_ROWS = 4  # title, note, Chinese header, code header
_FIRST_DATA_ROW = _HEADER_ROWS + 1


def export_xlsx(
    path: Path,
    period: str,
    obs: pd.DataFrame,
    indicators: pd.DataFrame,
    zones: pd.DataFrame,
    evaluation: pd.DataFrame,
    as_of: str | None = None,
) -> Path:
    """Write the provincial summary workbook for ``period``: a sheet per release, then 综合评价.

    Sheets follow ``periods_for_export`` (P's own frequency first), named "月报 2026-03",
    "季报 2026-Q1", "年报 2026". Each: row 1 a title naming the release and the data source,
    row 2 a legend, row 3 "名称（单位）" headers, row 4 the codes, then one row per zone in
    zone_code order (every zone of ``zones``, blank when it did not report) and one column per
    zone indicator of that frequency in catalog order. Values are numbers in the canonical
    unit; status M is an empty cell; E and P figures carry a cell comment naming the status
    (and a pale fill so that a printout shows them too), A figures carry nothing. ``as_of``
    (a day, YYYY-MM-DD): the figures are those held at its end, and the titles say so.
    """
    periods = periods_for_export(period)
    inds = zone_indicators(indicators)
    names = zone_names(zones)
    current = select_rows(obs, periods.values())
    wb = Workbook()
    wb.remove(wb.active)
    for freq, per in periods.items():
        ws = wb.create_sheet(f"{FREQUENCY_ZH[freq]} {per}")
        rows = current[current["period"] == per]
        _release_sheet(ws, freq, per, rows, _columns_for(inds, freq, rows), names, as_of)
    _evaluation_sheet(wb.create_sheet("综合评价"), evaluation, names, as_of)
    return write_atomically(path, lambda tmp: wb.save(tmp))


def _columns_for(
    inds: dict[str, dict[str, Any]], freq: str, rows: pd.DataFrame
) -> list[dict[str, Any]]:
    """The indicator columns of one release: the catalog's, plus any code it does not know."""
    cols = [r for r in inds.values() if r.get("frequency") == freq]
    known = {c["code"] for c in cols}
    # an unknown code in the warehouse is still a figure someone loaded: show it, don't drop it
    for code in sorted(set(rows["indicator_code"]) - known):
        unit = rows.loc[rows["indicator_code"] == code, "unit"].iloc[0]
        cols.append(inds.get(code, {"code": code, "name_zh": code, "unit": unit, "integer": False}))
    return cols


def _cell_number(value: Any, integer: bool) -> float | int:
    number = float(value)
    return int(number) if integer and number.is_integer() else number


def _display_width(text: str) -> int:
    # CJK characters take two columns in Excel's default font
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _header(name: str, unit: str) -> str:
    return f"{name}（{unit}）" if unit else name


def _write_headers(
    ws: Worksheet, title: str, note: str, headers: list[tuple[str, str]], freeze: str
) -> None:
    ws.cell(1, 1, title).font = _TITLE_FONT
    ws.cell(2, 1, note).font = _NOTE_FONT
    for col, (zh, code) in enumerate(headers, start=1):
        head = ws.cell(3, col, zh)
        head.font, head.fill, head.border = _HEAD_FONT, _HEAD_FILL, _BOX
        head.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        sub = ws.cell(4, col, code)
        sub.font, sub.fill, sub.border = _CODE_FONT, _CODE_FILL, _BOX
        sub.alignment = Alignment(horizontal="center")
    ws.row_dimensions[3].height = 33
    ws.freeze_panes = freeze
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"3:{_HEADER_ROWS}"


def _fit_widths(ws: Worksheet, widths: dict[int, int]) -> None:
    for col, width in widths.items():
        # the header wraps onto two lines, so it needs about half its length; clamp the extremes
        ws.column_dimensions[get_column_letter(col)].width = max(8, min(width + 2, 40))


def _release_sheet(
    ws: Worksheet,
    freq: str,
    period: str,
    rows: pd.DataFrame,
    columns: list[dict[str, Any]],
    names: dict[str, dict[str, Any]],
    as_of: str | None = None,
) -> None:
    held = (
        f"obs_zone_history，{as_of} 日终（北京时间）所存版本 as held at the end of {as_of}"
        if as_of
        else "obs_zone_current，现行修订版"
    )
    title = (
        f"山西省省级转型综改示范区主要统计指标 {FREQUENCY_ZH[freq]} {period}"
        f" ｜ 数据来源：各示范区统计系统，经 zonestats 审核入库（{held}）"
    )
    note = (
        "注：数值为各指标标准计量单位；带批注并以底色标出者 E＝估计值、P＝初步数；"
        "空白＝未报送（M）或无数据。 Values in canonical units; E/P marked by a cell comment; "
        "blank = not reported."
    )
    headers = [("区代码", "zone_code"), ("示范区", "name_zh")] + [
        (
            _header(str(c["name_zh"]), str(c.get("unit") or ""))
            + (f"\n{figure_kind(str(c['basis']), period)}" if c.get("basis") else ""),
            str(c["code"]),
        )
        for c in columns
    ]
    _write_headers(ws, title, note, headers, f"C{_FIRST_DATA_ROW}")
    ws.row_dimensions[3].height = 48  # name, unit and what the figure is: up to three lines
    widths = {1: 8, 2: 12}
    for col, (zh, code) in enumerate(headers[2:], start=3):
        longest = max(_display_width(part) for part in zh.split("\n"))
        widths[col] = max((longest + 1) // 2, len(code) // 2, 10)

    by_cell = {(r.zone_code, r.indicator_code): r for r in rows.itertuples(index=False)}
    # every zone of dim_zone gets its row, so a zone that did not report is visible as a gap
    zone_codes = sorted(set(names) | set(rows["zone_code"]))
    for n, zone in enumerate(zone_codes):
        row = _FIRST_DATA_ROW + n
        name = str(names.get(zone, {}).get("name_zh", ""))
        ws.cell(row, 1, zone).border = _BOX
        ws.cell(row, 2, name).border = _BOX
        widths[2] = max(widths[2], _display_width(name))
        for col, ind in enumerate(columns, start=3):
            cell = ws.cell(row, col)
            cell.border = _BOX
            cell.number_format = _INT if ind.get("integer") else _NUM
            rec = by_cell.get((zone, ind["code"]))
            if rec is None or rec.status == "M" or is_missing(rec.value):
                continue
            cell.value = _cell_number(rec.value, bool(ind.get("integer")))
            widths[col] = max(widths[col], len(f"{float(rec.value):,.2f}"))
            if rec.status in _STATUS_FILL:
                comment = Comment(
                    f"{rec.status} {STATUS_ZH[rec.status]} ({STATUS_EN[rec.status]})", "zonestats"
                )
                comment.width, comment.height = 160, 40
                cell.comment = comment
                cell.fill = _STATUS_FILL[rec.status]
    _total_row(ws, _FIRST_DATA_ROW + len(zone_codes), zone_codes, columns, by_cell)
    _fit_widths(ws, widths)


def _total_row(
    ws: Worksheet,
    row: int,
    zone_codes: list[str],
    columns: list[dict[str, Any]],
    by_cell: dict[tuple[str, str], Any],
) -> None:
    """全省合计: the exact sum of the zones' figures of each additive indicator, else blank."""
    for col in (1, 2):
        ws.cell(row, col).border = _BOX
        ws.cell(row, col).font = _HEAD_FONT
    ws.cell(row, 2, "全省合计")
    for col, ind in enumerate(columns, start=3):
        cell = ws.cell(row, col)
        cell.border, cell.font = _BOX, _HEAD_FONT
        cell.number_format = _INT if ind.get("integer") else _NUM
        if not ind.get("additive"):
            continue  # a rate or a ratio: the sum of the zones' would be no figure at all
        figures = [by_cell.get((zone, ind["code"])) for zone in zone_codes]
        values = [
            r.value
            for r in figures
            if r is not None and r.status != "M" and not is_missing(r.value)
        ]
        if not values:
            continue
        # in Decimal: 0.1 + 0.2 is 0.3 here, as on the statistician's calculator
        total = sum((Decimal(str(v)) for v in values), Decimal(0))
        cell.value = int(total) if ind.get("integer") else float(total)
        if len(values) < len(zone_codes):
            comment = Comment(
                f"{len(values)}/{len(zone_codes)} 个示范区的合计，其余未报送"
                f" (sum of {len(values)} of {len(zone_codes)} zones; the others did not report)",
                "zonestats",
            )
            comment.width, comment.height = 200, 50
            cell.comment = comment


def _evaluation_sheet(
    ws: Worksheet,
    evaluation: pd.DataFrame,
    names: dict[str, dict[str, Any]],
    as_of: str | None = None,
) -> None:
    if evaluation is None or evaluation.empty:
        ws.cell(1, 1, "山西省省级转型综改示范区综合评价").font = _TITLE_FONT
        ws.cell(3, 1, "本期暂无综合评价结果（No evaluation available for this period）。")
        ws.column_dimensions["A"].width = 60
        return
    # one year is expected; should a caller pass several, the latest is the one to hand on
    year = evaluation["year"].max()
    ev = evaluation[evaluation["year"] == year].copy()
    ev["_rank"] = pd.to_numeric(ev["rank"], errors="coerce")
    ev = ev.sort_values(["_rank", "zone_code"], na_position="last", kind="stable")
    versions = "、".join(
        sorted({str(v) for v in ev.get("method_version", []) if not is_missing(v)})
    )
    source = f"按 {as_of} 日终所存数据计算" if as_of else "mart_zone_evaluation"
    title = (
        f"山西省省级转型综改示范区综合评价 {int(year)} 年度 ｜ 数据来源：{source}"
        f"（方法版本 {versions or '—'}）"
    )
    note = "注：得分 0–100；等级 A≥80、B≥65、C≥50、其余 D；缺失指标得 0 分。 Scores 0–100."
    metric_cols = [c for c in METRICS if c in ev.columns]
    headers: list[tuple[str, str]] = [
        ("排名", "rank"),
        ("区代码", "zone_code"),
        ("示范区", "name_zh"),
        ("等级", "grade"),
        ("综合得分", "composite"),
        *[(f"{zh}得分", code) for code, zh, _ in PILLARS],
        *[(_header(*METRICS[c]), c) for c in metric_cols],
        ("列入观察名单", "watchlist"),
        ("转型候选", "transition_candidate"),
        ("缺失指标", "missing_metrics"),
    ]
    _write_headers(ws, title, note, headers, f"D{_FIRST_DATA_ROW}")
    numeric = {"composite", *(code for code, _, _ in PILLARS), *metric_cols}
    centred = {"rank", "grade", "watchlist", "transition_candidate"}
    widths = {
        col: max((_display_width(zh) + 1) // 2, len(code) // 2, 8)
        for col, (zh, code) in enumerate(headers, start=1)
    }
    for n, r in enumerate(ev.to_dict("records")):
        name = str(names.get(r["zone_code"], {}).get("name_zh", ""))
        values: dict[str, Any] = {
            "rank": None if is_missing(r["_rank"]) else int(r["_rank"]),
            "zone_code": r["zone_code"],
            "name_zh": name,
            "grade": None if is_missing(r.get("grade")) else str(r["grade"]),
            **{code: r.get(code) for code in numeric},
            "watchlist": flag_zh(r.get("watchlist")) or None,
            "transition_candidate": flag_zh(r.get("transition_candidate")) or None,
            "missing_metrics": missing_metrics_zh(r.get("missing_metrics")),
        }
        for col, (_, code) in enumerate(headers, start=1):
            cell = ws.cell(_FIRST_DATA_ROW + n, col)
            cell.border = _BOX
            value = values[code]
            if code in numeric:
                cell.number_format = _NUM
                cell.value = None if is_missing(value) else float(value)
            else:
                cell.value = value
                if code in centred:
                    cell.alignment = Alignment(horizontal="center")
                if isinstance(value, str):
                    widths[col] = max(widths[col], _display_width(value))
    _fit_widths(ws, widths)
