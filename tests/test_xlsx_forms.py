"""The report-form reader: YQ1/YQ2/YQ3/QY1 .xlsx files, built here with openpyxl, with field quirks."""

from __future__ import annotations

import re
import zipfile
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook

from zonestats.catalog import Catalog, load_catalog
from zonestats.sources import xlsx_forms
from zonestats.sources.xlsx_forms import FormError, ParsedForm, parse_form, report_period

ZONE_HEADER = ["指标名称", "代码", "计量单位", "1-本期累计", "上年同期", "同比增长(%)"]
QY1_HEADER = [
    "统一社会信用代码",
    "企业名称",
    "行业代码",
    "是否规上",
    "营业收入(万元)",
    "税收(万元)",
    "用地面积（公顷）",
]
USCC_A = "91140100MA0GRXXX1X"
USCC_B = "91140100MA0GRYYY2Y"
FOOTER = [
    ["单位负责人：张三", None, "统计负责人：李四", None, "填表人：王五", "报出日期：2026-11-16"]
]
TITLES = {"YQ1": "园区综合月报", "YQ2": "园区综合季报", "YQ3": "园区综合年报", "QY1": "企业月报"}

Rows = list[list[Any]]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def xlsx(rows: Rows, *, merge: str | None = None, extra_sheet: Rows | None = None) -> bytes:
    """Write rows (an empty list = a blank row) to the first sheet of a workbook."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "报表"
    for row in rows:
        ws.append(row if row else [None])
    if merge:
        ws.merge_cells(merge)
    if extra_sheet is not None:
        other = wb.create_sheet("说明")
        for row in extra_sheet:
            other.append(row)
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


def form_rows(
    form: str,
    period_text: str,
    header: list[str],
    data: Rows,
    *,
    header_block: Rows | None = None,
    footer: Rows | None = None,
    blank_before_header: int = 0,
    order: list[int] | None = None,
    indent: int = 0,
) -> Rows:
    """A form's rows: title, 表号/填报单位/报告期, table header, data, footer, with quirk options.

    ``order`` permutes the table's columns; ``indent`` puts that many empty columns on the left.
    """

    def place(row: list[Any]) -> list[Any]:
        if order is not None:
            row = [row[i] if i < len(row) else None for i in order]
        return [None] * indent + row

    block = (
        header_block
        if header_block is not None
        else [[f"表号：{form}"], ["填报单位：太原示范区"], [f"报告期：{period_text}"]]
    )
    rows: Rows = [[TITLES.get(form, "报表")], *block]
    rows += [[] for _ in range(blank_before_header)]
    rows.append(place(list(header)))
    rows += [place(r) if r else [] for r in data]
    rows += FOOTER if footer is None else footer
    return rows


def zone_form(form: str, period_text: str, data: Rows, **options: Any) -> bytes:
    merge = options.pop("merge", None)
    extra = options.pop("extra_sheet", None)
    header = options.pop("header", ZONE_HEADER)
    return xlsx(
        form_rows(form, period_text, header, data, **options), merge=merge, extra_sheet=extra
    )


def qy1_form(data: Rows, **options: Any) -> bytes:
    header = options.pop("header", QY1_HEADER)
    merge = options.pop("merge", None)
    return xlsx(form_rows("QY1", "2026年1-10月", header, data, **options), merge=merge)


YQ1_DATA: Rows = [
    ["营业收入", "revenue", "万元", 1234567.8, 1100000, 12.2],
    ["规模以上工业增加值增速", "industrial_va_growth", "%", 6.5, None, None],
    ["绿电消费量", "green_electricity", "万千瓦时", None, 10, None],
    ["规模以上工业企业数", "above_scale_enterprises", "个", 57, 55, 3.6],
]
YQ1_RECORDS: list[dict[str, Any]] = [
    {"indicator": "revenue", "value": 1234567.8, "unit": "万元"},
    {"indicator": "industrial_va_growth", "value": 6.5, "unit": "%"},
    {"indicator": "green_electricity", "value": None, "unit": "万千瓦时"},
    {"indicator": "above_scale_enterprises", "value": 57, "unit": "个"},
]


# ---------------------------------------------------------------- plain layouts


def test_plain_yq1(catalog: Catalog) -> None:
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA), "YQ1", catalog)
    assert parsed == ParsedForm(
        form="YQ1",
        report_period_text="2026年1-10月",
        period="2026-10",
        reporting_unit="太原示范区",
        reported_on="2026-11-16",
        dataset="zone",
        frequency="M",
        records=YQ1_RECORDS,
    )


def test_plain_yq2(catalog: Catalog) -> None:
    data: Rows = [
        ["规模以上工业增加值", "industrial_value_added", "万元", 52000.5, 50000, 4.0],
        ["研发经费支出", "rd_expenditure", "万元", 3100, 2900, 6.9],
        ["从业人员期末人数", "employees", "人", 41234, 40000, 3.1],
    ]
    parsed = parse_form(zone_form("YQ2", "2026年1-3季度", data), "YQ2", catalog)
    assert (parsed.form, parsed.period, parsed.dataset, parsed.frequency) == (
        "YQ2",
        "2026-Q3",
        "zone",
        "Q",
    )
    assert parsed.records == [
        {"indicator": "industrial_value_added", "value": 52000.5, "unit": "万元"},
        {"indicator": "rd_expenditure", "value": 3100, "unit": "万元"},
        {"indicator": "employees", "value": 41234, "unit": "人"},
    ]


def test_plain_yq3(catalog: Catalog) -> None:
    data: Rows = [
        ["规划面积", "planned_area", "亩", 30000, 30000, 0],
        ["高新技术企业数", "high_tech_enterprises", "个", 128, 110, 16.4],
    ]
    parsed = parse_form(zone_form("YQ3", "2025年", data), "YQ3", catalog)
    assert (parsed.form, parsed.report_period_text, parsed.period, parsed.frequency) == (
        "YQ3",
        "2025年",
        "2025",
        "A",
    )
    assert parsed.records == [
        {"indicator": "planned_area", "value": 30000, "unit": "亩"},
        {"indicator": "high_tech_enterprises", "value": 128, "unit": "个"},
    ]


QY1_DATA: Rows = [
    [USCC_A, "山西示例新材料有限公司", "C3011", "是", 8800.2, 310.5, 120.5],
    [USCC_B, "太原示例科技有限公司", "I6513", "否", "1,200", None, 3],
]
QY1_RECORDS: list[dict[str, Any]] = [
    {
        "uscc": USCC_A,
        "name": "山西示例新材料有限公司",
        "industry_code": "C3011",
        "above_scale": True,
        "values": {"revenue": 8800.2, "tax_revenue": 310.5, "land_area": 120.5},
        "units": {"land_area": "公顷"},
    },
    {
        "uscc": USCC_B,
        "name": "太原示例科技有限公司",
        "industry_code": "I6513",
        "above_scale": False,
        "values": {"revenue": "1,200", "tax_revenue": None, "land_area": 3},
        "units": {"land_area": "公顷"},
    },
]


def test_plain_qy1(catalog: Catalog) -> None:
    parsed = parse_form(qy1_form(QY1_DATA), "QY1", catalog)
    assert parsed == ParsedForm(
        form="QY1",
        report_period_text="2026年1-10月",
        period="2026-10",
        reporting_unit="太原示范区",
        reported_on="2026-11-16",
        dataset="enterprise",
        frequency="M",
        records=QY1_RECORDS,
    )


@pytest.mark.parametrize(
    ("form", "period_text", "dataset", "frequency", "period"),
    [
        ("YQ1", "2026年1-10月", "zone", "M", "2026-10"),
        ("YQ1", "2026年1-3季度", "zone", "M", None),  # a quarter is no month
        ("YQ2", "2026年1-3季度", "zone", "Q", "2026-Q3"),
        ("YQ2", "2026年1-10月", "zone", "Q", None),  # a month is no quarter
        ("YQ2", "2026年1-6月", "zone", "Q", "2026-Q2"),  # a half year is the second quarter
        ("YQ3", "2026年度", "zone", "A", "2026"),
        ("YQ3", "2026年1-3季度", "zone", "A", None),
    ],
)
def test_the_form_asked_for_decides_dataset_frequency_and_period(
    catalog: Catalog, form: str, period_text: str, dataset: str, frequency: str, period: str | None
) -> None:
    parsed = parse_form(zone_form(form, period_text, YQ1_DATA), form, catalog)
    assert (parsed.form, parsed.dataset, parsed.frequency) == (form, dataset, frequency)
    assert (parsed.report_period_text, parsed.period) == (period_text, period)
    assert parsed.records == YQ1_RECORDS


def test_an_enterprise_form_is_read_as_enterprise_records(catalog: Catalog) -> None:
    parsed = parse_form(qy1_form(QY1_DATA), "QY1", catalog)
    assert (parsed.dataset, parsed.frequency, parsed.period) == ("enterprise", "M", "2026-10")
    assert all("uscc" in r and "indicator" not in r for r in parsed.records)


# ---------------------------------------------------------------- field quirks


def test_merged_title_and_extra_sheet(catalog: Catalog) -> None:
    content = zone_form(
        "YQ1",
        "2026年1-10月",
        YQ1_DATA,
        merge="A1:F1",
        extra_sheet=[
            ["表号：YQ2"],
            ["报告期：2026年1-3季度"],
            ZONE_HEADER,
            ["x", "bogus", "元", 1],
        ],
    )
    parsed = parse_form(content, "YQ1", catalog)
    assert (parsed.form, parsed.period) == ("YQ1", "2026-10")
    assert parsed.records == YQ1_RECORDS


def test_blank_rows_before_header_and_inside_table(catalog: Catalog) -> None:
    data = [[], YQ1_DATA[0], [], [], YQ1_DATA[1], YQ1_DATA[2], [None, "  ", None, ""], YQ1_DATA[3]]
    content = zone_form("YQ1", "2026年1-10月", data, blank_before_header=3)
    assert parse_form(content, "YQ1", catalog).records == YQ1_RECORDS


def test_header_at_another_row_and_column(catalog: Catalog) -> None:
    block: Rows = [[], [], ["表号：YQ1"], [], ["填报单位：太原示范区"], ["报告期：2026年1-10月"]]
    content = zone_form(
        "YQ1", "2026年1-10月", YQ1_DATA, header_block=block, blank_before_header=2, indent=2
    )
    parsed = parse_form(content, "YQ1", catalog)
    assert (parsed.form, parsed.reporting_unit, parsed.period) == ("YQ1", "太原示范区", "2026-10")
    assert parsed.records == YQ1_RECORDS


def test_columns_in_another_order(catalog: Catalog) -> None:
    # 同比增长 | 1-本期累计 | 代码 | 上年同期 | 计量单位 | 指标名称
    content = zone_form("YQ1", "2026年1-10月", YQ1_DATA, order=[5, 3, 1, 4, 2, 0])
    assert parse_form(content, "YQ1", catalog).records == YQ1_RECORDS


def test_header_titles_with_spaces_and_newlines(catalog: Catalog) -> None:
    header = [
        "指 标 名 称",
        " 代  码 ",
        "计量\n单位",
        "1－本期\n累计",
        "上年\n同期",
        "同比增长\n（%）",
    ]
    content = zone_form("YQ1", "2026年1-10月", YQ1_DATA, header=header)
    assert parse_form(content, "YQ1", catalog).records == YQ1_RECORDS


def test_numbers_as_text_spaces_and_units(catalog: Catalog) -> None:
    data: Rows = [
        ["营业收入", "revenue  ", " 元 ", "12,345,678,000", None, None],
        ["税收收入", "  tax_revenue", "万元", " 12 ", None, None],
        ["利润总额", "profit_total\t", "万元 ", "-", None, None],
        ["用电量", "electricity_consumption", "万千瓦时", "", None, None],
        ["进出口总额", "import_export", "万元", 0, None, None],
    ]
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", data), "YQ1", catalog)
    assert parsed.records == [
        {"indicator": "revenue", "value": "12,345,678,000", "unit": "元"},
        {"indicator": "tax_revenue", "value": " 12 ", "unit": "万元"},
        {"indicator": "profit_total", "value": "-", "unit": "万元"},
        {"indicator": "electricity_consumption", "value": None, "unit": "万千瓦时"},
        {"indicator": "import_export", "value": 0, "unit": "万元"},
    ]


def test_rows_kept_for_validation(catalog: Catalog) -> None:
    """Unknown codes, missing units, odd cell types go on; a heading row with nothing is skipped."""
    data: Rows = [
        ["一、经济指标", None, None, None, None, None],
        ["营业收入", "revenue", None, 5, None, None],
        ["新指标", "new_thing", "万元", 1, None, None],
        ["无代码", None, "万元", 2, None, None],
        ["日期", "tax_revenue", "万元", datetime(2026, 10, 1), None, None],
        ["布尔", "profit_total", "万元", True, None, None],
        ["数字代码", 101, "万元", 3, None, None],
    ]
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", data), "YQ1", catalog)
    assert parsed.records == [
        {"indicator": "revenue", "value": 5, "unit": None},
        {"indicator": "new_thing", "value": 1, "unit": "万元"},
        {"indicator": None, "value": 2, "unit": "万元"},
        {"indicator": "tax_revenue", "value": "2026-10-01", "unit": "万元"},
        {"indicator": "profit_total", "value": True, "unit": "万元"},
        {"indicator": "101", "value": 3, "unit": "万元"},
    ]


def test_column_number_row_under_header_is_not_data(catalog: Catalog) -> None:
    data = [["甲", "乙", "丙", 1, 2, 3], *YQ1_DATA]
    assert parse_form(zone_form("YQ1", "2026年1-10月", data), "YQ1", catalog).records == (
        YQ1_RECORDS
    )


def test_footer_rows_end_the_table(catalog: Catalog) -> None:
    footer: Rows = [
        [],
        ["单位负责人：张三", None, "统计负责人：李四"],
        ["填表人：", "王五", "报出日期：", datetime(2026, 11, 16)],
        ["营业收入", "revenue", "万元", 999, None, None],  # anything under the footer is not data
    ]
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA, footer=footer), "YQ1", catalog)
    assert parsed.records == YQ1_RECORDS
    assert parsed.reported_on == "2026-11-16"


def test_indicator_names_like_footer_labels_are_data(catalog: Catalog) -> None:
    data: Rows = [["填报人数", "reporters", "人", 3, None, None], *YQ1_DATA]
    records = parse_form(zone_form("YQ1", "2026年1-10月", data), "YQ1", catalog).records
    assert records == [{"indicator": "reporters", "value": 3, "unit": "人"}, *YQ1_RECORDS]


def test_repeated_header_row_is_not_data(catalog: Catalog) -> None:
    """Forms laid out for printing repeat the table header on every page."""
    data = [QY1_DATA[0], [], QY1_HEADER, QY1_DATA[1]]
    assert parse_form(qy1_form(data), "QY1", catalog).records == QY1_RECORDS


def test_note_under_table_and_no_footer(catalog: Catalog) -> None:
    footer: Rows = [["注：本表由园区统计机构填报。", None, None, None]]
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA, footer=footer), "YQ1", catalog)
    assert (parsed.records, parsed.reported_on) == (YQ1_RECORDS, None)
    parsed = parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA, footer=[]), "YQ1", catalog)
    assert (parsed.records, parsed.reported_on) == (YQ1_RECORDS, None)


@pytest.mark.parametrize(
    "block",
    [
        [["表号:YQ1"], ["填报单位:太原示范区"], ["报告期:2026年1-10月"]],  # ASCII colons
        [["表号：", "YQ1"], ["填报单位：", None, "太原示范区"], ["报告期", "2026年1-10月"]],
        [["表  号：YQ1 "], ["填 报 单 位： 太原示范区"], ["报 告 期：2026年1-10月"]],
        [
            ["表号：YQ1　制定机关：山西省统计局", None, "批准文号：晋统字〔2026〕1号"],
            ["填报单位：太原示范区   报告期：2026年1-10月"],
        ],  # several pairs in one cell
        [["表号：", None, "YQ1", "填报单位：太原示范区"], ["报告期：", "2026年1-10月"]],
    ],
)
def test_header_block_layouts(catalog: Catalog, block: Rows) -> None:
    parsed = parse_form(
        zone_form("YQ1", "", YQ1_DATA, header_block=block, merge="A1:F1"), "YQ1", catalog
    )
    assert (parsed.form, parsed.reporting_unit, parsed.report_period_text, parsed.period) == (
        "YQ1",
        "太原示范区",
        "2026年1-10月",
        "2026-10",
    )


def test_form_and_period_are_reported_not_checked(catalog: Catalog) -> None:
    """The caller compares them with the URL: a YQ2 label or another period is passed on."""
    content = zone_form("YQ2", "2026年1-9月", YQ1_DATA)
    parsed = parse_form(content, "YQ1", catalog)
    assert (parsed.form, parsed.report_period_text, parsed.period) == (
        "YQ2",
        "2026年1-9月",
        "2026-09",
    )
    parsed = parse_form(zone_form("YQ1", "2026年度", YQ1_DATA), "YQ1", catalog)
    assert (parsed.report_period_text, parsed.period) == ("2026年度", None)


def rewrite_sheet(content: bytes, edit: Any) -> bytes:
    """The same workbook with the first sheet's XML passed through ``edit``."""
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(content)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = edit(data)
            dst.writestr(info, data)
    return out.getvalue()


def test_wrong_sheet_dimension_is_ignored(catalog: Catalog) -> None:
    """Some writers declare <dimension ref="A1"/>; read_only mode must not cut the rows to it."""
    content = rewrite_sheet(
        zone_form("YQ1", "2026年1-10月", YQ1_DATA),
        lambda xml: re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1"/>', xml),
    )
    assert parse_form(content, "YQ1", catalog).records == YQ1_RECORDS


# ---------------------------------------------------------------- QY1 quirks


def test_qy1_titles_units_and_order(catalog: Catalog) -> None:
    header = [
        "序号",
        "是否\n规上",
        "营业收入（元）",
        "企业名称",
        " 统一社会信用代码 ",
        "研发费用(万元)",
        "从业人员期末人数",
        "行业代码",
        "研发投入(万元)",
        "用地面积 (亩)",
        "用电量\n（千瓦时）",
    ]
    data: Rows = [
        [1, "是", "88002000", "示例一公司 ", USCC_A + " ", 420, 312, " C3011", 5, 120, 15200000],
        [2, None, 1.5, "示例二公司", USCC_B, None, "12", "C30", None, None, None],
    ]
    parsed = parse_form(qy1_form(data, header=header), "QY1", catalog)
    units = {"revenue": "元", "electricity_consumption": "千瓦时"}
    assert parsed.records == [
        {
            "uscc": USCC_A,
            "name": "示例一公司",
            "industry_code": "C3011",
            "above_scale": True,
            "values": {
                "revenue": "88002000",
                "rd_expenditure": 420,
                "employees": 312,
                "研发投入(万元)": 5,
                "land_area": 120,
                "electricity_consumption": 15200000,
            },
            "units": units,
        },
        {
            "uscc": USCC_B,
            "name": "示例二公司",
            "industry_code": "C30",
            "above_scale": None,
            "values": {
                "revenue": 1.5,
                "rd_expenditure": None,
                "employees": "12",
                "研发投入(万元)": None,
                "land_area": None,
                "electricity_consumption": None,
            },
            "units": units,
        },
    ]


def test_qy1_above_scale_other_text_kept(catalog: Catalog) -> None:
    data: Rows = [
        [USCC_A, "甲", "C30", " 否 ", 1, 2, 3],
        [USCC_B, "乙", "C30", "Y", 1, 2, 3],
        ["91140100MA0GRZZZ3Z", "丙", "C30", True, 1, 2, 3],
    ]
    records = parse_form(qy1_form(data), "QY1", catalog).records
    assert [r["above_scale"] for r in records] == [False, "Y", True]


def test_qy1_blank_rows_footer_merged_title(catalog: Catalog) -> None:
    data = [[], QY1_DATA[0], [None] * 7, QY1_DATA[1], []]
    footer: Rows = [["单位负责人：张三   统计负责人：李四   填表人：王五   报出日期：2026-11-17"]]
    parsed = parse_form(
        qy1_form(data, footer=footer, blank_before_header=2, merge="A1:G1"), "QY1", catalog
    )
    assert parsed.records == QY1_RECORDS
    assert parsed.reported_on == "2026-11-17"


def test_qy1_two_columns_for_one_indicator(catalog: Catalog) -> None:
    header = [*QY1_HEADER, "营业收入（元）"]
    with pytest.raises(FormError, match=r"columns E and H both hold 'revenue'"):
        parse_form(qy1_form(QY1_DATA, header=header), "QY1", catalog)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"this is not a spreadsheet", "not an xlsx"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "legacy .xls"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b"PK\x03\x04 truncated zip", "not an xlsx"),
    ],
)
def test_not_an_xlsx(catalog: Catalog, content: bytes, message: str) -> None:
    with pytest.raises(FormError, match=message):
        parse_form(content, "YQ1", catalog)


def test_a_zip_that_is_not_a_workbook(catalog: Catalog) -> None:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(FormError, match="not a readable xlsx workbook"):
        parse_form(out.getvalue(), "YQ1", catalog)


def test_corrupt_sheet_xml(catalog: Catalog) -> None:
    content = rewrite_sheet(
        zone_form("YQ1", "2026年1-10月", YQ1_DATA), lambda xml: xml[: xml.index(b'<row r="7"')]
    )
    with pytest.raises(FormError, match=r"sheet '报表': unreadable after row 6"):
        parse_form(content, "YQ1", catalog)


def test_inflated_size_cap(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_forms, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(FormError, match="over the 1000 limit"):
        parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA), "YQ1", catalog)


def test_no_header_row(catalog: Catalog) -> None:
    content = xlsx([["园区综合月报"], ["表号：YQ1"], ["报告期：2026年1-10月"], ["营业收入", 5]])
    with pytest.raises(FormError, match=r"sheet '报表': no table header row \(代码、计量单位"):
        parse_form(content, "YQ1", catalog)


def test_header_row_missing_a_column(catalog: Catalog) -> None:
    content = zone_form("YQ1", "2026年1-10月", YQ1_DATA, header=["指标名称", "代码", "计量单位"])
    with pytest.raises(FormError, match=r"row 5 has 代码、计量单位 but lacks 1-本期累计"):
        parse_form(content, "YQ1", catalog)


def test_zone_form_read_as_qy1(catalog: Catalog) -> None:
    with pytest.raises(FormError, match="no table header row"):
        parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA), "QY1", catalog)


@pytest.mark.parametrize(
    ("block", "missing"),
    [
        ([["填报单位：太原示范区"], ["报告期：2026年1-10月"]], "no 表号 above"),
        ([["表号：YQ1"], ["填报单位：太原示范区"]], "no 报告期 above"),
        ([["表号："], ["报告期："]], "no 表号 / 报告期 above"),
    ],
)
def test_missing_form_or_period(catalog: Catalog, block: Rows, missing: str) -> None:
    content = zone_form("YQ1", "", YQ1_DATA, header_block=block)
    with pytest.raises(FormError, match=missing):
        parse_form(content, "YQ1", catalog)


def test_two_value_columns(catalog: Catalog) -> None:
    header = ["指标名称", "代码", "计量单位", "1-本期累计", "本期累计"]
    with pytest.raises(FormError, match=r"several 1-本期累计 columns \(D, E\)"):
        parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA, header=header), "YQ1", catalog)


def test_unknown_form(catalog: Catalog) -> None:
    with pytest.raises(FormError, match="unknown form 'YQ9'"):
        parse_form(zone_form("YQ1", "2026年1-10月", YQ1_DATA), "YQ9", catalog)


@pytest.mark.parametrize(
    ("content", "form", "period", "reason"),
    [
        pytest.param(b"<html>502 Bad Gateway</html>", "YQ1", "2026-10", "not an xlsx", id="html"),
        pytest.param(
            zone_form("YQ1", "2026年1-10月", YQ1_DATA),
            "YQ9",
            "2026-10",
            "unknown form 'YQ9'",
            id="unknown-form",
        ),
        pytest.param(
            zone_form("YQ2", "2026年1-10月", YQ1_DATA),
            "YQ1",
            "2026-10",
            "表号 in the file is 'YQ2'",
            id="other-form",
        ),
        pytest.param(
            zone_form("YQ1", "2026年1-9月", YQ1_DATA),
            "YQ1",
            "2026-10",
            "报告期 in the file is '2026年1-9月' (2026-09)",
            id="other-period",
        ),
    ],
)
def test_an_unusable_file_rejects_its_release_naming_it(
    content: bytes, form: str, period: str, reason: str
) -> None:
    """What the source does with a bad form: the release is rejected whole, nothing is written."""
    from zonestats.errors import ReleaseRejected
    from zonestats.models import ReleaseRef
    from zonestats.sources.form_xlsx import pages_of_form

    ref = ReleaseRef(
        "TY01", "zone", period, "M", 1, datetime(2026, 11, 16), origin="form-xlsx", form=form
    )
    written: list[Any] = []

    class Sink:
        def reset(self) -> None:
            written.clear()

        def write(self, page: Any) -> None:
            written.append(page)

    with pytest.raises(ReleaseRejected) as exc:
        pages_of_form(content, ref, Sink())
    assert reason in str(exc.value)
    assert "TY01" in str(exc.value)
    assert written == []


# ---------------------------------------------------------------- 报告期


@pytest.mark.parametrize(
    ("text", "frequency", "period"),
    [
        ("2026年1-10月", "M", "2026-10"),
        ("2026年1-2月", "M", "2026-02"),
        ("2026年1-12月", "M", "2026-12"),
        ("2026年10月", "M", "2026-10"),
        ("2026年2月份", "M", "2026-02"),
        ("2026年1月-10月", "M", "2026-10"),
        ("2026年1—10月", "M", "2026-10"),
        ("2026年1～10月", "M", "2026-10"),
        ("2026年1至10月", "M", "2026-10"),
        ("２０２６年１－１０月", "M", "2026-10"),
        (" 2026 年 1-10 月 ", "M", "2026-10"),
        ("2026年一至十月", "M", "2026-10"),
        ("2026-10", "M", "2026-10"),
        ("2026年1月", "M", None),  # January is reported with February
        ("2026年1-1月", "M", None),
        ("2026年3-10月", "M", None),  # not cumulative from January
        ("2026年1-13月", "M", None),
        ("2026-01", "M", None),
        ("2026年", "M", None),
        ("2026年1-3季度", "M", None),
        ("2026年上半年", "M", None),
        ("2026年1-3季度", "Q", "2026-Q3"),
        ("2026年1-4季度", "Q", "2026-Q4"),
        ("2026年第一季度", "Q", "2026-Q1"),
        ("2026年一季度", "Q", "2026-Q1"),
        ("2026年第1季度", "Q", "2026-Q1"),
        ("2026年第三季度", "Q", "2026-Q3"),
        ("2026年前三季度", "Q", "2026-Q3"),
        ("2026年第一季度至第三季度", "Q", "2026-Q3"),
        ("2026年上半年", "Q", "2026-Q2"),
        ("2026年1-6月", "Q", "2026-Q2"),
        ("2026-Q3", "Q", "2026-Q3"),
        ("2026年1-10月", "Q", None),
        ("2026年10月", "Q", None),
        ("2026年下半年", "Q", None),
        ("2026年1-5季度", "Q", None),
        ("2026年2-3季度", "Q", None),
        ("2026年", "Q", None),
        ("2026年", "A", "2026"),
        ("2026年度", "A", "2026"),
        ("2026年全年", "A", "2026"),
        ("2026年1-12月", "A", "2026"),
        ("2026", "A", "2026"),
        ("2026年1-10月", "A", None),
        ("2026年上半年", "A", None),
        ("2026年第四季度", "A", None),
        ("1800年", "A", None),  # implausible year
        ("", "M", None),
        ("十月", "M", None),
        ("2026年1-10月", "X", None),
    ],
)
def test_report_period(text: str, frequency: str, period: str | None) -> None:
    assert report_period(text, frequency) == period
