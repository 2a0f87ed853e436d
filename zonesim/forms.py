"""form-xlsx of zone-api.md: the report forms (报表) of a zone as .xlsx files.

``GET {base}/forms/{form}/index.json`` lists the periods published, each with the sha256 of the
exact bytes ``GET {base}/forms/{form}/{period}.xlsx`` serves. Forms exist for the zones whose
adapter in zones.csv is ``form-xlsx``. A form shows the latest revision of its release: a
revision is a new file (new sha256, later ``updated_at``, the workbook's core property
``revision`` and 报出日期 change too). Bytes are a pure function of (seed, zone, form, period,
revision and its publication time, faults), so two generations are identical.

Layout (first worksheet): row 1 the title merged across the table width; then 表号, 填报单位,
报告期 rows; the header row; one row per indicator (QY1: per enterprise); a footer row
单位负责人 / 统计负责人 / 填表人 / 报出日期.

Quirks, spread over the files by ``quirks()``: with k = the month (M), quarter (Q) or year (A)
of the period, z = the zone's place among the form-xlsx zones (YQ01 0, SZ01 1, XZ01 2) and
f = the form's place (YQ1 0, YQ2 1, YQ3 2, QY1 3), and n = k + z + f:

=================== ============ ==================================================================
quirk               when         what
=================== ============ ==================================================================
(merged title)      always       the title cell is merged across the table width
``spacer_rows``     n % 2 == 0   2 blank rows before the header row, 1 inside the table (after the
                                 3rd data row), 1 before the footer
``extra_sheet``     n % 2 == 1   a second sheet 填报说明 after the form
``numbers_as_text`` n % 3 == 0   every number of the table is a text cell
``trailing_spaces`` n % 3 == 1   codes (代码; QY1: credit and industry codes) end in spaces
``alt_unit``        n % 3 == 2   YQ1, YQ2: the rows in 万元 are in 元 (values × 10,000); QY1: the
                                 column 营业收入(元); YQ3 (no 万元 rows): the areas in 公顷 (÷ 15)
``header_note``     n % 4 == 1   an extra 制定机关/批准文号 row under the title
=================== ============ ==================================================================

``spacer_rows`` and ``header_note`` move the header row: it is on row 5, 6, 7 or 8.
The faults ``form_period_mismatch`` (报告期 of the period before) and ``form_number_mismatch``
(表号 of another form) and ``bad_enterprises`` (the BAD_ENTERPRISES cases a form can carry, in
QY1) change the files of a zone while they are on.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from zonesim import bytecols
from zonesim.data import to_unit
from zonesim.enterprise import EnterpriseColumns
from zonesim.enterprise_population import exponent
from zonesim.enterprise_wire import EnterpriseRow
from zonesim.figures import convert, fmt, scaling
from zonesim.record import Record
from zonesim.rng import stable_rng
from zonesim.routing import Response, ZoneRequest, ZoneRoute, not_found
from zonesim.schedule import to_cst
from zonesim.view import SimulatorView
from zonesim.xlsx import (
    STYLE_HEADER,
    STYLE_TITLE,
    Cell,
    RawRows,
    Sheet,
    column_letter,
    write_xlsx,
)
from zonestats.catalog import Catalog, Indicator
from zonestats.periods import Period, parse_period

if TYPE_CHECKING:
    from zonesim.faults import Faults

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORM_ADAPTER = "form-xlsx"


@dataclass(frozen=True)
class FormSpec:
    """One report form (表号) of zone-api.md."""

    code: str
    title: str
    dataset: str
    frequency: str


FORMS: dict[str, FormSpec] = {
    "YQ1": FormSpec("YQ1", "园区综合月报", "zone", "M"),
    "YQ2": FormSpec("YQ2", "园区综合季报", "zone", "Q"),
    "YQ3": FormSpec("YQ3", "园区综合年报", "zone", "A"),
    "QY1": FormSpec("QY1", "企业月报", "enterprise", "M"),
}
# What 表号 says under the form_number_mismatch fault.
WRONG_NUMBER = {"YQ1": "YQ2", "YQ2": "YQ3", "YQ3": "YQ1", "QY1": "YQ1"}
QUIRKS = (
    "spacer_rows",
    "extra_sheet",
    "numbers_as_text",
    "trailing_spaces",
    "alt_unit",
    "header_note",
)
# Under the alt_unit quirk, the unit a zone form row is written in instead of the catalog's.
_ALT_ROW_UNITS = {"万元": "元", "亩": "公顷"}
ZONE_HEADER = ("指标名称", "代码", "计量单位", "1-本期累计", "上年同期", "同比增长(%)")
ENTERPRISE_HEADER = ("统一社会信用代码", "企业名称", "行业代码", "是否规上")
HEADER_NOTE = "制定机关：山西省统计局　　批准文号：晋统制〔2024〕18号　　有效期至：2027年12月"
INSTRUCTIONS = (
    "填报说明",
    "1. 本表由园区管委会统计机构填报，报送省统计局。",
    "2. 1-本期累计：自当年1月1日起至报告期末的累计数；期末数指标填报告期末数。",
    "3. 金额、能源、面积按各栏计量单位填报，保留两位小数。",
    "4. 月报于月后15日前报送，季报于季后20日前报送，年报于次年4月底前报送。",
)
_YES_NO = bytecols.encoded(("否", "是"))
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马胡郭何高林罗郑梁谢宋唐"
_GIVEN = ("建国", "秀英", "伟", "丽娟", "志强", "海燕", "晓东", "俊杰", "红梅", "永刚", "静", "明")


def form_zones(catalog: Catalog) -> tuple[str, ...]:
    """Return the zones that publish forms (adapter form-xlsx), in registry order."""
    return tuple(z.zone_code for z in catalog.zones.values() if z.adapter == FORM_ADAPTER)


def quirks(zone_place: int, form: str, period: Period) -> frozenset[str]:
    """Return the quirks of one file (see the module's table)."""
    k = {"M": period.end_month, "Q": period.end_month // 3, "A": period.year}[period.frequency]
    n = k + zone_place + list(FORMS).index(form)
    out = {"spacer_rows" if n % 2 == 0 else "extra_sheet"}
    out.add(("numbers_as_text", "trailing_spaces", "alt_unit")[n % 3])
    if n % 4 == 1:
        out.add("header_note")
    return frozenset(out)


def period_label(period: Period) -> str:
    """Return 报告期 as the forms write it: 2026年1-10月, 2026年1-3季度, 2026年."""
    if period.frequency == "M":
        return f"{period.year}年1-{period.end_month}月"
    if period.frequency == "Q":
        quarter = period.end_month // 3
        return f"{period.year}年1季度" if quarter == 1 else f"{period.year}年1-{quarter}季度"
    return f"{period.year}年"


def previous_period(period: Period) -> Period:
    """Return the period before one of the same frequency (2026-02 -> 2025-12)."""
    if period.frequency == "A":
        return parse_period(str(period.year - 1), "A")
    if period.frequency == "Q":
        quarter = period.end_month // 3
        text = f"{period.year - 1}-Q4" if quarter == 1 else f"{period.year}-Q{quarter - 1}"
        return parse_period(text, "Q")
    if period.end_month == 2:
        return parse_period(f"{period.year - 1}-12", "M")
    return parse_period(f"{period.year}-{period.end_month - 1:02d}", "M")


@dataclass(frozen=True)
class FormDocument:
    """One form file: its sheets, what it says and the records it carries."""

    zone: str
    form: str
    period: str
    revision: int
    published_at: datetime
    created_at: datetime
    quirks: frozenset[str]
    shown_number: str  # what 表号 says
    shown_period: str  # what 报告期 says
    header_row: int  # 1-based row of the table header on the first sheet
    sheets: tuple[Sheet, ...]
    records: tuple[Record, ...]

    def to_bytes(self, zone_name: str) -> bytes:
        """Write the workbook (deterministic bytes)."""
        spec = FORMS[self.form]
        return write_xlsx(
            self.sheets,
            title=f"{spec.title} {self.period}",
            creator=zone_name,
            created=self.created_at,
            modified=self.published_at,
            revision=self.revision,
        )


def _plain(value: Decimal) -> str:
    # No exponent and no trailing zeros: "1234.5", "100".
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _people(seed: int, zone_code: str) -> tuple[str, str, str]:
    r = stable_rng(seed, zone_code, "form-people")
    boss, statistician, clerk = (r.choice(_SURNAMES) + r.choice(_GIVEN) for _ in range(3))
    return boss, statistician, clerk


def _growth(current: Decimal, before: Decimal | None) -> Decimal | None:
    if before is None or before <= 0:
        return None
    rate = (current / before - 1) * 100
    return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class _Builder:
    """Lays out one form: header block, table, footer, with this file's quirks."""

    def __init__(
        self, sim: SimulatorView, zone_code: str, spec: FormSpec, period: Period, faults: Faults
    ) -> None:
        self.sim, self.zone_code, self.spec, self.period = sim, zone_code, spec, period
        place = sim.form_zones.index(zone_code)
        self.quirks = quirks(place, spec.code, period)
        self.number = WRONG_NUMBER[spec.code] if faults.form_number_mismatch else spec.code
        shown = previous_period(period) if faults.form_period_mismatch else period
        self.label = period_label(shown)
        self.rows: list[list[Cell] | RawRows] = []
        self.styles: dict[int, int] = {}
        self.header_row = 0
        self.width = len(ZONE_HEADER)

    def number_cell(self, value: Decimal | None) -> Cell:
        if value is None:
            return None
        return _plain(value) if "numbers_as_text" in self.quirks else value

    def code_cell(self, code: str, pad: str) -> str:
        return code + pad if "trailing_spaces" in self.quirks else code

    def head(self, width: int) -> None:
        zone = self.sim.catalog.zones[self.zone_code]
        self.rows.append([self.spec.title])
        self.styles[1] = STYLE_TITLE
        if "header_note" in self.quirks:
            self.rows.append([HEADER_NOTE])
        self.rows.append([f"表号：{self.number}"])
        self.rows.append([f"填报单位：{zone.name_zh}"])
        self.rows.append([f"报告期：{self.label}"])
        if "spacer_rows" in self.quirks:
            self.rows += [[], []]
        self.width = width

    def header(self, cells: list[Cell]) -> None:
        self.rows.append(cells)
        self.header_row = len(self.rows)
        self.styles[self.header_row] = STYLE_HEADER

    def data(self, rows: list[list[Cell]]) -> None:
        for n, row in enumerate(rows):
            self.rows.append(row)
            if n == 2 and len(rows) > 3 and "spacer_rows" in self.quirks:
                self.rows.append([])

    def foot(self, published_at: datetime) -> None:
        if "spacer_rows" in self.quirks:
            self.rows.append([])
        boss, statistician, clerk = _people(self.sim.seed, self.zone_code)
        footer: list[Cell] = [None] * max(self.width, 6)
        footer[0] = f"单位负责人：{boss}"
        footer[2] = f"统计负责人：{statistician}"
        footer[4] = f"填表人：{clerk}"
        footer[self.width - 1] = f"报出日期：{to_cst(published_at).date().isoformat()}"
        self.rows.append(footer)

    def sheets(self, widths: list[float]) -> tuple[Sheet, ...]:
        first = Sheet(
            name=self.spec.code,
            rows=self.rows,
            merges=[f"A1:{column_letter(self.width)}1"],
            row_styles=self.styles,
            widths=widths,
        )
        if "extra_sheet" not in self.quirks:
            return (first,)
        notes = Sheet(name="填报说明", rows=[[line] for line in INSTRUCTIONS], widths=[90])
        return (first, notes)


def _zone_rows(
    b: _Builder, inds: list[Indicator], values: dict[str, Any], before: dict[str, Decimal]
) -> tuple[list[list[Cell]], list[Record]]:
    rows: list[list[Cell]] = []
    records: list[Record] = []
    for ind in inds:
        unit = _ALT_ROW_UNITS.get(ind.unit, ind.unit) if "alt_unit" in b.quirks else ind.unit
        factor = ind.unit_factors[unit]
        value: Decimal | None = values.get(ind.code)
        shown = None if value is None else to_unit(value, factor)
        prev = before.get(ind.code) if value is not None else None
        prev_shown = None if prev is None else to_unit(prev, factor)
        growth = None
        if value is not None and ind.basis != "ytd_rate":
            growth = _growth(value, prev)
        rows.append(
            [
                ind.name_zh,
                b.code_cell(ind.code, "  "),
                unit,
                b.number_cell(shown),
                b.number_cell(prev_shown),
                b.number_cell(growth),
            ]
        )
        records.append(
            {"indicator": ind.code, "value": None if shown is None else _plain(shown), "unit": unit}
        )
    return rows, records


def _enterprise_rows(
    b: _Builder, inds: list[Indicator], rows_in: list[EnterpriseRow]
) -> tuple[list[list[Cell]], list[Record]]:
    # Under alt_unit the revenue column is in 元: the records say so in ``units``.
    overrides = {"revenue": "元"} if "alt_unit" in b.quirks else {}
    factors = {i.code: i.unit_factors[overrides.get(i.code, i.unit)] for i in inds}
    rows: list[list[Cell]] = []
    records: list[Record] = []
    for row in rows_in:
        cells: list[Cell] = [
            b.code_cell(row.uscc, "  "),
            row.name,
            b.code_cell(row.industry_code, " "),
            "是" if row.above_scale else "否",
        ]
        values: dict[str, str] = {}
        for ind in inds:
            text: str | None = None
            if ind.code in row.forced:
                text = _plain(to_unit(Decimal(row.forced[ind.code]), factors[ind.code]))
            elif ind.code in row.values:
                text = fmt(*convert(row.values[ind.code], factors[ind.code]))
            if text is None:
                cells.append(None)
                continue
            values[ind.code] = text
            cells.append(text if "numbers_as_text" in b.quirks else Decimal(text))
        rows.append(cells)
        record: Record = {
            "uscc": row.uscc,
            "name": row.name,
            "industry_code": row.industry_code,
            "above_scale": row.above_scale,
            "values": values,
        }
        used = {c: u for c, u in overrides.items() if c in values}
        if used:
            record["units"] = used
        records.append(record)
    return rows, records


def _enterprise_xml(
    b: _Builder, inds: list[Indicator], columns: EnterpriseColumns, first_row: int
) -> RawRows:
    """The QY1 table rows as _sheet_xml writes _enterprise_rows()' cells, built in bulk."""
    n = columns.count
    position = np.arange(n, dtype=np.int64)
    spacer = n > 3 and "spacer_rows" in b.quirks  # the blank row data() puts after the third
    row = first_row + position + (spacer & (position >= 3))
    trailing = "trailing_spaces" in b.quirks
    as_text = "numbers_as_text" in b.quirks
    overrides = {"revenue": "元"} if "alt_unit" in b.quirks else {}
    rows = bytecols.Rows(n)
    # every cell names its row: the row numbers are written once, and masked per cell
    numbers = bytecols.decimal(row)

    def open_cell(column: int, inline: bool, where: Any = None, space: bool = False) -> None:
        rows.text(f'<c r="{column_letter(column)}', where=where)
        rows.raw(numbers if where is None else numbers * where[:, None])
        preserve = ' xml:space="preserve"' if space else ""
        rows.text(f'" t="inlineStr"><is><t{preserve}>' if inline else '"><v>', where=where)

    rows.text('<row r="')
    rows.raw(numbers)
    rows.text('">')
    open_cell(1, True, space=trailing)
    rows.raw(columns.uscc)
    rows.text(("  " if trailing else "") + "</t></is></c>")
    open_cell(2, True)
    columns.name(rows)
    rows.text("</t></is></c>")
    open_cell(3, True, space=trailing)
    columns.industry_code(rows)
    rows.text((" " if trailing else "") + "</t></is></c>")
    open_cell(4, True)
    rows.choice(_YES_NO, columns.above.astype(np.int64))
    rows.text("</t></is></c>")
    for k, ind in enumerate(inds):
        present = columns.present.get(ind.code)
        multiplier, divisor, shift = scaling(ind.unit_factors[overrides.get(ind.code, ind.unit)])
        scaled = columns.mantissa[ind.code] * multiplier
        if (scaled % divisor != 0).any() or (scaled < 0).any():
            raise _NotInBulk(ind.code)
        places = np.full(n, shift - exponent(ind.code), dtype=np.int64)
        value = scaled // divisor
        open_cell(5 + k, as_text, where=present)
        rows.digits(value // 10**places, where=present)
        rows.fraction(value % 10**places, places, where=present)
        rows.text("</t></is></c>" if as_text else "</v></c>", where=present)
    rows.text("</row>")
    xml = b"".join(rows.join()).decode("utf-8")
    return RawRows(xml, n + spacer, len(ENTERPRISE_HEADER) + len(inds))


class _NotInBulk(Exception):
    """A value the bulk writer cannot write as fmt() does (the row-by-row layout does)."""


def _layout(
    sim: SimulatorView,
    zone_code: str,
    form: str,
    period: Period,
    revision: int,
    published_at: datetime,
    faults: Faults,
    bulk: bool,
) -> tuple[_Builder, list[float], list[Record]]:
    """Lay out a form: the builder with its rows, the column widths and the records carried
    (none when ``bulk`` writes the QY1 table as RawRows, which only a form without bad
    enterprises allows)."""
    spec = FORMS[form]
    b = _Builder(sim, zone_code, spec, period, faults)
    inds = [i for i in sim.catalog.for_dataset(spec.dataset) if i.frequency == spec.frequency]
    records: list[Record] = []
    if spec.dataset == "zone":
        b.head(len(ZONE_HEADER))
        b.header(list(ZONE_HEADER))
        values = sim.canonical_values(zone_code, "zone", period.text, revision)
        before = sim.year_before(zone_code, period)
        rows, records = _zone_rows(b, inds, values, before)
        b.data(rows)
        widths = [30.0, 26.0, 12.0, 16.0, 16.0, 14.0]
    else:
        width = len(ENTERPRISE_HEADER) + len(inds)
        b.head(width)
        units = {i.code: i.unit for i in inds}
        if "alt_unit" in b.quirks:
            units["revenue"] = "元"
        b.header([*ENTERPRISE_HEADER, *(f"{i.name_zh}({units[i.code]})" for i in inds)])
        raw = None
        if bulk:
            columns = sim.form_enterprise_release(zone_code, period, revision).columns()
            with contextlib.suppress(_NotInBulk):
                raw = _enterprise_xml(b, inds, columns, len(b.rows) + 1)
        if raw is not None:
            b.rows.append(raw)
        else:
            release = sim.form_enterprise_rows(zone_code, period, revision)
            rows, records = _enterprise_rows(b, inds, release)
            b.data(rows)
        widths = [22.0, 34.0, 10.0, 9.0] + [16.0] * len(inds)
    b.foot(published_at)
    return b, widths, records


def build(
    sim: SimulatorView,
    zone_code: str,
    form: str,
    period: Period,
    revision: int,
    published_at: datetime,
    created_at: datetime,
    faults: Faults,
) -> FormDocument:
    """Lay out one form file of a release at a revision."""
    b, widths, records = _layout(
        sim, zone_code, form, period, revision, published_at, faults, bulk=False
    )
    return FormDocument(
        zone=zone_code,
        form=form,
        period=period.text,
        revision=revision,
        published_at=published_at,
        created_at=created_at,
        quirks=b.quirks,
        shown_number=b.number,
        shown_period=b.label,
        header_row=b.header_row,
        sheets=b.sheets(widths),
        records=tuple(records),
    )


def file_bytes(
    sim: SimulatorView,
    zone_code: str,
    form: str,
    period: Period,
    revision: int,
    published_at: datetime,
    created_at: datetime,
    faults: Faults,
) -> bytes:
    """Return the bytes of one form file: build(...).to_bytes(), with a QY1 table (without bad
    enterprises) written in bulk."""
    bulk = FORMS[form].dataset == "enterprise" and not faults.bad_enterprises
    if not bulk:
        document = build(sim, zone_code, form, period, revision, published_at, created_at, faults)
        return document.to_bytes(sim.catalog.zones[zone_code].name_zh)
    b, widths, _ = _layout(sim, zone_code, form, period, revision, published_at, faults, bulk)
    return write_xlsx(
        b.sheets(widths),
        title=f"{FORMS[form].title} {period.text}",
        creator=sim.catalog.zones[zone_code].name_zh,
        created=created_at,
        modified=published_at,
        revision=revision,
    )


# ---- HTTP ----------------------------------------------------------------------------------------


def index(req: ZoneRequest) -> Response:
    """``GET {base}/forms/{form}/index.json``: the periods published, with sha256 and time."""
    form = req.groups["form"]
    if form not in FORMS or req.zone not in req.sim.form_zones:
        return not_found()
    return Response(200, req.sim.form_index(req.zone, form))


def file(req: ZoneRequest) -> Response:
    """``GET {base}/forms/{form}/{period}.xlsx``: one form file."""
    sim, zone, form = req.sim, req.zone, req.groups["form"]
    if form not in FORMS or zone not in sim.form_zones:
        return not_found()
    try:
        body = sim.form_bytes(zone, form, req.groups["period"])
    except KeyError:
        return not_found()
    return Response(
        200,
        body=body,
        content_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{zone}-{form}-{req.groups["period"]}.xlsx"'
        },
        truncate=sim.fault_book.take_drop(zone),
    )


ROUTES: tuple[ZoneRoute, ...] = (
    ("GET", re.compile(r"api/v1/forms/(?P<form>[^/]+)/index\.json"), index),
    ("GET", re.compile(r"api/v1/forms/(?P<form>[^/]+)/(?P<period>[^/]+)\.xlsx"), file),
)
