"""The form-xlsx side of the zone simulator (report forms as .xlsx), through a real server."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
import requests

from zonesim import BAD_ENTERPRISES, FORMS, QUIRKS, Faults, Simulator
from zonesim.schedule import CST
from zonestats.catalog import load_catalog

AS_OF = datetime(2026, 11, 27, 12, 0, tzinfo=CST)
CATALOG = load_catalog()
FORM_ZONES = ("YQ01", "SZ01", "XZ01")
# Fewer enterprises than by default: QY1 files stay small and the tests fast.
SCALE = 0.25
SIMULATOR = {"seed": 2026, "as_of": AS_OF, "start_year": 2025, "enterprise_scale": SCALE}
FRESH_SIMULATOR = {"seed": 2026, "as_of": AS_OF, "start_year": 2026, "enterprise_scale": SCALE}
pytestmark = pytest.mark.usefixtures("healthy_sim")
ENTERPRISE = {i.code: i for i in CATALOG.for_dataset("enterprise")}
BY_NAME = {i.name_zh: i.code for i in ENTERPRISE.values()}
ZONE = {i.code: i for i in CATALOG.for_dataset("zone")}


def get(
    http: requests.Session, sim: Simulator, zone: str, path: str, token: str | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sim.token(zone)}"}
    return http.get(f"{sim.base_url(zone)}/forms/{path}", headers=headers, timeout=10)


@dataclass
class Parsed:
    """What a reader makes of a form file."""

    sheets: list[str]
    merged: set[str]
    meta: dict[str, str]  # 表号, 填报单位, 报告期, 制定机关 … -> text after the colon
    header_row: int
    header: list[Any]
    rows: list[list[Any]]  # data rows, blank rows dropped
    blank_before_header: bool
    blank_in_table: bool
    footer: str
    properties: dict[str, Any] = field(default_factory=dict)


def parse(body: bytes) -> Parsed:
    """Read a form file the way an adapter would (no knowledge of where things are)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file openpyxl complains about is a broken file
        wb = openpyxl.load_workbook(io.BytesIO(body))
    ws = wb.worksheets[0]
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    meta: dict[str, str] = {}
    header_row = next(n for n, r in enumerate(rows, 1) if r[0] in ("指标名称", "统一社会信用代码"))
    for row in rows[1 : header_row - 1]:
        if isinstance(row[0], str) and "：" in row[0]:
            key, _, rest = row[0].partition("：")
            meta[key] = rest
    blank = [all(c is None for c in r) for r in rows]
    end = next(
        n
        for n, r in enumerate(rows)
        if n >= header_row and isinstance(r[0], str) and r[0].startswith("单位负责人")
    )
    body_rows = rows[header_row:end]
    return Parsed(
        sheets=wb.sheetnames,
        merged={str(r) for r in ws.merged_cells.ranges},
        meta=meta,
        header_row=header_row,
        header=rows[header_row - 1],
        rows=[r for r in body_rows if any(c is not None for c in r)],
        blank_before_header=any(blank[1 : header_row - 1]),
        blank_in_table=any(all(c is None for c in r) for r in body_rows),
        footer=" ".join(str(c) for c in rows[end] if c is not None),
        properties={
            "created": wb.properties.created,
            "modified": wb.properties.modified,
            "revision": wb.properties.revision,
        },
    )


def number(cell: Any) -> Decimal | None:
    if cell is None:
        return None
    return Decimal(cell.strip() if isinstance(cell, str) else repr(cell))


def zone_records(parsed: Parsed) -> list[dict[str, Any]]:
    return [{"indicator": r[1].strip(), "value": number(r[3]), "unit": r[2]} for r in parsed.rows]


def enterprise_records(parsed: Parsed) -> list[dict[str, Any]]:
    columns = []
    for title in parsed.header[4:]:
        name, _, unit = title.rstrip(")").partition("(")
        columns.append((BY_NAME[name], unit))
    out = []
    for r in parsed.rows:
        values = {code: number(c) for (code, _), c in zip(columns, r[4:], strict=True)}
        units = {code: u for code, u in columns if u != ENTERPRISE[code].unit and code in values}
        record: dict[str, Any] = {
            "uscc": r[0].strip(),
            "name": r[1],
            "industry_code": r[2].strip(),
            "above_scale": {"是": True, "否": False}[r[3]],
            "values": {c: v for c, v in values.items() if v is not None},
        }
        if units:
            record["units"] = {c: u for c, u in units.items() if c in record["values"]}
            if not record["units"]:
                del record["units"]
        out.append(record)
    return out


def as_decimals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """form_records() with its decimal strings as Decimals, to compare with a parsed file."""
    out = []
    for rec in records:
        rec = dict(rec)
        if "values" in rec:
            rec["values"] = {c: Decimal(v) for c, v in rec["values"].items()}
        else:
            rec["value"] = None if rec["value"] is None else Decimal(rec["value"])
        out.append(rec)
    return out


def detected_quirks(parsed: Parsed, form: str) -> set[str]:
    found = set()
    if parsed.blank_before_header and parsed.blank_in_table:
        found.add("spacer_rows")
    if parsed.sheets[1:] == ["填报说明"]:
        found.add("extra_sheet")
    first_value = 3 if FORMS[form].dataset == "zone" else 4
    cells = [c for r in parsed.rows for c in r[first_value:] if c is not None]
    if cells and all(isinstance(c, str) for c in cells):
        found.add("numbers_as_text")
    codes = [r[1] for r in parsed.rows] if first_value == 3 else [r[0] for r in parsed.rows]
    if all(c.endswith(" ") for c in codes):
        found.add("trailing_spaces")
    if {r[2] for r in parsed.rows} & {"元", "公顷"} or "营业收入(元)" in parsed.header:
        found.add("alt_unit")
    if "制定机关" in parsed.meta:
        found.add("header_note")
    return found


# ---- index and files ------------------------------------------------------------------------


def test_index_lists_periods_with_the_sha256_of_the_bytes_served(
    sim: Simulator, http: requests.Session
) -> None:
    expected_latest = {"YQ1": "2026-10", "YQ2": "2026-Q3", "YQ3": "2025", "QY1": "2026-10"}
    for form in FORMS:
        resp = get(http, sim, "YQ01", f"{form}/index.json")
        assert resp.status_code == 200
        index = resp.json()
        assert index == sim.form_index("YQ01", form)
        assert index["form"] == form
        periods = [p["period"] for p in index["periods"]]
        assert periods == sim.form_periods("YQ01", form)
        assert periods[-1] == expected_latest[form]
        releases = {r["period"]: r for r in sim.releases("YQ01", FORMS[form].dataset)}
        for entry in index["periods"]:
            assert entry["updated_at"] == releases[entry["period"]]["published_at"]
        for entry in index["periods"][-2:]:
            file = get(http, sim, "YQ01", f"{form}/{entry['period']}.xlsx")
            assert file.status_code == 200
            assert file.headers["Content-Type"] == (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
            assert hashlib.sha256(file.content).hexdigest() == entry["sha256"]
            assert file.content == sim.form_bytes("YQ01", form, entry["period"])


def test_files_are_reproducible() -> None:
    a = Simulator(seed=2026, as_of=AS_OF, start_year=2026)
    b = Simulator(seed=2026, as_of=AS_OF, start_year=2026)
    for form, period in (("YQ1", "2026-10"), ("YQ2", "2026-Q2"), ("QY1", "2026-03")):
        body = a.form_bytes("YQ01", form, period)
        assert body == b.form_bytes("YQ01", form, period)
        a._form_files.clear()  # a second generation from scratch, not the cached bytes
        assert body == a.form_bytes("YQ01", form, period)
    other = Simulator(seed=7, as_of=AS_OF, start_year=2026)
    assert other.form_bytes("YQ01", "YQ1", "2026-10") != a.form_bytes("YQ01", "YQ1", "2026-10")


def test_layout_and_content(sim: Simulator) -> None:
    for zone, form, period, label in (
        ("YQ01", "YQ1", "2026-10", "2026年1-10月"),
        ("SZ01", "YQ1", "2026-02", "2026年1-2月"),
        ("XZ01", "YQ2", "2026-Q3", "2026年1-3季度"),
        ("YQ01", "YQ2", "2026-Q1", "2026年1季度"),
        ("SZ01", "YQ3", "2025", "2025年"),
        ("XZ01", "QY1", "2026-04", "2026年1-4月"),
    ):
        spec = FORMS[form]
        parsed = parse(sim.form_bytes(zone, form, period))
        last_column = "F" if spec.dataset == "zone" else "L"  # 6 or 4 + 8 columns
        assert f"A1:{last_column}1" in parsed.merged
        assert parsed.meta["表号"] == form
        assert parsed.meta["填报单位"] == CATALOG.zones[zone].name_zh
        assert parsed.meta["报告期"] == label
        revision = sim.latest_revision(zone, spec.dataset, period)
        assert revision is not None
        published = {r["period"]: r for r in sim.releases(zone, spec.dataset)}[period]
        assert f"报出日期：{published['published_at'][:10]}" in parsed.footer
        assert {"单位负责人", "统计负责人", "填表人"} <= {
            part.split("：")[0] for part in parsed.footer.split()
        }
        assert parsed.properties["revision"] == str(revision)
        truth = as_decimals(sim.form_records(zone, form, period))
        if spec.dataset == "zone":
            assert parsed.header == [
                "指标名称",
                "代码",
                "计量单位",
                "1-本期累计",
                "上年同期",
                "同比增长(%)",
            ]
            got = zone_records(parsed)
            assert got == truth
            assert [r["indicator"] for r in got] == [
                i.code for i in CATALOG.for_dataset("zone") if i.frequency == spec.frequency
            ]
            # The form says what api-v1 says, in the unit of its row.
            api = sim.canonical_values(zone, "zone", period, revision)
            for rec in got:
                factor = ZONE[rec["indicator"]].unit_factors[rec["unit"]]
                shown = None if rec["value"] is None else rec["value"] * factor.numerator
                expected = api.get(rec["indicator"])
                assert shown == (None if expected is None else expected * factor.denominator)
        else:
            assert parsed.header[:4] == ["统一社会信用代码", "企业名称", "行业代码", "是否规上"]
            got = enterprise_records(parsed)
            assert got == truth
            api = sim.canonical_values(zone, "enterprise", period, revision)
            assert [r["uscc"] for r in got] == list(api)
            for rec in got:
                for code, v in rec["values"].items():
                    factor = ENTERPRISE[code].unit_factors[
                        rec.get("units", {}).get(code, ENTERPRISE[code].unit)
                    ]
                    assert v * factor.numerator == api[rec["uscc"]][code] * factor.denominator


def test_every_quirk_is_where_the_simulator_says(sim: Simulator) -> None:
    files = [(z, "YQ1", f"2026-{m:02d}") for z in FORM_ZONES for m in range(2, 11)]
    files += [(z, "YQ2", p) for z in FORM_ZONES for p in ("2025-Q4", "2026-Q1", "2026-Q2")]
    files += [(z, "YQ3", "2025") for z in FORM_ZONES]
    files += [(z, "QY1", f"2026-{m:02d}") for z in FORM_ZONES for m in range(2, 5)]
    seen: dict[str, set[str]] = {form: set() for form in FORMS}
    header_rows: set[int] = set()
    for zone, form, period in files:
        parsed = parse(sim.form_bytes(zone, form, period))
        expected = sim.form_quirks(zone, form, period)
        assert detected_quirks(parsed, form) == expected, (zone, form, period)
        assert sim.form_document(zone, form, period).header_row == parsed.header_row
        seen[form] |= expected
        header_rows.add(parsed.header_row)
        # Whatever the quirks, the file carries the records the simulator says it does.
        records = zone_records(parsed) if form != "QY1" else enterprise_records(parsed)
        assert records == as_decimals(sim.form_records(zone, form, period))
    for form, quirks in seen.items():
        assert quirks == set(QUIRKS), form
    assert len(header_rows) >= 3  # the header row is not always on the same row


# ---- revisions and faults -----------------------------------------------------------------------


def test_a_revision_is_a_new_file(fresh: Simulator, http: requests.Session) -> None:
    for form, dataset in (("YQ1", "zone"), ("QY1", "enterprise")):
        before = {
            p["period"]: p for p in get(http, fresh, "SZ01", f"{form}/index.json").json()["periods"]
        }
        old = fresh.form_records("SZ01", form, "2026-09")
        revision = fresh.publish_revision("SZ01", dataset, "2026-09")
        after = {
            p["period"]: p for p in get(http, fresh, "SZ01", f"{form}/index.json").json()["periods"]
        }
        assert after["2026-09"]["sha256"] != before["2026-09"]["sha256"]
        assert after["2026-09"]["updated_at"] == "2026-11-27T12:00:00+08:00"
        assert after["2026-09"]["updated_at"] > before["2026-09"]["updated_at"]
        assert {p: e for p, e in after.items() if p != "2026-09"} == {
            p: e for p, e in before.items() if p != "2026-09"
        }
        body = get(http, fresh, "SZ01", f"{form}/2026-09.xlsx").content
        assert hashlib.sha256(body).hexdigest() == after["2026-09"]["sha256"]
        parsed = parse(body)
        assert "报出日期：2026-11-27" in parsed.footer
        assert parsed.properties["revision"] == str(revision)
        assert fresh.form_records("SZ01", form, "2026-09") != old


def test_period_and_number_mismatch(sim: Simulator, http: requests.Session) -> None:
    clean = sim.form_index("XZ01", "YQ1")
    sim.set_faults("XZ01", Faults(form_period_mismatch=True))
    for form, period, shown in (
        ("YQ1", "2026-10", "2026年1-9月"),
        ("YQ1", "2026-02", "2025年1-12月"),
        ("YQ2", "2026-Q1", "2025年1-4季度"),
        ("YQ3", "2025", "2024年"),
        ("QY1", "2026-05", "2026年1-4月"),
    ):
        body = get(http, sim, "XZ01", f"{form}/{period}.xlsx").content
        assert parse(body).meta["报告期"] == shown
        assert parse(body).meta["表号"] == form
    assert sim.form_index("XZ01", "YQ1") != clean
    sim.set_faults("XZ01", Faults(form_number_mismatch=True))
    for form, shown in (("YQ1", "YQ2"), ("YQ2", "YQ3"), ("YQ3", "YQ1"), ("QY1", "YQ1")):
        period = sim.form_periods("XZ01", form)[-1]
        meta = parse(get(http, sim, "XZ01", f"{form}/{period}.xlsx").content).meta
        assert meta["表号"] == shown
        assert meta["报告期"] == sim.form_document("XZ01", form, period).shown_period
    sim.clear_faults()
    assert sim.form_index("XZ01", "YQ1") == clean


def test_bad_enterprises_in_qy1(sim: Simulator) -> None:
    clean = sim.form_records("YQ01", "QY1", "2026-10")
    sim.set_faults("YQ01", Faults(bad_enterprises=True))
    records = sim.form_records("YQ01", "QY1", "2026-10")
    parsed = parse(sim.form_bytes("YQ01", "QY1", "2026-10"))
    assert enterprise_records(parsed) == as_decimals(records)
    in_form = [c for c in BAD_ENTERPRISES if c.in_form]
    assert len(records) == len(clean) + sum(c.action != "replace" for c in in_form)
    values = [v for r in records for v in r["values"].items()]
    assert ("employees", "12.5") in values
    assert any(code == "revenue" and v.startswith("-") for code, v in values)
    assert not any("revenue_total_typo" in r["values"] for r in records)
    codes = [r["industry_code"] for r in records]
    assert {"A10", "3011", "C3"} <= set(codes)
    usccs = [r["uscc"] for r in records]
    assert len(usccs) - len(set(usccs)) == 2  # the conflicting copy and the verbatim repeat


def test_errors_and_transport_faults(sim: Simulator, http: requests.Session) -> None:
    assert get(http, sim, "YQ01", "YQ1/index.json", token="zs-wrong").status_code == 401
    resp = http.get(f"{sim.base_url('YQ01')}/forms/YQ1/2026-10.xlsx", timeout=10)
    assert (resp.status_code, resp.json()) == (401, {"error": "unauthorized"})
    for zone, path in (
        ("TY01", "YQ1/index.json"),  # an api-v1 zone has no forms
        ("TY01", "YQ1/2026-10.xlsx"),
        ("YQ01", "YQ9/index.json"),
        ("YQ01", "YQ1/2026-11.xlsx"),  # not published yet
        ("YQ01", "YQ1/2026-Q3.xlsx"),  # not a monthly period
        ("YQ01", "YQ2/2026-10.xlsx"),
        ("YQ01", "YQ3/2026.xlsx"),
        ("YQ01", "QY1/2023-05.xlsx"),
        ("YQ01", "YQ1/2026-01.xlsx"),
        ("YQ01", "YQ1/2026-10.xls"),
    ):
        resp = get(http, sim, zone, path)
        assert (resp.status_code, resp.json()) == (404, {"error": "not found"}), (zone, path)
    # The zone still serves api-v1.
    api = http.get(
        f"{sim.base_url('YQ01')}/data/zone",
        params={"period": "2026-10"},
        headers={"Authorization": f"Bearer {sim.token('YQ01')}"},
        timeout=10,
    )
    assert api.status_code == 200
    sim.set_faults("SZ01", Faults(error_5xx=1, rate_limit=1, retry_after_s=2))
    assert get(http, sim, "SZ01", "YQ1/2026-10.xlsx").status_code == 503
    limited = get(http, sim, "SZ01", "YQ1/index.json")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert get(http, sim, "SZ01", "YQ1/2026-10.xlsx").status_code == 200
    sim.set_faults("SZ01", Faults(drop_connection=1))
    with pytest.raises(requests.exceptions.RequestException):
        get(http, sim, "SZ01", "YQ1/2026-10.xlsx")
    whole = get(http, sim, "SZ01", "YQ1/2026-10.xlsx")
    assert whole.content == sim.form_bytes("SZ01", "YQ1", "2026-10")


def test_qy1_written_in_bulk_is_the_row_by_row_file() -> None:
    # form_bytes writes a QY1 table without bad enterprises in bulk (numpy); build() lays it out
    # row by row, cell by cell: every combination of quirks, revised releases and three seeds
    # give the same bytes both ways.
    from zonesim import forms

    combos: set[frozenset[str]] = set()
    for seed, months in ((2026, range(2, 11)), (7, (3, 8)), (31337, (5, 10))):
        s = Simulator(seed=seed, as_of=AS_OF, start_year=2026, enterprise_scale=SCALE)
        for zone in FORM_ZONES:
            for month in months:
                period = f"2026-{month:02d}"
                resolved, visible = s._form_release(zone, "QY1", period)
                (revision, published), created = visible[-1], visible[0][1]
                args = (s, zone, "QY1", resolved, revision, published, created, Faults())
                bulk = forms.file_bytes(*args)
                row_by_row = forms.build(*args).to_bytes(CATALOG.zones[zone].name_zh)
                assert bulk == row_by_row, (seed, zone, period, revision)
                combos.add(s.form_quirks(zone, "QY1", period))
    # every combination the quirk table allows: spacer rows × 3, an extra sheet × 3 × a note
    # or not (a header note only comes with an odd n, as the extra sheet)
    assert len(combos) == 9


def test_listing_then_fetching_builds_each_file_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # A client lists every form (index.json builds each file, for its sha256) and then fetches
    # the files: what the listings built must still be cached, or every file is built twice.
    from zonesim import forms

    built: list[tuple[str, str]] = []
    real = forms.file_bytes

    def spy(sim: Simulator, zone: str, form: str, period: Any, *rest: Any) -> bytes:
        built.append((form, period.text))
        return real(sim, zone, form, period, *rest)

    monkeypatch.setattr(forms, "file_bytes", spy)
    s = Simulator(seed=2026, as_of=AS_OF, start_year=2025, enterprise_scale=SCALE)
    listed = [(f, p["period"]) for f in FORMS for p in s.form_index("SZ01", f)["periods"]]
    assert len(listed) > 32  # more files than the cache once held (32)
    for form, period in listed:
        s.form_bytes("SZ01", form, period)
    assert sorted(built) == sorted(listed)
