"""A small, byte-for-byte reproducible .xlsx writer (Office Open XML SpreadsheetML).

openpyxl stamps every save with the current time (the ``modified`` property and each zip
entry's date), so two saves of the same workbook differ. The forms of zone-api.md are identified
by the sha256 of their bytes, so they are written here instead: inline strings, numbers,
merged ranges, a bold title style, fixed zip entry dates and fixed document properties.
The files open in openpyxl, pandas, Excel and LibreOffice.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

# A cell: text (written as an inline string, so "123" stays text), a number, or None (empty).
Cell = str | int | float | Decimal | None

STYLE_PLAIN = 0
STYLE_TITLE = 1
STYLE_HEADER = 2


@dataclass(frozen=True)
class RawRows:
    """``count`` consecutive rows of a sheet already written as ``<row>`` elements (their row
    numbers included, a blank row simply absent), at most ``width`` cells wide: what
    _sheet_xml would write for them, built in bulk."""

    xml: str
    count: int
    width: int


@dataclass
class Sheet:
    """One worksheet: rows of cells from row 1 (an empty list is a blank row, a RawRows stands
    for rows written already), merged ranges such as "A1:F1", a style per row (STYLE_*) and
    column widths in characters."""

    name: str
    rows: list[list[Cell] | RawRows] = field(default_factory=list)
    merges: list[str] = field(default_factory=list)
    row_styles: dict[int, int] = field(default_factory=dict)  # 1-based row -> style
    widths: list[float] = field(default_factory=list)


def column_letter(n: int) -> str:
    """Return the letters of a 1-based column number (1 -> A, 27 -> AA)."""
    letters = ""
    while n > 0:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

_STYLES = (
    _HEAD + f"<styleSheet {_NS}>"
    '<fonts count="3">'
    '<font><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    '<font><b/><sz val="16"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    '<font><b/><sz val="11"/><name val="宋体"/><family val="3"/><charset val="134"/></font>'
    "</fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment horizontal="center" vertical="center"/></xf>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment horizontal="center"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _number(value: int | float | Decimal) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _cell(ref: str, value: str | int | float | Decimal, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if isinstance(value, str):
        # Without xml:space="preserve" Excel drops leading and trailing spaces.
        space = ' xml:space="preserve"' if value != value.strip() else ""
        return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{escape(value)}</t></is></c>'
    assert not isinstance(value, bool)  # a bool would need t="b"; the forms write 是/否
    return f'<c r="{ref}"{s}><v>{_number(value)}</v></c>'


def _sheet_xml(sheet: Sheet) -> str:
    width = max((r.width if isinstance(r, RawRows) else len(r) for r in sheet.rows), default=1)
    last = max(sum(r.count if isinstance(r, RawRows) else 1 for r in sheet.rows), 1)
    parts = [_HEAD, f"<worksheet {_NS} {_NS_R}>"]
    parts.append(f'<dimension ref="A1:{column_letter(max(width, 1))}{last}"/>')
    if sheet.widths:
        parts.append("<cols>")
        for n, w in enumerate(sheet.widths, start=1):
            parts.append(f'<col min="{n}" max="{n}" width="{w}" customWidth="1"/>')
        parts.append("</cols>")
    parts.append("<sheetData>")
    letters = [column_letter(n) for n in range(1, width + 1)]
    r = 0
    for row in sheet.rows:
        if isinstance(row, RawRows):
            parts.append(row.xml)
            r += row.count
            continue
        r += 1
        cells = [
            _cell(f"{letters[c]}{r}", value, sheet.row_styles.get(r, STYLE_PLAIN))
            for c, value in enumerate(row)
            if value is not None
        ]
        if cells:  # a blank row is simply not written, as Excel does
            parts.append(f'<row r="{r}">{"".join(cells)}</row>')
    parts.append("</sheetData>")
    if sheet.merges:
        parts.append(f'<mergeCells count="{len(sheet.merges)}">')
        parts += [f'<mergeCell ref="{ref}"/>' for ref in sheet.merges]
        parts.append("</mergeCells>")
    parts.append("</worksheet>")
    return "".join(parts)


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_xlsx(
    sheets: Sequence[Sheet],
    *,
    title: str,
    creator: str,
    created: datetime,
    modified: datetime,
    revision: int = 1,
) -> bytes:
    """Return the bytes of a workbook; the same arguments always give the same bytes."""
    names = [s.name for s in sheets]
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_CT_SHEET}"/>'
        for n in range(1, len(sheets) + 1)
    )
    content_types = (
        _HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + overrides
        + '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        '<Override PartName="/docProps/app.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>'
        "</Types>"
    )
    root_rels = (
        _HEAD
        + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
        "</Relationships>"
    )
    core = (
        _HEAD + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
        'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(title)}</dc:title><dc:creator>{escape(creator)}</dc:creator>"
        f"<cp:lastModifiedBy>{escape(creator)}</cp:lastModifiedBy>"
        f"<cp:revision>{revision}</cp:revision>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{_w3c(created)}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{_w3c(modified)}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    app = (
        _HEAD + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties"><Application>Microsoft Excel</Application></Properties>'
    )
    sheet_entries = "".join(
        f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
        for n, name in enumerate(names, start=1)
    )
    workbook = _HEAD + f"<workbook {_NS} {_NS_R}><sheets>{sheet_entries}</sheets></workbook>"
    sheet_rels = "".join(
        f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, len(sheets) + 1)
    )
    workbook_rels = (
        _HEAD
        + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + sheet_rels
        + f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    parts: list[tuple[str, str]] = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", root_rels),
        ("docProps/core.xml", core),
        ("docProps/app.xml", app),
        ("xl/workbook.xml", workbook),
        ("xl/_rels/workbook.xml.rels", workbook_rels),
        ("xl/styles.xml", _STYLES),
    ]
    parts += [(f"xl/worksheets/sheet{n}.xml", _sheet_xml(s)) for n, s in enumerate(sheets, 1)]
    stamp = modified.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts:
            # A fixed entry date and mode: zipfile would otherwise stamp the current time.
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
