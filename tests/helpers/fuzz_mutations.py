"""What the fuzz suite does to the simulator's answers, and the hypothesis strategies that draw it.

A ``Mutation`` names a route (the api-v1 listing, a data page, a form index, a form file), what to
change in the parsed document or the workbook, and what to do to the bytes on the wire. It is
applied by the mutating proxy (helpers.fuzz_proxy) to every matching answer, or to the first
one only (``once``: a fault the client's retry must get past).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from hypothesis import strategies as st
from openpyxl import load_workbook

from helpers.fuzz_proxy import Exchange

# where an absolute path in a payload points: the suite checks that nothing ever appears there
CANARY_NAME = "zonestats-fuzz-canary"

# --------------------------------------------------------------------------- the mutations


@dataclass(frozen=True)
class JsonEdit:
    """One change to a JSON document: of the document, of one of its items, or of a record's values.

    ``scope`` doc: ``doc[key]``; item: the ``index``-th (mod length) of the document's list (records
    of a page, entries of a listing), ``key`` ``*`` being the item itself; values: one key of that
    record's ``values`` (``key`` empty: an existing one, chosen by ``index``).
    """

    scope: str  # doc | item | values
    key: str
    action: str  # set | delete | duplicate | drop | append
    value: Any = None
    index: int = 0


@dataclass(frozen=True)
class BodyEdit:
    """One change to the bytes of an answer."""

    action: str  # truncate | inject | replace | reencode | cut
    at: float = 0.5  # where, as a fraction of the body
    data: bytes = b""
    encoding: str = "utf-8"


@dataclass(frozen=True)
class XlsxEdit:
    """One change to a form workbook, made with openpyxl on the bytes the simulator served.

    ``target`` data: the cell of data row ``row`` (mod count) in header column ``column`` (mod
    count); header: the header row's cell in ``column``; label: the 表号 / 报告期 / 填报单位 cell
    (``column`` picks which), set to "label：value"; delete_row / duplicate_row / insert_row: a
    data row; sheet_title: the first sheet's name; sheet_first: an extra sheet before the form.
    """

    target: str
    row: int = 0
    column: int = 0
    value: Any = None


@dataclass(frozen=True)
class Mutation:
    """What one example does to the zone's answers."""

    route: str  # releases | data | index | xlsx
    json_edits: tuple[JsonEdit, ...] = ()
    xlsx_edits: tuple[XlsxEdit, ...] = ()
    body: BodyEdit | None = None
    headers: tuple[tuple[str, str], ...] = ()
    status: int | None = None  # answer with this HTTP status instead
    once: bool = False  # only the first matching answer (a transient fault)
    page: int | None = None  # data: only this page number (None: every page)
    period: str = "2026-03"  # xlsx: the period whose file is changed
    form: str | None = None  # index: only this form's index (None: every form's)
    keep_sha: bool = False  # xlsx: leave the index's sha256 as it was (the download looks cut)
    swap_with: str | None = None  # xlsx: serve this form's file (same period) instead

    @property
    def records_only(self) -> bool:
        """Only records of data pages change: the envelope, the bytes and the status are intact."""
        return (
            self.route == "data"
            and self.body is None
            and self.status is None
            and bool(self.json_edits)
            and all(e.scope in ("item", "values") for e in self.json_edits)
        )

    @property
    def transient_corruption(self) -> bool:
        """A body the client must see is cut or garbled, once: its retry gets the real one."""
        if not self.once or self.status is not None or self.json_edits:
            return False
        if self.route == "xlsx":
            # whatever the file became, its sha256 is not the index's: downloaded again
            return self.keep_sha
        return self.body is not None and _always_unreadable(self.body)


def _always_unreadable(body: BodyEdit) -> bool:
    # a JSON object cut anywhere before its end, or with a byte UTF-8 never has, cannot be read
    if body.action in ("truncate", "cut"):
        return body.at < 1.0
    return body.action == "inject" and any(b >= 0xF8 for b in body.data)


# --------------------------------------------------------------------------- applying them


def route_of(path: str) -> str | None:
    """Which route a request path is (None: not one the suite changes)."""
    if path.endswith("/api/v1/releases"):
        return "releases"
    if "/api/v1/data/" in path:
        return "data"
    if path.endswith("/index.json"):
        return "index"
    if path.endswith(".xlsx"):
        return "xlsx"
    return None


def page_number(query: dict[str, str]) -> int:
    """The page a data request asks for: 1 without a cursor, else what the cursor says."""
    from zonesim.api_v1 import Cursor

    cursor = query.get("cursor")
    if cursor is None:
        return 1
    decoded = Cursor.decode(cursor)
    return decoded.page if decoded is not None else 0


def apply_json_edits(doc: Any, edits: tuple[JsonEdit, ...], items_key: str) -> Any:
    """The document with the edits made, in order; an edit that finds nothing to change is skipped."""
    doc = copy.deepcopy(doc)
    for edit in edits:
        if edit.scope == "doc":
            if not isinstance(doc, dict):
                continue
            if edit.action == "delete":
                doc.pop(edit.key, None)
            else:
                doc[edit.key] = copy.deepcopy(edit.value)
            continue
        items = doc.get(items_key) if isinstance(doc, dict) else None
        if not isinstance(items, list):
            continue
        if edit.action == "append":
            items.append(copy.deepcopy(edit.value))
            continue
        if not items:
            continue
        i = edit.index % len(items)
        item = items[i]
        if edit.scope == "values":
            _edit_values(item, edit)
        elif edit.action == "drop":
            del items[i]
        elif edit.action == "duplicate":
            items.insert(i, copy.deepcopy(item))
        elif edit.key == "*":
            items[i] = copy.deepcopy(edit.value)
        elif isinstance(item, dict):
            if edit.action == "delete":
                item.pop(edit.key, None)
            else:
                item[edit.key] = copy.deepcopy(edit.value)
    return doc


def _edit_values(record: Any, edit: JsonEdit) -> None:
    values = record.get("values") if isinstance(record, dict) else None
    if not isinstance(values, dict):
        return
    key = edit.key
    if not key:
        if not values:
            return
        key = sorted(values)[edit.index % len(values)]
    if edit.action == "delete":
        values.pop(key, None)
    else:
        values[key] = copy.deepcopy(edit.value)


def apply_body_edit(body: bytes, edit: BodyEdit) -> tuple[bytes, int | None]:
    """The bytes to send and the Content-Length to announce (None: their own length)."""
    k = min(len(body), max(0, int(len(body) * edit.at)))
    if edit.action == "truncate":
        return body[:k], None
    if edit.action == "cut":
        return body[:k], len(body)
    if edit.action == "inject":
        return body[:k] + edit.data + body[k:], None
    if edit.action == "replace":
        return edit.data, None
    if edit.action == "reencode":
        return body.decode("utf-8").encode(edit.encoding, errors="replace"), None
    raise ValueError(edit.action)


def dump_json(doc: Any) -> bytes:
    """JSON as a careless server writes it: NaN and Infinity as bare words, non-ASCII as is."""
    return json.dumps(doc, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


# control characters cannot go through openpyxl: they go in as private-use placeholders and are
# put into the sheet XML afterwards, raw (an XML error for the reader) or as the OOXML escape
_ILLEGAL_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _placeholder(ch: str) -> str:
    return chr(0xF0000 + ord(ch))


def _with_placeholders(value: Any) -> Any:
    if isinstance(value, str):
        return _ILLEGAL_IN_XML.sub(lambda m: _placeholder(m.group()), value)
    return value


def _restore_controls(content: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith(".xml"):
                for code in range(0x20):
                    ph = _placeholder(chr(code)).encode()
                    if ph in data:
                        data = data.replace(ph, chr(code).encode())
            target.writestr(info.filename, data)
    return out.getvalue()


_HEADER_TITLES = {"代码", "统一社会信用代码"}
_LABELS = ("表号", "报告期", "填报单位")


def apply_xlsx_edits(content: bytes, edits: tuple[XlsxEdit, ...]) -> bytes:
    """The workbook with the edits made (control characters as the XML has them)."""
    wb = load_workbook(io.BytesIO(content))
    ws = wb.worksheets[0]
    header_row = next(
        (
            row[0].row
            for row in ws.iter_rows()
            if any(str(c.value).strip() in _HEADER_TITLES for c in row if c.value is not None)
        ),
        None,
    )
    if header_row is None:
        return content
    columns = [c.column for c in ws[header_row] if c.value is not None]
    data_rows = [
        r
        for r in range(header_row + 1, ws.max_row + 1)
        if any(ws.cell(r, c).value is not None for c in columns)
        and not str(ws.cell(r, 1).value or "").startswith("单位负责人")
    ]
    controls = False
    for edit in edits:
        # an edit openpyxl refuses is skipped; the others are still made
        with contextlib.suppress(ValueError, TypeError):
            controls = _edit(wb, ws, header_row, columns, data_rows, edit) or controls
    out = io.BytesIO()
    wb.save(out)
    content = out.getvalue()
    return _restore_controls(content) if controls else content


def _edit(
    wb: Any, ws: Any, header_row: int, columns: list[int], data_rows: list[int], edit: XlsxEdit
) -> bool:
    """Make one edit (``data_rows`` kept up to date); True when it put in control characters."""
    value = _with_placeholders(edit.value)
    column = columns[edit.column % len(columns)]
    row = data_rows[edit.row % len(data_rows)] if data_rows else None
    if edit.target == "data" and row is not None:
        ws.cell(row, column).value = value
    elif edit.target == "header":
        ws.cell(header_row, column).value = value
    elif edit.target == "label":
        label = _LABELS[edit.column % len(_LABELS)]
        for r in range(1, header_row):
            cell = ws.cell(r, 1)
            if isinstance(cell.value, str) and cell.value.startswith(label):
                cell.value = f"{label}：{value}" if isinstance(value, str) else value
    elif edit.target == "delete_row" and row is not None:
        ws.delete_rows(row)
        data_rows[:] = [r if r < row else r - 1 for r in data_rows if r != row]
    elif edit.target == "duplicate_row" and row is not None:
        ws.insert_rows(row + 1)
        for c in range(1, ws.max_column + 1):
            ws.cell(row + 1, c).value = ws.cell(row, c).value
        data_rows[:] = sorted({*(r if r <= row else r + 1 for r in data_rows), row + 1})
    elif edit.target == "insert_row" and row is not None:
        ws.insert_rows(row + 1)
        ws.cell(row + 1, column).value = value
    elif edit.target == "sheet_title" and isinstance(edit.value, str):
        ws.title = edit.value
    elif edit.target == "sheet_first":
        extra = wb.create_sheet("说明", 0)
        extra.cell(1, 1).value = value
    return isinstance(edit.value, str) and bool(_ILLEGAL_IN_XML.search(edit.value))


@dataclass
class Mutator:
    """The proxy's mutator for one example; counts what it changed."""

    mutation: Mutation
    applied: int = 0
    # xlsx: the file bytes served for each changed path (the index lists their sha256)
    files: dict[str, bytes] = field(default_factory=dict)

    def __call__(self, ex: Exchange) -> Exchange:
        """Deform one answer if the mutation is about it."""
        m = self.mutation
        route = route_of(ex.path)
        if route is None or ex.status != 200:
            return ex
        if m.route == "xlsx" and route == "index" and not m.keep_sha:
            return self._index_for_files(ex)
        # once: the first answer only; a changed file whose sha256 the index lists stays changed
        transient = m.once and (m.route != "xlsx" or m.keep_sha)
        if route != m.route or (transient and self.applied):
            return ex
        if route == "data" and m.page is not None and page_number(ex.query) != m.page:
            return ex
        if route == "index" and m.form is not None and f"/forms/{m.form}/" not in ex.path:
            return ex
        if route == "xlsx":
            if not ex.path.endswith(f"/{m.period}.xlsx"):
                return ex
            return self._finish(ex, self._file(ex.path, ex.body, ex))
        if m.json_edits:
            try:
                doc = json.loads(ex.body)
            except ValueError:
                return ex
            items = {"releases": "releases", "data": "records", "index": "periods"}[route]
            body = dump_json(apply_json_edits(doc, m.json_edits, items))
        else:
            body = ex.body
        return self._finish(ex, body)

    def _finish(self, ex: Exchange, body: bytes) -> Exchange:
        m = self.mutation
        self.applied += 1
        declared: int | None = None
        if m.body is not None and not (m.route == "xlsx" and not m.keep_sha):
            body, declared = apply_body_edit(body, m.body)
        headers = {**ex.headers, **dict(m.headers)}
        return replace(
            ex, status=m.status or ex.status, headers=headers, body=body, declared_length=declared
        )

    def _file(self, path: str, original: bytes, ex: Exchange) -> bytes:
        """The changed bytes of one form file (made once: the index's sha256 must match them)."""
        if path in self.files:
            return self.files[path]
        m = self.mutation
        content = original
        if m.swap_with is not None:
            other = re.sub(r"/forms/[^/]+/", f"/forms/{m.swap_with}/", path)
            status, swapped = ex.fetch(other)
            content = swapped if status == 200 else b""
        if m.xlsx_edits:
            # a swapped or emptied file need not open: it is served as it is
            with contextlib.suppress(Exception):
                content = apply_xlsx_edits(content, m.xlsx_edits)
        if m.body is not None and not m.keep_sha:
            content, _ = apply_body_edit(content, m.body)
        self.files[path] = content
        return content

    def _index_for_files(self, ex: Exchange) -> Exchange:
        """An index whose entry for the changed period lists the sha256 of the changed file."""
        m = self.mutation
        try:
            doc = json.loads(ex.body)
        except ValueError:
            return ex
        base = ex.path.rsplit("/", 1)[0]
        for entry in doc.get("periods", []):
            if entry.get("period") != m.period:
                continue
            path = f"{base}/{m.period}.xlsx"
            status, original = ex.fetch(path)
            if status != 200:
                continue
            entry["sha256"] = hashlib.sha256(self._file(path, original, ex)).hexdigest()
        return replace(ex, body=dump_json(doc))


# --------------------------------------------------------------------------- strategies


class LongBytes(bytes):
    """Long bytes that print short."""

    def __repr__(self) -> str:
        return (
            f"{bytes.__repr__(self[:16])} + … ({len(self)} bytes)"
            if len(self) > 64
            else bytes.__repr__(self)
        )


class Long(str):
    """A long string that prints short, so that a failing example stays readable."""

    def __repr__(self) -> str:
        return (
            f"{str.__repr__(self[:8])} * {len(self) // 8}" if len(self) > 64 else str.__repr__(self)
        )


def long_text(unit: str, length: int) -> Long:
    """``unit`` repeated to ``length`` characters."""
    return Long((unit * length)[:length])


CONTROL_CHARS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x85"]
SPECIAL = ['"', "'", "\t", "\n", "\r", "\\", "\\N", "\\.", "\\t", "|", ",", ";", "%", "_", "\u2028", "\ufeff"]  # fmt: skip
PATHS = [
    "../", "../../../../../../", "..", ".", "/", "//", "..\\..\\", "C:\\Windows", "/etc/passwd",
    "~", "2026-03/../../../x", "../2026-03", "2026-03/..", "NUL", "con", "\x00", "2026-03\x00",
    "2026-03\x00../../x", "2026-03\n", " 2026-03", "2026-03 ", "2026-3", "2026-13", "2026-Q5",
    "２０２６-03", "2026-03.xlsx", "2026-03%2F..%2F..", "2026-03?x=1", "2026-03#x", "",
]  # fmt: skip
KNOWN_WORDS = ["revenue", "tax_revenue", "TY01", "YQ01", "DT01", "万元", "元", "亿元", "A", "M", "E", "2026-03", "91140300MA1GLLCA30", "C3091", "是", "否"]  # fmt: skip
NUMBER_TEXTS = [
    "NaN", "nan", "Infinity", "-Infinity", "inf", "1e308", "1e309", "-1e308", "1.7976931348623157e308",
    "-0", "-0.0", "+0", "0x10", "1_000", "1,2,3", "1,234.5", "１２３", "12.3.4", "1e-400", "٣", "",
    " ", "-", "—", "--", "null", "true", "5e-324", "9" * 400, "0." + "0" * 400 + "1",
]  # fmt: skip
SPECIAL_FLOATS = [
    math.nan, math.inf, -math.inf, 1e308, -1e308, 1.7976931348623157e308, -0.0, 0.0, 5e-324,
    2.0**53 + 2, 1e-300,
]  # fmt: skip
BIG_INTS = [2**31, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, -1, 0]


def nasty_text(canary: str) -> st.SearchStrategy[str]:
    """Strings a careless system sends: controls, quotes, escapes, paths, huge ones, mixtures."""
    piece = st.one_of(
        st.sampled_from(CONTROL_CHARS),
        st.sampled_from(SPECIAL),
        st.sampled_from(PATHS),
        st.sampled_from(KNOWN_WORDS),
        st.text(max_size=6),
    )
    return st.one_of(
        st.lists(piece, min_size=1, max_size=6).map("".join),
        st.sampled_from(PATHS),
        st.sampled_from([f"{canary}/owned", f"{canary}/../{CANARY_NAME}/x", f"file://{canary}/y"]),
        st.sampled_from(["x", "中", "\\", '"', "\t", "\x00", "'", "../"]).map(
            lambda c: long_text(c, 10_000)
        ),
        st.sampled_from(KNOWN_WORDS).map(lambda w: w + "\x00" + "../" * 5),
        st.text(min_size=1, max_size=30),
    )


def numbers() -> st.SearchStrategy[Any]:
    """Numbers at the edges of float and int."""
    return st.one_of(
        st.sampled_from(SPECIAL_FLOATS),
        st.sampled_from(BIG_INTS),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**20), max_value=10**20),
    )


def wrong_types() -> st.SearchStrategy[Any]:
    """Values of the wrong JSON type."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        st.just({"nested": {"deep": [1, {"x": None}]}}),
        st.just([]),
        st.just({}),
    )


def bad_values(canary: str) -> st.SearchStrategy[Any]:
    """Any bad JSON value: text, numbers, number-like text, wrong types."""
    return st.one_of(nasty_text(canary), numbers(), st.sampled_from(NUMBER_TEXTS), wrong_types())


def body_edits() -> st.SearchStrategy[BodyEdit]:
    """Cut, garbled, replaced and re-encoded bodies."""
    at = st.floats(min_value=0.0, max_value=0.999)
    return st.one_of(
        st.builds(BodyEdit, action=st.just("truncate"), at=at),
        st.builds(BodyEdit, action=st.just("cut"), at=at),
        st.builds(
            BodyEdit,
            action=st.just("inject"),
            at=at,
            data=st.sampled_from(
                [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\x80"]
            ),
        ),
        st.builds(
            BodyEdit,
            action=st.just("replace"),
            data=st.sampled_from(
                [
                    b"",
                    b"null",
                    b"[]",
                    b'"text"',
                    b"{}",
                    b"<html><body>502 Bad Gateway</body></html>",
                    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
                    b"PK\x03\x04" + b"\x00" * 40,
                    b"\xef\xbb\xbf{}",
                    LongBytes(b"{" * 5000),
                    LongBytes(b'{"zone_code": "TY01", "releases": [' * 2000),
                ]
            ),
        ),
        st.builds(
            BodyEdit,
            action=st.just("reencode"),
            encoding=st.sampled_from(["gbk", "utf-16", "utf-8-sig", "latin-1", "utf-32", "ascii"]),
        ),
    )


def _cursor(zone: str, page: int, offset: int, revision: int = 1) -> str:
    from zonesim.api_v1 import Cursor

    return Cursor(zone, "zone", "2026-03", revision, offset, page).encode()


REVISIONS = [1, 2, 3, 0, -1, 1.0, 2.5, "2", True, None, 2**31 - 1, 2**31, 2**63, 10**30]
# what each field most wants to be wrong with; any bad value comes too, less often
SPECIFIC: dict[str, st.SearchStrategy[Any]] = {
    "revision": st.sampled_from(REVISIONS),
    "period": st.sampled_from(
        [*PATHS, "2026-04", "2026-01", "2025-12", "2026-Q1", "2026", "1900-02", "9999-12"]
    ),
    "frequency": st.sampled_from(["Q", "A", "m", "", None, 1, "MM", "M\x00"]),
    "zone_code": st.sampled_from(["DT01", "YQ01", "ty01", "TY01 ", "TY01\x00", "../TY01", "XX99"]),
    "dataset": st.sampled_from(["enterprise", "zone", "Zone", "zone\x00", "../zone"]),
    "record_count": st.one_of(st.sampled_from(BIG_INTS), st.sampled_from(SPECIAL_FLOATS)),
    "next_cursor": st.sampled_from(
        [1, "", "x", "====", _cursor("DT01", 2, 7), _cursor("TY01", 2, 0), _cursor("TY01", 2, 10**6),
         _cursor("TY01", 9, 7, revision=2**40), _cursor("TY01", 2, 7, revision=3)]
    ),
    "records": st.sampled_from([None, {}, "[]", [None], [[]], [1, 2], [{"indicator": None}]]),
    "indicator": st.sampled_from(
        ["revenue ", " REVENUE", "rd_expense", "employees", "tax_revenue\n", "revenue\x00", "营业收入"]
    ),
    "value": st.one_of(st.sampled_from(SPECIAL_FLOATS), st.sampled_from(NUMBER_TEXTS), st.sampled_from(BIG_INTS)),
    "unit": st.sampled_from(["元", "亿元", "万元 ", "吨", "%", "万美元", "", "万\t元", "亩"]),
    "status": st.sampled_from(["M", "A", "E", "X", "", "m", " M ", "MA", "\x00", 0]),
    "uscc": st.sampled_from(
        ["91140300MA1GLLCA31", "91140300ma1gllca30", "91140300MA1GLLCA3", "9114030OMA1GLLCA30",
         " 91140300MA1GLLCA30 ", "91140300MA1GLLCA30\x00", "911403004048695708"]
    ),
    "name": st.sampled_from(["", " ", "阳泉\t\"有限\"\\公司\n", "O'Brien & Co; DROP TABLE x", "\\N"]),
    "industry_code": st.sampled_from(["C", "C30", "Z9999", "c3091", "C3091 ", "C30911", "\\."]),
    "above_scale": st.sampled_from(["是", "否", "true", 1, 0, "", "Y"]),
    "values": st.sampled_from([None, [], "revenue=1", {"revenue": {"v": 1}}, {"": 1}, {"revenue": None}]),
    "units": st.sampled_from([{"revenue": "亿元"}, {"revenue": "元"}, {"revenue": 1}, "万元", [], {"x": "元"}]),
    "published_at": st.deferred(lambda: _times()),
    "updated_at": st.deferred(lambda: _times()),
    "sha256": st.sampled_from(["0" * 64, "F" * 64, "0" * 63, "g" * 64, "", None, 1]),
    "form": st.sampled_from(["YQ2", "yq1", "YQ1\x00", "../YQ1", "", None]),
}  # fmt: skip


def field_values(key: str, canary: str) -> st.SearchStrategy[Any]:
    """Bad values for a field: those it most wants, or any."""
    specific = SPECIFIC.get(key)
    if specific is None:
        return bad_values(canary)
    return st.one_of(specific, specific, bad_values(canary))


def _item_edit(keys: list[str], canary: str) -> st.SearchStrategy[JsonEdit]:
    def edit(key: str) -> st.SearchStrategy[JsonEdit]:
        return st.builds(
            JsonEdit,
            scope=st.just("item"),
            key=st.just(key),
            action=st.sampled_from(["set", "set", "set", "set", "delete", "duplicate", "drop"]),
            value=field_values(key, canary),
            index=st.integers(min_value=0, max_value=30),
        )

    return st.sampled_from([*keys, "*", "file"]).flatmap(edit)


def _doc_edit(keys: list[str], canary: str) -> st.SearchStrategy[JsonEdit]:
    def edit(key: str) -> st.SearchStrategy[JsonEdit]:
        return st.builds(
            JsonEdit,
            scope=st.just("doc"),
            key=st.just(key),
            action=st.sampled_from(["set", "set", "set", "delete"]),
            value=field_values(key, canary),
        )

    return st.sampled_from(keys).flatmap(edit)


RECORD_KEYS = {
    "zone": ["indicator", "value", "unit", "status"],
    "enterprise": ["uscc", "name", "industry_code", "above_scale", "values", "units"],
}


def record_edits(dataset: str, canary: str) -> st.SearchStrategy[JsonEdit]:
    """Changes to the records of a data page."""
    edits = [_item_edit(RECORD_KEYS[dataset], canary)]
    if dataset == "enterprise":
        edits.append(
            st.builds(
                JsonEdit,
                scope=st.just("values"),
                key=st.one_of(
                    st.just(""),
                    st.just(""),
                    st.sampled_from(["revenue", "rd_expense"]),
                    nasty_text(canary),
                ),
                action=st.sampled_from(["set", "set", "delete"]),
                value=field_values("value", canary),
                index=st.integers(min_value=0, max_value=30),
            )
        )
    return st.one_of(*edits)


def data_mutations(dataset: str, canary: str) -> st.SearchStrategy[Mutation]:
    """Mutations of the data pages of the api-v1 zone."""
    page_keys = ["zone_code", "dataset", "period", "revision", "records", "next_cursor"]
    records_only = st.builds(
        Mutation,
        route=st.just("data"),
        json_edits=st.lists(record_edits(dataset, canary), min_size=1, max_size=4).map(tuple),
        page=st.sampled_from([None, 1, 2]),
        once=st.booleans(),
    )
    superseded = st.builds(
        Mutation,
        route=st.just("data"),
        status=st.just(409),
        body=st.builds(
            BodyEdit,
            action=st.just("replace"),
            data=st.sampled_from(
                [b"Infinity", b"NaN", b"1e308", b"2.9", b"true", b"null", b'"2"', b"-1", b"0",
                 b"2", b"3", str(2**63).encode(), b'{"x": 1}']
            ).map(lambda v: b'{"error": "superseded", "latest_revision": ' + v + b"}"),
        ),
        page=st.sampled_from([None, 1, 2]),
        once=st.booleans(),
    )  # fmt: skip
    envelope = st.builds(
        Mutation,
        route=st.just("data"),
        status=st.sampled_from([None, None, None, None, None, 404, 410, 429, 500, 503]),
        json_edits=st.lists(
            st.one_of(_doc_edit(page_keys, canary), record_edits(dataset, canary)), max_size=3
        ).map(tuple),
        body=st.one_of(st.none(), body_edits()),
        page=st.sampled_from([None, 1, 2]),
        once=st.booleans(),
    )
    return st.one_of(records_only, records_only, envelope, superseded)


def listing_entry(canary: str) -> st.SearchStrategy[dict[str, Any]]:
    """A /releases entry built from a good one with some fields bad."""
    good: dict[str, Any] = {
        "period": "2026-03",
        "frequency": "M",
        "revision": 2,
        "published_at": "2026-04-15T10:00:00+08:00",
        "record_count": 12,
    }
    return st.fixed_dictionaries(
        {k: st.one_of(st.just(v), bad_values(canary), _times()) for k, v in good.items()}
    )


def _times() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(
            [
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00",
                "9999-12-31T23:59:59+00:00",
                "2026-04-15T10:00:00",
                "2026-04-15",
                "2026-04-15T10:00:00Z",
                "2026-02-30T10:00:00+08:00",
                "2026-04-15T10:00:00+08:00\x00",
                "yesterday",
                "",
            ]
        ),
        st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    )


def listing_mutations(canary: str) -> st.SearchStrategy[Mutation]:
    """Mutations of the api-v1 /releases listing."""
    entry_keys = ["period", "frequency", "revision", "published_at", "record_count"]
    edit = st.one_of(
        _item_edit(entry_keys, canary),
        st.builds(
            JsonEdit,
            scope=st.just("item"),
            key=st.just("published_at"),
            action=st.just("set"),
            value=_times(),
            index=st.integers(0, 5),
        ),
        st.builds(
            JsonEdit,
            scope=st.just("item"),
            key=st.just(""),
            action=st.just("append"),
            value=listing_entry(canary),
        ),
        _doc_edit(["zone_code", "dataset", "releases"], canary),
    )
    return st.builds(
        Mutation,
        route=st.just("releases"),
        json_edits=st.lists(edit, max_size=3).map(tuple),
        body=st.one_of(st.none(), st.none(), body_edits()),
        once=st.booleans(),
        status=st.sampled_from([None, None, None, None, 201, 204, 302, 400, 404, 409, 410, 418]),
    )


def api_mutations(dataset: str, canary: str) -> st.SearchStrategy[Mutation]:
    """Everything the suite does to an api-v1 zone."""
    return st.one_of(data_mutations(dataset, canary), listing_mutations(canary))


def cell_values(canary: str) -> st.SearchStrategy[Any]:
    """What a form cell may hold: bad text and numbers, booleans, dates, formulas, blanks."""
    return st.one_of(
        nasty_text(canary),  # at most 10,000 characters: a cell holds 32,767
        st.sampled_from(SPECIAL_FLOATS),
        st.sampled_from(NUMBER_TEXTS),
        st.integers(min_value=-(10**15), max_value=10**15),
        st.booleans(),
        st.none(),
        st.sampled_from(
            [datetime(2026, 3, 31, 12, 0), date(1900, 1, 1), "=1/0", "=A1", "=SUM(D6:D9)", "#N/A"]
        ),
    )


def xlsx_edits(canary: str) -> st.SearchStrategy[XlsxEdit]:
    """Changes to a form workbook."""
    where = st.integers(min_value=0, max_value=40)
    return st.one_of(
        st.builds(XlsxEdit, target=st.just("data"), row=where, column=where, value=cell_values(canary)),
        st.builds(XlsxEdit, target=st.just("data"), row=where, column=where, value=cell_values(canary)),
        st.builds(XlsxEdit, target=st.just("header"), column=where, value=cell_values(canary)),
        st.builds(
            XlsxEdit,
            target=st.just("label"),
            column=where,
            value=st.one_of(
                cell_values(canary),
                st.sampled_from(["YQ2", "QY1", "2026年1-2月", "2026年1-13月", "2026年3月", "2026-03", "1-3月"]),
            ),
        ),
        st.builds(XlsxEdit, target=st.sampled_from(["delete_row", "duplicate_row"]), row=where),
        st.builds(XlsxEdit, target=st.just("insert_row"), row=where, column=where, value=cell_values(canary)),
        st.builds(
            XlsxEdit,
            target=st.just("sheet_title"),
            value=st.sampled_from(["..x", "a" * 31, "表 1", "'quoted'", "Sheet", "填报说明"]),
        ),
        st.builds(XlsxEdit, target=st.just("sheet_first"), value=cell_values(canary)),
    )  # fmt: skip


def index_mutations(canary: str) -> st.SearchStrategy[Mutation]:
    """Mutations of a form's index.json."""
    entry_keys = ["period", "updated_at", "sha256"]
    edit = st.one_of(
        _item_edit(entry_keys, canary),
        st.builds(
            JsonEdit,
            scope=st.just("item"),
            key=st.just("updated_at"),
            action=st.just("set"),
            value=_times(),
            index=st.integers(0, 5),
        ),
        st.builds(
            JsonEdit,
            scope=st.just("item"),
            key=st.just(""),
            action=st.just("append"),
            value=st.fixed_dictionaries(
                {
                    "period": st.one_of(st.sampled_from(["2026-04", "2026-03", "2025-12"]), nasty_text(canary)),
                    "updated_at": st.one_of(st.just("2026-04-15T10:00:00+08:00"), _times()),
                    "sha256": st.one_of(st.just("0" * 64), st.just("F" * 64), nasty_text(canary)),
                    "file": nasty_text(canary),
                }
            ),
        ),
        _doc_edit(["form", "periods"], canary),
    )  # fmt: skip
    return st.builds(
        Mutation,
        route=st.just("index"),
        json_edits=st.lists(edit, min_size=0, max_size=3).map(tuple),
        body=st.one_of(st.none(), st.none(), body_edits()),
        once=st.booleans(),
        form=st.sampled_from([None, "YQ1", "YQ2", "QY1"]),
        status=st.sampled_from([None, None, None, None, 204, 400, 404, 500]),
    )


def file_mutations(canary: str) -> st.SearchStrategy[Mutation]:
    """Mutations of a form file: its cells, its bytes, or another file in its place."""
    return st.builds(
        Mutation,
        route=st.just("xlsx"),
        xlsx_edits=st.lists(xlsx_edits(canary), max_size=4).map(tuple),
        body=st.one_of(st.none(), st.none(), st.none(), body_edits()),
        keep_sha=st.sampled_from([False, False, False, True]),
        once=st.booleans(),
        period=st.sampled_from(["2026-03", "2026-03", "2026-02"]),
        swap_with=st.sampled_from([None, None, None, None, "YQ1", "QY1", "YQ2"]),
        headers=st.sampled_from(
            [
                (),
                (("Content-Disposition", 'attachment; filename="../../../evil.xlsx"'),),
                (("Content-Disposition", f'attachment; filename="{canary}/evil.xlsx"'),),
                (("Content-Type", "text/html"),),
            ]
        ),
    )


def form_mutations(canary: str) -> st.SearchStrategy[Mutation]:
    """Everything the suite does to a form-xlsx zone."""
    return st.one_of(file_mutations(canary), file_mutations(canary), index_mutations(canary))
