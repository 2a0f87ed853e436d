"""Exports a statistician hands on: the provincial xlsx summary, a long CSV and SDMX-CSV 2.0.

Every export covers the releases that end with the requested period P (see
``periods_for_export``) and is written under a hidden temp name beside its final path, then
renamed into place, so a reader never opens half a file.
"""

from __future__ import annotations

import csv
import math
import os
import re
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from zonestats.catalog import load_catalog
from zonestats.periods import PeriodError, infer_frequency, parse_period

FREQUENCY_ORDER = ("M", "Q", "A")
FREQUENCY_ZH = {"M": "月报", "Q": "季报", "A": "年报"}
STATUS_ZH = {"A": "正式数", "P": "初步数", "E": "估计值", "M": "未报送"}
STATUS_EN = {"A": "actual", "P": "preliminary", "E": "estimated", "M": "missing"}

OBS_COLUMNS = (
    "zone_code",
    "indicator_code",
    "period",
    "frequency",
    "revision",
    "value",
    "unit",
    "status",
)
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


def periods_for_export(period: str) -> dict[str, str]:
    """Map frequency -> the release of that frequency that ends exactly when ``period`` ends.

    P itself comes first; then, in M, Q, A order, the last finer release inside P
    (P='2026' → 2026-12 and 2026-Q4) and every coarser release P completes (P='2026-03' →
    2026-Q1; P='2026-12' → 2026-Q4 and 2026). A month that completes no quarter (2026-02)
    yields only itself: a quarterly figure that ends later would describe a different period
    from the month's, so it does not belong on a summary "as at the end of P".
    """
    freq = infer_frequency(period) if isinstance(period, str) else None
    if freq is None:
        hint = (
            " (January is reported with February as YYYY-02)" if str(period).endswith("-01") else ""
        )
        raise ValueError(
            f"period {period!r} is not a month YYYY-MM (02–12), a quarter YYYY-Qn (n 1–4) "
            f"or a year YYYY{hint}"
        )
    try:
        parsed = parse_period(period, freq)
    except PeriodError as exc:
        raise ValueError(str(exc)) from None
    year, end = parsed.year, parsed.end_month
    ends = {"M": f"{year}-{end:02d}", "Q": f"{year}-Q{end // 3}", "A": f"{year}"}
    out = {freq: period}
    for f in FREQUENCY_ORDER:
        if f == freq:
            continue
        finer = FREQUENCY_ORDER.index(f) < FREQUENCY_ORDER.index(freq)
        # a finer release always ends inside P's last month; a coarser one only if P completes it
        if finer or (f == "Q" and end % 3 == 0) or (f == "A" and end == 12):
            out[f] = ends[f]
    return out


def write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write`` on a hidden temp file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # same directory, so the rename is one step on one file system; hidden and named like the
    # warehouse's own temp files, so a stray one after a crash is recognisable as such
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


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
    inds = _zone_indicators(indicators)
    names = _zone_names(zones)
    current = _select(obs, periods.values())
    wb = Workbook()
    wb.remove(wb.active)
    for freq, per in periods.items():
        ws = wb.create_sheet(f"{FREQUENCY_ZH[freq]} {per}")
        rows = current[current["period"] == per]
        _release_sheet(ws, freq, per, rows, _columns_for(inds, freq, rows), names, as_of)
    _evaluation_sheet(wb.create_sheet("综合评价"), evaluation, names, as_of)
    return write_atomically(path, lambda tmp: wb.save(tmp))


def export_csv(
    path: Path, period: str, obs: pd.DataFrame, indicators: pd.DataFrame, zones: pd.DataFrame
) -> Path:
    """Write the releases of ``period`` as long UTF-8 CSV with a BOM, so Excel shows Chinese."""
    periods = periods_for_export(period)
    inds = _zone_indicators(indicators)
    names = _zone_names(zones)
    rows = _ordered(_select(obs, periods.values()), periods, {c: n for n, c in enumerate(inds)})

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
    rows = _ordered(_select(obs, periods.values()), periods, _catalog_order())

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


# --- inputs ---------------------------------------------------------------------------------


def _zone_indicators(indicators: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """code -> row of the zone dataset's indicators, in catalog order."""
    frame = indicators[indicators["dataset"] == "zone"] if len(indicators) else indicators
    position = _catalog_order()
    catalog = load_catalog().for_dataset("zone")
    integer = {ind.code: ind.integer for ind in catalog}
    additive = {ind.code: ind.additive for ind in catalog}
    rows = [dict(r) for r in frame.to_dict("records")]
    # dim_indicator comes from SQL without a guaranteed order; the packaged catalog is the order
    # statisticians know, and what it does not know keeps the frame's order after it
    rows.sort(key=lambda r: position.get(r["code"], len(position)))
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        r["integer"] = integer.get(r["code"], False)
        # a code the catalog does not know gets no total: a sum is only shown when it means one
        r["additive"] = additive.get(r["code"], False)
        out[r["code"]] = r
    return out


def _zone_names(zones: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """zone_code -> dim_zone row."""
    return {r["zone_code"]: dict(r) for r in zones.to_dict("records")} if len(zones) else {}


def _select(obs: pd.DataFrame, periods: Iterable[str]) -> pd.DataFrame:
    """The rows of the wanted periods, one per (zone, indicator, period): the latest revision."""
    if obs.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in OBS_COLUMNS})
    absent = [c for c in OBS_COLUMNS if c not in obs.columns]
    if absent:
        raise ValueError(f"obs lacks the column(s) {', '.join(absent)} of obs_zone_current")
    rows = obs[obs["period"].isin(list(periods))]
    # obs_zone_current has one revision per release already; if a caller hands in obs_zone
    # itself, the latest revision is the figure in force rather than a duplicate row
    rows = rows.sort_values("revision", kind="stable")
    return rows.drop_duplicates(["zone_code", "indicator_code", "period"], keep="last")


def _catalog_order() -> dict[str, int]:
    """Zone indicator code -> position in the packaged catalog (indicators.csv)."""
    return {ind.code: n for n, ind in enumerate(load_catalog().for_dataset("zone"))}


def _ordered(rows: pd.DataFrame, periods: dict[str, str], order: dict[str, int]) -> pd.DataFrame:
    """Rows in export order: release (as in ``periods``), zone_code, indicator ``order``."""
    if rows.empty:
        return rows
    by_period = {p: n for n, p in enumerate(periods.values())}
    keyed = rows.assign(
        _p=rows["period"].map(by_period),
        _i=rows["indicator_code"].map(lambda c: order.get(c, len(order))),
    )
    keyed = keyed.sort_values(["_p", "zone_code", "_i", "indicator_code"], kind="stable")
    return keyed.drop(columns=["_p", "_i"])


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


def is_missing(value: Any) -> bool:
    """True for None, NA and NaN: a figure that is not there."""
    if value is None or value is pd.NA:
        return True
    try:
        return bool(math.isnan(float(value)))
    except (TypeError, ValueError):
        return False


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


def _cell_number(value: Any, integer: bool) -> float | int:
    number = float(value)
    return int(number) if integer and number.is_integer() else number


def _display_width(text: str) -> int:
    # CJK characters take two columns in Excel's default font
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _header(name: str, unit: str) -> str:
    return f"{name}（{unit}）" if unit else name


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


# --- sheets ---------------------------------------------------------------------------------


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
