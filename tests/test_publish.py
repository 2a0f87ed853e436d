"""publish/: the xlsx summary, the long CSV, SDMX-CSV and the illustrated HTML report."""

from __future__ import annotations

import csv
import io
import re
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from publish import chart_fonts
from publish.exports import (
    export_csv,
    export_sdmx_csv,
    export_xlsx,
    periods_for_export,
    write_atomically,
)
from publish.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ZONES = pd.DataFrame(
    [
        ("TY01", "太原中北高新技术产业开发区", "Taiyuan Zhongbei HIDZ", "太原市", "140100"),
        ("DT01", "大同经济技术开发区", "Datong ETDZ", "大同市", "140200"),
        ("YQ01", "阳泉经济技术开发区", "Yangquan ETDZ", "阳泉市", "140300"),
    ],
    columns=["zone_code", "name_zh", "name_en", "city_zh", "city_admin_code"],
)

# deliberately not in catalog order, and with an enterprise indicator of the same code
INDICATORS = pd.DataFrame(
    [
        ("zone", "tax_revenue", "税收收入", "Tax revenue", "万元", "M", "ytd"),
        ("enterprise", "revenue", "营业收入", "Operating revenue", "万元", "M", "ytd"),
        (
            "zone",
            "above_scale_enterprises",
            "规模以上工业企业数",
            "Enterprises",
            "个",
            "M",
            "stock",
        ),
        ("zone", "revenue", "营业收入", "Operating revenue", "万元", "M", "ytd"),
        (
            "zone",
            "industrial_value_added",
            "规模以上工业增加值",
            "Industrial VA",
            "万元",
            "Q",
            "ytd",
        ),
        ("zone", "planned_area", "规划面积", "Planned area", "亩", "A", "stock"),
    ],
    columns=["dataset", "code", "name_zh", "name_en", "unit", "frequency", "basis"],
)

OBS = pd.DataFrame(
    [
        ("TY01", "revenue", "2026-03", "M", 1, 120000.0, "万元", "A"),  # superseded by r2
        ("TY01", "revenue", "2026-03", "M", 2, 123456.5, "万元", "A"),
        ("TY01", "tax_revenue", "2026-03", "M", 2, 2345.0, "万元", "E"),
        ("TY01", "above_scale_enterprises", "2026-03", "M", 2, 42.0, "个", "A"),
        ("DT01", "revenue", "2026-03", "M", 1, 98765.4, "万元", "A"),
        ("DT01", "tax_revenue", "2026-03", "M", 1, None, "万元", "M"),
        ("DT01", "above_scale_enterprises", "2026-03", "M", 1, 17.0, "个", "P"),
        ("YQ01", "revenue", "2026-02", "M", 1, 5555.0, "万元", "A"),  # another month
        ("TY01", "industrial_value_added", "2026-Q1", "Q", 1, 30000.25, "万元", "A"),
        ("DT01", "industrial_value_added", "2026-Q1", "Q", 1, 21000.0, "万元", "P"),
        ("TY01", "planned_area", "2025", "A", 1, 15000.0, "亩", "A"),
        ("TY01", "planned_area", "2026", "A", 1, 15500.0, "亩", "A"),
        ("DT01", "revenue", "2026-12", "M", 1, 400000.0, "万元", "A"),
    ],
    columns=[
        "zone_code",
        "indicator_code",
        "period",
        "frequency",
        "revision",
        "value",
        "unit",
        "status",
    ],
)

_METRIC_COLUMNS = [
    "tax_per_mu",
    "revenue_per_mu",
    "va_per_mu",
    "leading_industry_share",
    "land_development_rate",
    "rd_intensity",
    "revenue_growth",
    "investment_growth",
    "industrial_va_growth",
    "energy_per_va",
    "co2_per_va",
    "green_power_share",
]


def _evaluation() -> pd.DataFrame:
    rows = [
        # zone, composite, 4 pillars, rank, grade, watchlist, transition, missing
        ("TY01", 70.5, 80.0, 60.0, 70.0, 65.0, 2, "B", False, True, ""),
        ("DT01", 85.25, 90.0, 85.0, 80.0, 82.0, 1, "A", False, False, ""),
        ("YQ01", 40.0, 0.0, 50.0, 60.0, 55.0, 3, "D", True, False, "tax_per_mu,co2_per_va"),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "zone_code",
            "composite",
            "score_mujun",
            "score_jiju",
            "score_zengliang",
            "score_jiantan",
            "rank",
            "grade",
            "watchlist",
            "transition_candidate",
            "missing_metrics",
        ],
    )
    # as the mart stores it: nullable, NA when the land figures are missing
    frame["transition_candidate"] = pd.array([True, pd.NA, False], dtype="boolean")
    for n, col in enumerate(_METRIC_COLUMNS):
        frame[col] = [1.5 + n, 2.5 + n, None if col in ("tax_per_mu", "co2_per_va") else 3.5]
    frame["year"] = 2026
    frame["method_version"] = "eval-2026.1"
    return frame


def _monthly() -> pd.DataFrame:
    rows = []
    for zone, base in (("TY01", 1000.0), ("DT01", 700.0)):
        for code in ("revenue", "tax_revenue", "electricity_consumption"):
            for month in (2, 3, 4, 5):
                rows.append((zone, code, f"2026-{month:02d}", 2026, month, base * month))
    rows.append(("TY01", "revenue", "2025-12", 2025, 12, 99999.0))  # another year
    frame = pd.DataFrame(
        rows, columns=["zone_code", "indicator_code", "period", "year", "month", "ytd_value"]
    )
    return frame.assign(month_value=None, yoy_pct=None, unit="万元")


def _column(ws: Worksheet, code: str) -> int:
    """The column whose code header (row 4) is ``code``."""
    for cell in ws[4]:
        if cell.value == code:
            return int(cell.column)
    raise AssertionError(f"no column {code} in {ws.title}")


# --- periods --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("2026-03", {"M": "2026-03", "Q": "2026-Q1"}),
        ("2026-02", {"M": "2026-02"}),  # completes no quarter
        ("2026-12", {"M": "2026-12", "Q": "2026-Q4", "A": "2026"}),
        ("2026-Q2", {"Q": "2026-Q2", "M": "2026-06"}),
        ("2026-Q4", {"Q": "2026-Q4", "M": "2026-12", "A": "2026"}),
        ("2026", {"A": "2026", "M": "2026-12", "Q": "2026-Q4"}),
    ],
)
def test_periods_for_export(period: str, expected: dict[str, str]) -> None:
    result = periods_for_export(period)
    assert result == expected
    assert list(result) == list(expected)  # P's own release first: it is the first sheet


@pytest.mark.parametrize(
    "period",
    [
        "2026-13",
        "2026-00",
        "2026-01",
        "2026-Q5",
        "2026-Q0",
        "2026-3",
        "2026Q1",
        "26-03",
        "",
        " 2026",
        "2026-q1",
        "1800",
    ],
)
def test_periods_for_export_rejects_malformed(period: str) -> None:
    with pytest.raises(ValueError, match="period"):
        periods_for_export(period)


def test_january_hint() -> None:
    with pytest.raises(ValueError, match="February"):
        periods_for_export("2026-01")


# --- xlsx -----------------------------------------------------------------------------------


def test_xlsx_release_sheets(tmp_path: Path) -> None:
    path = export_xlsx(tmp_path / "summary.xlsx", "2026-03", OBS, INDICATORS, ZONES, _evaluation())
    assert path == tmp_path / "summary.xlsx"
    # the temp file was renamed, not left behind
    assert [p.name for p in tmp_path.iterdir()] == ["summary.xlsx"]
    wb = load_workbook(path)
    assert wb.sheetnames == ["月报 2026-03", "季报 2026-Q1", "综合评价"]

    ws = wb["月报 2026-03"]
    assert "月报 2026-03" in ws["A1"].value
    assert "数据来源" in ws["A1"].value
    assert ws.freeze_panes == "C5"
    # catalog order, not the frame's; the enterprise 'revenue' adds no second column
    assert [c.value for c in ws[3]] == [
        "区代码",
        "示范区",
        "营业收入（万元）\n1–3月累计",
        "税收收入（万元）\n1–3月累计",
        "规模以上工业企业数（个）\n3月末",
    ]
    assert [c.value for c in ws[4]] == [
        "zone_code",
        "name_zh",
        "revenue",
        "tax_revenue",
        "above_scale_enterprises",
    ]
    # zone_code order, and YQ01 listed although it reported nothing for 2026-03
    assert [ws.cell(r, 1).value for r in (5, 6, 7)] == ["DT01", "TY01", "YQ01"]
    assert ws["B5"].value == "大同经济技术开发区"

    # TY01 revenue: the latest revision, a number with thousands separators, no comment
    assert ws["C6"].value == 123456.5
    assert isinstance(ws["C6"].value, float)
    assert "#,##0" in ws["C6"].number_format
    assert ws["C6"].comment is None
    # status M: an empty cell
    assert ws["D5"].value is None
    # E and P are marked by a comment naming the status
    assert ws["D6"].value == 2345.0
    assert ws["D6"].comment is not None
    assert ws["D6"].comment.text.startswith("E ")
    assert ws["E5"].value == 17
    assert ws["E5"].number_format == "#,##0"
    assert ws["E5"].comment is not None
    assert ws["E5"].comment.text.startswith("P ")
    # YQ01's 2026-02 figure belongs to another release
    assert ws["C7"].value is None
    assert ws.max_row == 8  # the zones, then 全省合计
    assert ws["B8"].value == "全省合计"
    # columns are widened for the long Chinese names
    assert ws.column_dimensions["B"].width >= 20

    q = wb["季报 2026-Q1"]
    assert q["C3"].value == "规模以上工业增加值（万元）\n1季度"
    assert q["C4"].value == "industrial_value_added"
    assert q["C5"].value == 21000.0
    assert q["C5"].comment is not None
    assert q["C6"].value == 30000.25
    assert q["C6"].comment is None


def test_xlsx_evaluation_sheet_in_rank_order(tmp_path: Path) -> None:
    path = export_xlsx(tmp_path / "s.xlsx", "2026-03", OBS, INDICATORS, ZONES, _evaluation())
    ws = load_workbook(path)["综合评价"]
    assert "2026" in ws["A1"].value
    assert "eval-2026.1" in ws["A1"].value
    assert [c.value for c in ws[3]][:9] == [
        "排名",
        "区代码",
        "示范区",
        "等级",
        "综合得分",
        "亩均效益得分",
        "集聚集约得分",
        "增量增速得分",
        "减污降碳得分",
    ]
    assert [ws.cell(r, 1).value for r in (5, 6, 7)] == [1, 2, 3]
    assert [ws.cell(r, 2).value for r in (5, 6, 7)] == ["DT01", "TY01", "YQ01"]
    assert ws["C5"].value == "大同经济技术开发区"
    assert ws["D5"].value == "A"
    assert ws["E5"].value == 85.25
    assert ws["F7"].value == 0.0  # a real zero score is a number, not a blank
    tax = _column(ws, "tax_per_mu")
    assert ws.cell(3, tax).value == "亩均税收（万元/亩）"
    assert ws.cell(6, tax).value == 1.5  # TY01
    assert ws.cell(7, tax).value is None  # YQ01 lacks it
    assert ws.cell(3, _column(ws, "energy_per_va")).value == "单位工业增加值能耗（吨标准煤/万元）"
    assert ws.cell(7, _column(ws, "watchlist")).value == "是"
    assert ws.cell(5, _column(ws, "watchlist")).value == "否"
    assert ws.cell(6, _column(ws, "transition_candidate")).value == "是"
    assert ws.cell(7, _column(ws, "transition_candidate")).value == "否"
    assert ws.cell(5, _column(ws, "transition_candidate")).value is None  # NA: unknown
    assert ws.cell(7, _column(ws, "missing_metrics")).value == "亩均税收、单位工业增加值碳排放"


def test_xlsx_annual_period_and_empty_evaluation(tmp_path: Path) -> None:
    path = export_xlsx(tmp_path / "a.xlsx", "2026", OBS, INDICATORS, ZONES, pd.DataFrame())
    wb = load_workbook(path)
    assert wb.sheetnames == ["年报 2026", "月报 2026-12", "季报 2026-Q4", "综合评价"]
    annual = wb["年报 2026"]
    assert annual["C3"].value == "规划面积（亩）\n年末"
    assert annual["C6"].value == 15500.0  # TY01's 2026, not its 2025
    assert wb["月报 2026-12"]["C5"].value == 400000.0
    texts = [c.value for row in wb["综合评价"].iter_rows() for c in row if c.value]
    assert any("暂无综合评价" in str(t) for t in texts)


def test_write_atomically_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half a fi", encoding="utf-8")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, half_then_fail)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


# --- csv ------------------------------------------------------------------------------------


def test_csv_long_format_with_bom(tmp_path: Path) -> None:
    path = export_csv(tmp_path / "obs.csv", "2026-03", OBS, INDICATORS, ZONES)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == [
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
    ]
    body = rows[1:]
    # the month's release then the quarter's; zone_code; catalog order; no 2026-02, no r1
    assert [(r[0], r[2], r[4]) for r in body] == [
        ("DT01", "revenue", "2026-03"),
        ("DT01", "tax_revenue", "2026-03"),
        ("DT01", "above_scale_enterprises", "2026-03"),
        ("TY01", "revenue", "2026-03"),
        ("TY01", "tax_revenue", "2026-03"),
        ("TY01", "above_scale_enterprises", "2026-03"),
        ("DT01", "industrial_value_added", "2026-Q1"),
        ("TY01", "industrial_value_added", "2026-Q1"),
    ]
    assert body[4] == [
        "TY01",
        "太原中北高新技术产业开发区",
        "tax_revenue",
        "税收收入",
        "2026-03",
        "M",
        "2345",
        "万元",
        "E",
        "2",
    ]
    assert body[1][6] == ""  # status M
    assert body[1][8] == "M"
    assert body[3][6] == "123456.5"
    assert body[3][9] == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["obs.csv"]


# --- SDMX-CSV -------------------------------------------------------------------------------


def test_sdmx_csv(tmp_path: Path) -> None:
    path = export_sdmx_csv(tmp_path / "obs.sdmx.csv", "2026-03", OBS)
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert text.splitlines()[0] == (
        "STRUCTURE,STRUCTURE_ID,ACTION,REF_AREA,INDICATOR,TIME_PERIOD,OBS_VALUE,"
        "UNIT_MEASURE,OBS_STATUS"
    )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    flow = {"STRUCTURE": "dataflow", "STRUCTURE_ID": "SX_DZ:DF_ZONESTATS(1.0)", "ACTION": "I"}

    def row(area: str, ind: str, per: str, value: str, unit: str, status: str) -> dict[str, str]:
        return {
            **flow,
            "REF_AREA": area,
            "INDICATOR": ind,
            "TIME_PERIOD": per,
            "OBS_VALUE": value,
            "UNIT_MEASURE": unit,
            "OBS_STATUS": status,
        }

    assert rows == [
        row("DT01", "revenue", "2026-03", "98765.4", "万元", "A"),
        row("DT01", "tax_revenue", "2026-03", "", "万元", "M"),
        row("DT01", "above_scale_enterprises", "2026-03", "17", "个", "P"),
        row("TY01", "revenue", "2026-03", "123456.5", "万元", "A"),
        row("TY01", "tax_revenue", "2026-03", "2345", "万元", "E"),
        row("TY01", "above_scale_enterprises", "2026-03", "42", "个", "A"),
        row("DT01", "industrial_value_added", "2026-Q1", "21000", "万元", "P"),
        row("TY01", "industrial_value_added", "2026-Q1", "30000.25", "万元", "A"),
    ]


def test_sdmx_csv_annual_periods_and_dataflow(tmp_path: Path) -> None:
    path = export_sdmx_csv(tmp_path / "a.csv", "2026", OBS, dataflow="SX:DF_X(2.1)")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert [(r["TIME_PERIOD"], r["REF_AREA"], r["INDICATOR"]) for r in rows] == [
        ("2026", "TY01", "planned_area"),
        ("2026-12", "DT01", "revenue"),
    ]
    assert {r["STRUCTURE_ID"] for r in rows} == {"SX:DF_X(2.1)"}
    with pytest.raises(ValueError, match="dataflow"):
        export_sdmx_csv(tmp_path / "b.csv", "2026", OBS, dataflow="DF_ZONESTATS")
    assert not (tmp_path / "b.csv").exists()


# --- report ---------------------------------------------------------------------------------


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]*\ssrc="([^"]+)"', page)


#: the charts' sizes in pixels at the report's 110 dpi (the ranking's height grows with the zones)
CHART_PX = {"ranking.png": (1045, None), "pillars.png": (1210, 715), "trend.png": (1265, 770)}


def _assert_png(path: Path) -> None:
    """The file decodes whole as a PNG of the chart's size, with a chart drawn on it in colour."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    with Image.open(path) as img:
        assert img.format == "PNG", path
        img.load()  # every row decoded: a truncated or corrupt file raises here
        rgb = np.asarray(img.convert("RGB")).astype(int)
    height, width, _ = rgb.shape
    want_w, want_h = CHART_PX[path.name]
    assert width == want_w, (path, width)
    assert height == want_h if want_h else height >= 250, (path, height)
    # not blank: a good share of the canvas differs from its background (the corner pixel) ...
    ink = float((np.abs(rgb - rgb[0, 0]).sum(axis=2) > 48).mean())
    assert 0.03 < ink < 0.9, (path, ink)
    # ... and the data are drawn in colour, not only grey axes, grid and labels
    coloured = float(((rgb.max(axis=2) - rgb.min(axis=2)) > 80).mean())
    assert coloured > 0.003, (path, coloured)
    # the drawing spans the canvas, not a title in one corner
    inked_cols = (np.abs(rgb - rgb[0, 0]).sum(axis=2) > 48).any(axis=0)
    assert inked_cols.mean() > 0.6, (path, float(inked_cols.mean()))


def test_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # this machine may or may not have a CJK font; the fallback must never draw tofu boxes
    monkeypatch.setattr(chart_fonts, "find_cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = write_report(tmp_path, 2026, _evaluation(), _monthly(), ZONES, INDICATORS)
    assert not [w for w in caught if "missing from font" in str(w.message)]
    assert path == tmp_path / "report-2026.html"
    page = path.read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    assert "<link" not in page
    images = _images(page)
    assert sorted(Path(src).name for src in images) == ["pillars.png", "ranking.png", "trend.png"]
    for src in images:
        assert src.startswith("report-2026/")  # relative, beside the page
        _assert_png(tmp_path / src)

    assert "eval-2026.1" in page
    assert re.search(r"生成时间 Generated</td><td>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", page)
    # the ranking table lists the zones in rank order, with their flags
    table = page[
        page.index('<table class="data">') : page.index(
            "</table>", page.index('<table class="data">')
        )
    ]
    order = [
        table.index(name)
        for name in ("大同经济技术开发区", "太原中北高新技术产业开发区", "阳泉经济技术开发区")
    ]
    assert order == sorted(order)
    assert table.count("<tr>") == 1 + 3
    assert "亩均税收、单位工业增加值碳排放" in table
    assert table.count('<span class="flag">是</span>') == 2  # YQ01 watchlist, TY01 transition
    dt01 = table[
        table.index("大同经济技术开发区") : table.index("</tr>", table.index("大同经济技术开发区"))
    ]
    assert dt01.count('<td class="c">否</td>') == 1  # watchlist
    assert '<td class="c">—</td>' in dt01  # transition unknown
    assert "85.2" in table  # composite 85.25, one decimal


def test_report_with_a_cjk_font_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # DejaVu stands in for a CJK font: the bilingual labels must draw without error
    monkeypatch.setattr(chart_fonts, "find_cjk_font", lambda: "DejaVu Sans")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write_report(tmp_path, 2026, _evaluation(), _monthly(), ZONES, INDICATORS)
    for src in _images(path.read_text(encoding="utf-8")):
        _assert_png(tmp_path / src)


def test_cjk_font_needs_the_glyphs_not_just_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import font_manager

    dejavu = font_manager.findfont("DejaVu Sans")
    fake = font_manager.FontEntry(fname=dejavu, name="Noto Sans CJK SC")
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [fake])
    monkeypatch.setattr(chart_fonts, "cjk_font_files", list)  # no real Chinese font to fall back on
    chart_fonts.find_cjk_font.cache_clear()
    try:
        assert chart_fonts.find_cjk_font() is None
    finally:
        chart_fonts.find_cjk_font.cache_clear()


@pytest.mark.parametrize(
    "evaluation",
    [pd.DataFrame(), _evaluation().iloc[0:0], _evaluation().assign(year=2025)],
    ids=["no-columns", "no-rows", "other-year"],
)
def test_report_without_evaluation(tmp_path: Path, evaluation: pd.DataFrame) -> None:
    # a first run with an evaluation leaves charts that the second run must not keep
    write_report(tmp_path, 2026, _evaluation(), _monthly(), ZONES, INDICATORS)
    path = write_report(tmp_path, 2026, evaluation, _monthly(), ZONES, INDICATORS)
    page = path.read_text(encoding="utf-8")
    assert "2026 年度暂无综合评价结果" in page
    assert "No evaluation for 2026" in page
    assert [Path(src).name for src in _images(page)] == ["trend.png"]
    _assert_png(tmp_path / "report-2026" / "trend.png")
    assert not (tmp_path / "report-2026" / "ranking.png").exists()
    assert not (tmp_path / "report-2026" / "pillars.png").exists()
    assert "https://" not in page


def test_report_without_any_data(tmp_path: Path) -> None:
    path = write_report(tmp_path, 2024, pd.DataFrame(), pd.DataFrame(), ZONES, INDICATORS)
    page = path.read_text(encoding="utf-8")
    assert _images(page) == []
    assert "No monthly data for 2024" in page
    assert "No evaluation for 2024" in page
    # nothing but the page and its (empty) chart folder: no temp file left behind
    assert {p.name for p in tmp_path.iterdir()} == {"report-2024.html", "report-2024"}


def test_xlsx_province_total_and_headers_saying_what_a_figure_is(tmp_path: Path) -> None:
    indicators = pd.concat(
        [
            INDICATORS,
            pd.DataFrame(
                [
                    (
                        "zone",
                        "industrial_va_growth",
                        "规模以上工业增加值增速",
                        "VA growth",
                        "%",
                        "M",
                        "ytd_rate",
                    )
                ],
                columns=INDICATORS.columns,
            ),
        ]
    )
    obs = pd.DataFrame(
        [
            # summed as floats these give 1234567.6500000001: the total must be the exact sum
            ("TY01", "revenue", "2026-03", "M", 1, 0.1, "万元", "A"),
            ("DT01", "revenue", "2026-03", "M", 1, 0.2, "万元", "A"),
            ("YQ01", "revenue", "2026-03", "M", 1, 1234567.35, "万元", "E"),
            ("TY01", "above_scale_enterprises", "2026-03", "M", 1, 42.0, "个", "A"),
            ("DT01", "above_scale_enterprises", "2026-03", "M", 1, 17.0, "个", "A"),
            ("TY01", "industrial_va_growth", "2026-03", "M", 1, 6.5, "%", "A"),
            ("DT01", "industrial_va_growth", "2026-03", "M", 1, 3.5, "%", "A"),
            ("TY01", "industrial_value_added", "2026-Q1", "Q", 1, 30000.25, "万元", "A"),
            ("DT01", "industrial_value_added", "2026-Q1", "Q", 1, 21000.5, "万元", "A"),
        ],
        columns=OBS.columns,
    )
    path = export_xlsx(tmp_path / "t.xlsx", "2026-03", obs, indicators, ZONES, pd.DataFrame())
    wb = load_workbook(path)
    ws = wb["月报 2026-03"]
    heads = {c.value: h.value for c, h in zip(ws[4], ws[3], strict=True)}
    # a cumulative figure says which months it covers, a stock the month it stands at, a rate
    # that it is the cumulative year-on-year change
    assert heads["revenue"] == "营业收入（万元）\n1–3月累计"
    assert heads["above_scale_enterprises"] == "规模以上工业企业数（个）\n3月末"
    assert heads["industrial_va_growth"] == "规模以上工业增加值增速（%）\n1–3月累计同比"
    total = ws.max_row
    assert total == 5 + len(ZONES)  # after the zones' rows
    assert ws.cell(total, 2).value == "全省合计"
    rev = _column(ws, "revenue")
    assert ws.cell(total, rev).value == float(
        Decimal("0.1") + Decimal("0.2") + Decimal("1234567.35")
    )
    assert ws.cell(total, rev).value != 0.1 + 0.2 + 1234567.35
    # YQ01 did not report its enterprises: the total says it covers 2 of 3 zones
    ent = _column(ws, "above_scale_enterprises")
    assert ws.cell(total, ent).value == 59
    assert "2/3" in ws.cell(total, ent).comment.text
    assert ws.cell(total, rev).comment is None
    # a rate has no province total: never the sum of the zones' rates
    assert ws.cell(total, _column(ws, "industrial_va_growth")).value is None
    q = wb["季报 2026-Q1"]
    assert q["C3"].value == "规模以上工业增加值（万元）\n1季度"
    assert q.cell(q.max_row, 2).value == "全省合计"
    assert q.cell(q.max_row, 3).value == 51000.75


def _installed_cjk_font() -> str | None:
    """A Chinese font file fontconfig knows on this machine (e.g. fonts-wqy-microhei), or None."""
    import shutil
    import subprocess

    fc = shutil.which("fc-list")
    if fc is None:
        return None
    out = subprocess.run([fc, ":lang=zh", "file"], capture_output=True, text=True, check=False)
    files = [line.split(":")[0].strip() for line in out.stdout.splitlines() if line.strip()]
    return files[0] if files else None


def test_a_cjk_font_installed_after_matplotlibs_cache_is_found_and_draws_the_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from matplotlib import font_manager
    from matplotlib.backends import backend_agg

    font_file = _installed_cjk_font()
    if font_file is None:
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-microhei)")
    # matplotlib's cache as it was before the font was installed: it lists every font but this
    stale = [e for e in font_manager.fontManager.ttflist if Path(e.fname) != Path(font_file)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    # the rebuilt list is written back to matplotlib's cache: here, not the user's
    monkeypatch.setattr(chart_fonts, "font_cache_file", lambda: tmp_path / "fontlist.json")
    chart_fonts.find_cjk_font.cache_clear()
    drawn_with: set[str] = set()
    real_get_font = backend_agg.get_font

    def spy(paths: Any, *args: Any, **kwargs: Any) -> Any:
        drawn_with.update(str(p) for p in (paths if isinstance(paths, list) else [paths]))
        return real_get_font(paths, *args, **kwargs)

    monkeypatch.setattr(backend_agg, "get_font", spy)
    try:
        family = chart_fonts.find_cjk_font()
        assert family is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            page = write_report(tmp_path, 2026, _evaluation(), _monthly(), ZONES, INDICATORS)
    finally:
        chart_fonts.find_cjk_font.cache_clear()
    assert any(Path(e.fname) == Path(font_file) for e in font_manager.fontManager.ttflist)
    # the charts were drawn with the Chinese font, and the list was saved for the next process
    assert any(Path(p) == Path(font_file) for p in drawn_with), drawn_with
    assert (tmp_path / "fontlist.json").is_file()
    for src in _images(page.read_text(encoding="utf-8")):
        _assert_png(tmp_path / src)
