"""Read the zones' report forms (报表 YQ1/YQ2/YQ3/QY1 of zone-api.md) from .xlsx bytes.

Pure functions, no network: the ``form-xlsx`` adapter and manual submission both hand the bytes
here and get back records in the same shapes as the JSON API's, so normalization and validation
do not care how a release arrived. Nothing is judged here beyond "can this be read as the form":
unknown indicators, odd units, text numbers and bad flags are passed on for validation to flag.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from io import BytesIO
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from zonestats.catalog import Catalog
from zonestats.periods import PeriodError, parse_period

__all__ = ["FORMS", "FormError", "ParsedForm", "parse_form", "report_period"]

FORMS: dict[str, tuple[str, str]] = {
    "YQ1": ("zone", "M"),
    "YQ2": ("zone", "Q"),
    "YQ3": ("zone", "A"),
    "QY1": ("enterprise", "M"),
}

# A form is a few MB at most (50,000 enterprises ≈ 30 MB of sheet XML); the cap only stops a
# zip bomb before openpyxl inflates it. zipfile never inflates a member past its declared size.
MAX_UNCOMPRESSED_BYTES = 512 * 1024 * 1024

Row = tuple[Any, ...]


class FormError(ValueError):
    """The file cannot be read as the form asked for; the message says what and where."""


@dataclass(frozen=True)
class ParsedForm:
    """One report form as read: its header block and its rows as API-shaped records."""

    form: str
    report_period_text: str
    period: str | None
    reporting_unit: str | None
    reported_on: str | None
    dataset: str
    frequency: str
    records: list[dict[str, Any]]


# --------------------------------------------------------------------------- text helpers

_SPACE = re.compile(r"\s+")


def _squash(text: str) -> str:
    """Header text compared without spaces/newlines and with full-width forms folded (（→(, ：→:)."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """A cell as trimmed text, for labels and identifiers (never for values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


def _ident(value: Any) -> str | None:
    """An identifier cell (code, unit, credit code, name): trimmed text, None when blank."""
    return _text(value) or None


def _value(value: Any) -> Any:
    """A value cell as received: numbers stay numbers, text stays text (even " 12 "), blank is None.

    Dates and durations become text so that records stay JSON (the raw record is kept as JSON
    downstream) and validation flags them as unparsable rather than crashing on them.
    """
    if value is None or isinstance(value, str | int | float):  # bool is an int: kept, flagged later
        return value
    if isinstance(value, datetime | date | time):
        return _text(value)
    return str(value)


# --------------------------------------------------------------------------- labels

# Every label that may start a "label：value" pair in the header block or the footer. The ones
# we do not keep (制定机关, 批准文号, …) are listed so that they end the value before them when a
# vendor puts several pairs in one cell ("表号：YQ1  制定机关：省统计局").
_HEADER_LABELS = ("表号", "填报单位", "报告期")
_FOOTER_LABELS = ("单位负责人", "统计负责人", "填表人", "填报人", "审核人", "报出日期")
_OTHER_LABELS = ("制定机关", "批准机关", "批准文号", "有效期至", "联系电话", "综合机关名称")
_ALL_LABELS = _HEADER_LABELS + _FOOTER_LABELS + _OTHER_LABELS


def _label_pattern(label: str) -> str:
    # "表  号" and "报 告 期" are common: forms pad labels to line them up.
    return r"\s*".join(map(re.escape, label))


_LABEL_RE = re.compile(
    "(?P<label>" + "|".join(_label_pattern(lb) for lb in _ALL_LABELS) + r")\s*(?:[:：]|\Z)"
)
# The table ends at the footer, or at a note under it ("注：…", "说明：…"). A footer label must
# stand alone (colon, space or end) so that an indicator named 填报人数 is not taken for one.
_END_RE = re.compile(
    r"\s*(?:(?:"
    + "|".join(_label_pattern(lb) for lb in _FOOTER_LABELS)
    + r")(?:\s*[:：]|\s|\Z)|(?:注|说\s*明|备\s*注)\s*[:：])"
)


def _row_labels(row: Row) -> dict[str, str]:
    """The "label：value" pairs of one row; a value missing after the colon is the next cell's."""
    found: dict[str, str] = {}
    for i, cell in enumerate(row):
        if not isinstance(cell, str):
            continue
        matches = list(_LABEL_RE.finditer(cell))
        for k, m in enumerate(matches):
            label = _SPACE.sub("", m["label"])
            end = matches[k + 1].start() if k + 1 < len(matches) else len(cell)
            value = cell[m.end() : end].strip()
            if not value and k + 1 == len(matches):
                value = _next_value(row, i)
            found.setdefault(label, value)
    return found


def _next_value(row: Row, i: int) -> str:
    for cell in row[i + 1 :]:
        if _blank(cell):
            continue
        if isinstance(cell, str) and _LABEL_RE.match(cell.lstrip()):
            return ""  # the next pair starts: this label has no value
        return _text(cell)
    return ""


# --------------------------------------------------------------------------- table headers

_ZONE_CODE = {"代码", "指标代码"}
_ZONE_UNIT = {"计量单位", "单位"}
# The value column is "1-本期累计" (sometimes 本期累计, 1-本月累计, 本年累计); 上年同期 and
# 同比增长(%) are informative and must not be mistaken for it.
_ZONE_VALUE_RE = re.compile(r"^(?:1[-—–~至]*)?本(?:期|月|季|年)(?:累计)?(?:数|值)?$")

_QY_USCC = {"统一社会信用代码", "社会信用代码", "信用代码"}
_QY_NAME = {"企业名称", "单位名称", "名称"}
_QY_INDUSTRY = {"行业代码", "国民经济行业代码", "行业分类代码"}
_QY_SCALE = {"是否规上", "是否规上企业", "是否规模以上", "是否规模以上企业"}
# Not indicators: a row number and a remark column would otherwise flag every enterprise.
_QY_IGNORED = {"序号", "备注"}
_TITLE_RE = re.compile(r"^(?P<name>.*?)\s*[(（](?P<unit>[^()（）]*)[)）]\s*$", re.DOTALL)

# Titles the error message names when no header row is found.
_ZONE_REQUIRED: dict[str, set[str] | None] = {
    "代码": _ZONE_CODE,
    "计量单位": _ZONE_UNIT,
    "1-本期累计": None,
}
_QY_REQUIRED: dict[str, set[str] | None] = {
    "统一社会信用代码": _QY_USCC,
    "企业名称": _QY_NAME,
    "行业代码": _QY_INDUSTRY,
    "是否规上": _QY_SCALE,
}


def _title_matches(title: str, names: set[str] | None) -> bool:
    return bool(_ZONE_VALUE_RE.match(title)) if names is None else title in names


def _header_columns(row: Row, required: dict[str, set[str] | None]) -> dict[str, list[int]]:
    """Which required titles the row holds, and in which columns."""
    found: dict[str, list[int]] = {}
    for i, cell in enumerate(row):
        if not isinstance(cell, str):
            continue
        title = _squash(cell)
        for key, names in required.items():
            if _title_matches(title, names):
                found.setdefault(key, []).append(i)
    return found


def _single(found: dict[str, list[int]], key: str, where: str) -> int:
    cols = found[key]
    if len(cols) > 1:
        letters = ", ".join(get_column_letter(c + 1) for c in cols)
        raise FormError(f"{where}: the header has several {key} columns ({letters})")
    return cols[0]


# --------------------------------------------------------------------------- reading the sheet


def _check_archive(content: bytes) -> None:
    if not content:
        raise FormError("the file is empty")
    if content.startswith(b"\xd0\xcf\x11\xe0"):
        raise FormError("not an xlsx file: this is a legacy .xls (OLE2) workbook")
    if content[:512].lstrip()[:1] == b"<":
        raise FormError("not an xlsx file: the content is HTML/XML text (an error page?)")
    try:
        with zipfile.ZipFile(BytesIO(content)) as archive:
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FormError(f"not an xlsx file: {exc}") from None
    if inflated > MAX_UNCOMPRESSED_BYTES:
        raise FormError(
            f"the workbook inflates to {inflated} bytes, over the {MAX_UNCOMPRESSED_BYTES} limit"
        )


@contextmanager
def _first_sheet(content: bytes) -> Iterator[tuple[str, Iterator[tuple[int, Row]]]]:
    """The first worksheet's title and its rows as (1-based row number, values), streamed.

    read_only mode streams the sheet XML (a 50,000-row QY1 stays at a few MB instead of
    hundreds); it does not expand merged cells, which is fine: a merged cell's value sits in its
    top-left cell and the others read as blank, and the title is the only thing forms merge.
    """
    _check_archive(content)
    try:
        wb = load_workbook(BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises anything from KeyError to XML errors on bad files
        raise FormError(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from None
    try:
        if not wb.worksheets:
            raise FormError("the workbook has no worksheet")
        ws = wb.worksheets[0]
        # Some writers declare a wrong <dimension> (often "A1"), which read_only mode would
        # trust and cut rows short; without it every row is read to its last cell.
        ws.reset_dimensions()
        title = str(ws.title)

        def rows() -> Iterator[tuple[int, Row]]:
            n = 0
            try:
                for n, row in enumerate(ws.iter_rows(min_row=1, min_col=1, values_only=True), 1):
                    yield n, tuple(row)
            except Exception as exc:  # a corrupt sheet part surfaces only while streaming
                raise FormError(
                    f"sheet {title!r}: unreadable after row {n}: {type(exc).__name__}: {exc}"
                ) from None

        yield title, rows()
    finally:
        wb.close()


def _cell(row: Row, i: int) -> Any:
    return row[i] if i < len(row) else None


def _is_blank_row(row: Row) -> bool:
    return all(_blank(v) for v in row)


def _first_text(row: Row) -> str | None:
    for v in row:
        if not _blank(v):
            return v if isinstance(v, str) else None
    return None


def _is_table_end(row: Row) -> bool:
    text = _first_text(row)
    return text is not None and _END_RE.match(text) is not None


_COLUMN_NUMBERS = set("甲乙丙丁戊己")


def _is_column_number_row(row: Row) -> bool:
    """The 栏次 row some forms put under the header: 甲 | 乙 | 丙 | 1 | 2 | 3."""
    cells = [_text(v) for v in row if not _blank(v)]
    return any(c in _COLUMN_NUMBERS for c in cells) and all(
        c in _COLUMN_NUMBERS or c.isdigit() for c in cells
    )


# --------------------------------------------------------------------------- the two layouts


@dataclass
class _Header:
    labels: dict[str, str]
    row_no: int
    row: Row


def _read_header(
    rows: Iterator[tuple[int, Row]], required: dict[str, set[str] | None], sheet: str
) -> _Header:
    """Collect the header block's labels until the table header row, which must exist."""
    labels: dict[str, str] = {}
    best: tuple[int, int, dict[str, list[int]]] | None = None  # closest miss, for the message
    for n, row in rows:
        if _is_blank_row(row):
            continue
        found = _header_columns(row, required)
        if len(found) == len(required):
            return _Header(labels=labels, row_no=n, row=row)
        if len(found) >= 2 and (best is None or len(found) > best[1]):
            best = (n, len(found), found)
        for label, value in _row_labels(row).items():
            labels.setdefault(label, value)
    wanted = "、".join(required)
    if best is None:
        raise FormError(f"sheet {sheet!r}: no table header row ({wanted}) found")
    missing = "、".join(k for k in required if k not in best[2])
    raise FormError(
        f"sheet {sheet!r}: no table header row: row {best[0]} has "
        f"{'、'.join(best[2])} but lacks {missing}"
    )


def _trimmed(row: Row) -> Row:
    end = len(row)
    while end and _blank(row[end - 1]):
        end -= 1
    return row[:end]


def _table_rows(
    header: _Header, rows: Iterator[tuple[int, Row]], footer: dict[str, str]
) -> Iterator[Row]:
    """The table's data rows up to the footer (whose labels go to ``footer``).

    Skipped: blank rows, a 栏次 row right under the header, and the header row repeated (forms
    laid out for printing repeat it on every page).
    """
    first = True
    header_row = _trimmed(header.row)
    for _, row in rows:
        if _is_blank_row(row) or _trimmed(row) == header_row:
            continue
        if _is_table_end(row):
            for label, value in _row_labels(row).items():
                footer.setdefault(label, value)
            return
        if first:
            first = False
            if _is_column_number_row(row):
                continue
        yield row


def _zone_records(
    header: _Header, rows: Iterator[tuple[int, Row]], sheet: str, footer: dict[str, str]
) -> Iterator[dict[str, Any]]:
    where = f"sheet {sheet!r} row {header.row_no}"
    found = _header_columns(header.row, _ZONE_REQUIRED)
    code_col = _single(found, "代码", where)
    unit_col = _single(found, "计量单位", where)
    value_col = _single(found, "1-本期累计", where)
    for row in _table_rows(header, rows, footer):
        code, unit, value = _cell(row, code_col), _cell(row, unit_col), _cell(row, value_col)
        if _blank(code) and _blank(unit) and _blank(value):
            continue  # a heading or note row (一、经济指标): nothing to report in it
        yield {"indicator": _ident(code), "value": _value(value), "unit": _ident(unit)}


def _indicator_columns(
    header: _Header, fixed: set[int], catalog: Catalog, where: str
) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """Map QY1's indicator columns to codes (unknown titles kept raw) and their non-canonical units."""
    by_name: dict[str, tuple[str, str]] = {}
    for ind in catalog.for_dataset("enterprise"):
        by_name[_squash(ind.name_zh)] = (ind.code, ind.unit)
        by_name.setdefault(ind.code, (ind.code, ind.unit))
    columns: list[tuple[int, str]] = []
    units: dict[str, str] = {}
    seen: dict[str, int] = {}
    for i, cell in enumerate(header.row):
        if i in fixed or _blank(cell):
            continue
        raw = _text(cell)
        m = _TITLE_RE.match(raw)
        name, unit = (m["name"], m["unit"].strip()) if m else (raw, "")
        if _squash(name) in _QY_IGNORED:
            continue
        known = by_name.get(_squash(name))
        key = known[0] if known else raw
        if key in seen:
            raise FormError(
                f"{where}: columns {get_column_letter(seen[key] + 1)} and "
                f"{get_column_letter(i + 1)} both hold {key!r}"
            )
        seen[key] = i
        columns.append((i, key))
        if known and unit and unit != known[1]:
            units[key] = unit
    return columns, units


def _above_scale(value: Any) -> Any:
    if _blank(value):
        return None
    text = _text(value)
    if text == "是":
        return True
    if text == "否":
        return False
    return _value(value)  # anything else goes on as written for validation to flag


def _enterprise_records(
    header: _Header,
    rows: Iterator[tuple[int, Row]],
    catalog: Catalog,
    sheet: str,
    footer: dict[str, str],
) -> Iterator[dict[str, Any]]:
    where = f"sheet {sheet!r} row {header.row_no}"
    found = _header_columns(header.row, _QY_REQUIRED)
    uscc_col = _single(found, "统一社会信用代码", where)
    name_col = _single(found, "企业名称", where)
    industry_col = _single(found, "行业代码", where)
    scale_col = _single(found, "是否规上", where)
    fixed = {uscc_col, name_col, industry_col, scale_col}
    columns, units = _indicator_columns(header, fixed, catalog, where)
    for row in _table_rows(header, rows, footer):
        yield {
            "uscc": _ident(_cell(row, uscc_col)),
            "name": _ident(_cell(row, name_col)),
            "industry_code": _ident(_cell(row, industry_col)),
            "above_scale": _above_scale(_cell(row, scale_col)),
            "values": {key: _value(_cell(row, i)) for i, key in columns},
            "units": dict(units),
        }


def parse_form(content: bytes, form: str, catalog: Catalog) -> ParsedForm:
    """Read a YQ1/YQ2/YQ3/QY1 .xlsx into its header block and API-shaped records."""
    if form not in FORMS:
        raise FormError(f"unknown form {form!r} (expected one of {', '.join(FORMS)})")
    dataset, frequency = FORMS[form]
    required = _ZONE_REQUIRED if dataset == "zone" else _QY_REQUIRED
    with _first_sheet(content) as (sheet, rows):
        header = _read_header(rows, required, sheet)
        form_found = header.labels.get("表号", "")
        period_text = header.labels.get("报告期", "")
        missing = [name for name, v in (("表号", form_found), ("报告期", period_text)) if not v]
        if missing:
            raise FormError(
                f"sheet {sheet!r}: no {' / '.join(missing)} above the table header "
                f"(row {header.row_no})"
            )
        footer: dict[str, str] = {}
        if dataset == "zone":
            records = list(_zone_records(header, rows, sheet, footer))
        else:
            records = list(_enterprise_records(header, rows, catalog, sheet, footer))
        # The footer may run over several rows; 报出日期 is wherever in it.
        for _, row in rows:
            for label, value in _row_labels(row).items():
                footer.setdefault(label, value)
    return ParsedForm(
        form=form_found,
        report_period_text=period_text,
        period=report_period(period_text, frequency),
        reporting_unit=header.labels.get("填报单位") or None,
        reported_on=footer.get("报出日期") or None,
        dataset=dataset,
        frequency=frequency,
        records=records,
    )


# --------------------------------------------------------------------------- 报告期


_CN_NUMBERS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
    "十一": 11,
    "十二": 12,
}
_N = r"(\d{1,2}|[一二两三四五六七八九十]{1,3})"
_PERIOD_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("year", re.compile(r"(?:度|全年|年度)?")),
    ("months", re.compile(rf"(?:0?1|一)月?-{_N}月份?")),
    ("month", re.compile(rf"{_N}月份?")),
    ("quarters", re.compile(rf"第?[1一](?:季度?)?-第?{_N}季度?")),
    ("quarters", re.compile(rf"前{_N}个?季度?")),
    ("half", re.compile(r"上半年")),
    ("quarter", re.compile(rf"第?{_N}季度?")),
]


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else _CN_NUMBERS.get(text)


def report_period(text: str, frequency: str) -> str | None:
    """The period string (``2026-10``, ``2026-Q3``, ``2026``) a 报告期 text means for a frequency.

    Cumulative forms: "2026年1-10月" and "2026年10月" are both 2026-10; January alone is None
    (it is reported with February); quarterly accepts 1-3季度, (第)三季度, 前三季度, 上半年 and
    1-9月; annual accepts 2026年, 2026年度, 2026年全年 and 2026年1-12月. None when it does not fit.
    """
    if not isinstance(text, str):
        return None
    t = _SPACE.sub("", unicodedata.normalize("NFKC", text))
    t = re.sub(r"[-—–~〜至到]+", "-", t)
    try:
        if frequency in ("M", "Q", "A") and parse_period(t, frequency):
            return t  # already a period string
    except PeriodError:
        pass
    m = re.fullmatch(r"(\d{4})年(.*)", t)
    if m is None:
        return None
    year, rest = m[1], m[2]
    shape, n = None, 0
    for name, pattern in _PERIOD_SHAPES:
        hit = pattern.fullmatch(rest)
        if hit:
            number = _number(hit[1]) if hit.groups() else 0
            if number is None:
                return None
            shape, n = name, number
            break
    candidate: str | None = None
    if frequency == "M" and shape in ("months", "month") and 2 <= n <= 12:
        candidate = f"{year}-{n:02d}"
    elif frequency == "Q":
        if shape in ("quarters", "quarter") and 1 <= n <= 4:
            candidate = f"{year}-Q{n}"
        elif shape == "half":
            candidate = f"{year}-Q2"
        elif shape == "months" and n in (3, 6, 9, 12):
            candidate = f"{year}-Q{n // 3}"
    elif frequency == "A" and (shape == "year" or (shape == "months" and n == 12)):
        candidate = year
    if candidate is None:
        return None
    try:
        parse_period(candidate, frequency)  # the year must be plausible too
    except PeriodError:
        return None
    return candidate
