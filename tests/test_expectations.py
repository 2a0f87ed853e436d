"""The Great Expectations checkpoint: data-driven suites, failing expectations named, offline docs."""

from __future__ import annotations

import dataclasses
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from validation.data_docs import offline_html
from validation.expectations import DqOutcome, ExpectationResult, run_checkpoint
from validation.suites import (
    ENTERPRISE_TABLE,
    ZONE_TABLE,
    checked_columns,
    enterprise_checks,
    prepare_frame,
    zone_checks,
)
from zonestats.catalog import Catalog, shipped_catalog

LOADED_AT = pd.Timestamp("2026-04-20 02:00", tz="Asia/Shanghai")
PERIOD = "2026-03"


def zone_frame(catalog: Catalog, zones: tuple[str, ...] = ("TY01", "DT01")) -> pd.DataFrame:
    """obs_zone_current rows that satisfy every expectation: all zone indicators of a few zones."""
    rows = []
    for zone in zones:
        for ind in catalog.for_dataset("zone"):
            value = ind.max / 2 if ind.max is not None else 1234.0
            rows.append(
                {
                    "zone_code": zone,
                    "indicator_code": ind.code,
                    "period": PERIOD,
                    "frequency": ind.frequency,
                    "revision": 1,
                    "value": float(round(value)) if ind.integer else value + 0.25,
                    "unit": ind.unit,
                    "status": "A",
                    "load_id": f"load-{zone}",
                    "loaded_at": LOADED_AT,
                }
            )
    frame = pd.DataFrame(rows)
    # "not reported": status M without a figure is valid
    frame.loc[frame["indicator_code"] == "green_electricity", ["value", "status"]] = [None, "M"]
    return frame


def enterprise_frame(catalog: Catalog, enterprises: int = 3) -> pd.DataFrame:
    """obs_enterprise_current rows that satisfy every expectation (long: one row per value)."""
    inds = catalog.for_dataset("enterprise")
    n = enterprises * len(inds)
    return pd.DataFrame(
        {
            "zone_code": "TY01",
            "uscc": [f"91140100MA{e:08d}" for e in range(enterprises) for _ in inds],
            "period": PERIOD,
            "revision": 1,
            "indicator_code": [i.code for _ in range(enterprises) for i in inds],
            "value": [12.0] * n,
            "unit": [i.unit for _ in range(enterprises) for i in inds],
            "load_id": "load-ent",
            "loaded_at": LOADED_AT,
        }
    )


def _set(frame: pd.DataFrame, where: pd.Series, **values: object) -> None:
    assert where.sum() == 1, "each defect is planted in exactly one row"
    for column, value in values.items():
        frame.loc[where, column] = value


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return shipped_catalog()


@pytest.fixture(scope="module")
def valid_run(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> DqOutcome:
    frames = {ZONE_TABLE: zone_frame(catalog), ENTERPRISE_TABLE: enterprise_frame(catalog)}
    return run_checkpoint(frames, catalog, tmp_path_factory.mktemp("docs-valid"), "valid-run")


# expectation id -> how many rows its defect makes unexpected: a duplicated key both copies, a
# bad credit code every value of its enterprise
PLANTED = {
    f"{ZONE_TABLE}.key_unique": 2,
    f"{ZONE_TABLE}.indicator_known": 1,
    f"{ZONE_TABLE}.value_at_most_max": 1,
    f"{ZONE_TABLE}.value_present": 1,
    f"{ZONE_TABLE}.unit_canonical": 1,
    f"{ENTERPRISE_TABLE}.uscc_format": len(shipped_catalog().for_dataset("enterprise")),
}


def invalid_frames(catalog: Catalog) -> dict[str, pd.DataFrame]:
    """Every defect planted in its own row, so each trips one expectation only."""
    zone = zone_frame(catalog)
    ty01 = zone["zone_code"] == "TY01"
    duplicate = zone[ty01 & (zone["indicator_code"] == "revenue")]
    zone = pd.concat([zone, duplicate], ignore_index=True)
    ty01 = zone["zone_code"] == "TY01"
    dt01 = zone["zone_code"] == "DT01"
    code = zone["indicator_code"]
    _set(zone, ty01 & (code == "tax_revenue"), indicator_code="tax_revenu")  # unknown code
    _set(zone, ty01 & (code == "industrial_va_growth"), value=350.0)  # max is 300
    _set(zone, dt01 & (code == "employees"), value=None)  # status stays A
    _set(zone, dt01 & (code == "industrial_output"), unit="元")  # canonical is 万元
    ent = enterprise_frame(catalog)
    # an I is not a character of the credit-code alphabet
    ent.loc[ent["uscc"] == "91140100MA00000001", "uscc"] = "91140100MA0000000I"
    return {ZONE_TABLE: zone, ENTERPRISE_TABLE: ent}


@pytest.fixture(scope="module")
def invalid_run(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> DqOutcome:
    """One run with every defect planted in its own row, so each trips one expectation only."""
    frames = invalid_frames(catalog)
    return run_checkpoint(frames, catalog, tmp_path_factory.mktemp("docs-invalid"), "bad-run")


def by_id(outcome: DqOutcome) -> dict[str, ExpectationResult]:
    return {r.expectation: r for r in outcome.results}


def test_valid_frames_pass_every_expectation(valid_run: DqOutcome) -> None:
    assert valid_run.success
    failed = [r for r in valid_run.results if not r.success]
    assert failed == []
    assert {r.table for r in valid_run.results} == {ZONE_TABLE, ENTERPRISE_TABLE}
    # the listed expectations are there, with GX's types
    results = by_id(valid_run)
    assert results[f"{ZONE_TABLE}.key_unique"].expectation_type == (
        "expect_compound_columns_to_be_unique"
    )
    assert results[f"{ENTERPRISE_TABLE}.uscc_format"].expectation_type == (
        "expect_column_values_to_match_regex"
    )
    assert results[f"{ZONE_TABLE}.key_unique"].observed_value == "0 unexpected of 48"
    assert "zone_code" in results[f"{ZONE_TABLE}.key_unique"].details
    assert "where status != " in results[f"{ZONE_TABLE}.value_present"].details


def test_each_defect_fails_exactly_its_expectation(invalid_run: DqOutcome) -> None:
    assert not invalid_run.success
    failed = {r.expectation: r for r in invalid_run.results if not r.success}
    assert set(failed) == set(PLANTED)
    for expectation, unexpected in PLANTED.items():
        assert failed[expectation].observed_value.startswith(f"{unexpected} unexpected of "), (
            failed[expectation]
        )


def test_failed_results_quote_the_offending_values(invalid_run: DqOutcome) -> None:
    results = by_id(invalid_run)
    assert "tax_revenu" in results[f"{ZONE_TABLE}.indicator_known"].observed_value
    assert "91140100MA0000000I" in results[f"{ENTERPRISE_TABLE}.uscc_format"].observed_value
    assert '["元", "万元"]' in results[f"{ZONE_TABLE}.unit_canonical"].observed_value
    assert all(len(r.observed_value) <= 500 for r in invalid_run.results)


def test_missing_or_empty_frames_are_skipped(catalog: Catalog, tmp_path: Path) -> None:
    empty = enterprise_frame(catalog).iloc[0:0]
    outcome = run_checkpoint({ENTERPRISE_TABLE: empty}, catalog, tmp_path / "docs", "nothing")
    assert outcome == DqOutcome(success=True, results=[], docs_index=None)


def test_a_missing_column_fails_the_expectations_naming_it(
    catalog: Catalog, tmp_path: Path
) -> None:
    zone = zone_frame(catalog, zones=("TY01",)).drop(columns=["unit"])
    outcome = run_checkpoint({ZONE_TABLE: zone}, catalog, tmp_path / "docs", "no-unit")
    failed = {r.expectation: r for r in outcome.results if not r.success}
    assert set(failed) == {f"{ZONE_TABLE}.unit_not_null", f"{ZONE_TABLE}.unit_canonical"}
    assert all('"unit"' in r.observed_value for r in failed.values())
    assert outcome.docs_index is not None


def test_chunks_add_up_to_what_one_pass_finds(
    catalog: Catalog, invalid_run: DqOutcome, tmp_path: Path
) -> None:
    """A table validated in chunks (a release never split) gives the counts of one pass."""
    frames = invalid_frames(catalog)
    zone = frames[ZONE_TABLE]
    # a zone's rows are one release here: a chunk per zone keeps the duplicate key in one chunk
    chunks = {
        ZONE_TABLE: [zone[zone["zone_code"] == z] for z in ("TY01", "DT01")],
        ENTERPRISE_TABLE: [frames[ENTERPRISE_TABLE].iloc[:8], frames[ENTERPRISE_TABLE].iloc[8:]],
    }
    outcome = run_checkpoint(chunks, catalog, tmp_path / "docs", "chunked")
    assert [(r.expectation, r.success, r.observed_value) for r in outcome.results] == [
        (r.expectation, r.success, r.observed_value) for r in invalid_run.results
    ]
    # the Data Docs show one validation per table, the chunks added up
    index = outcome.docs_index
    assert index is not None
    links = [r for r in parse(index).refs if r.startswith("validations/")]
    assert len(links) == 2


def test_prepare_frame_takes_the_catalog_per_indicator(catalog: Catalog) -> None:
    frame = pd.DataFrame(
        {
            "indicator_code": ["revenue", "above_scale_enterprises", "no_such_code", None],
            "value": [1.5, 12.5, 3.0, None],
            "unit": ["万元", "个", "x", None],
        }
    )
    out = prepare_frame(frame, catalog, "zone")
    rev = catalog.indicators[("zone", "revenue")]
    assert list(out["catalog_unit"].astype(object))[:2] == [rev.unit, "个"]
    assert out["catalog_unit"].iloc[2:].isna().all()  # unknown or missing code: nothing
    assert out["catalog_min"].iloc[0] == rev.min
    assert out["catalog_min"].iloc[2:].isna().all()
    # whole numbers only where the indicator counts things
    assert out["integer_remainder"].iloc[0] != out["integer_remainder"].iloc[0]  # NaN
    assert out["integer_remainder"].iloc[1] == 0.5
    # unit and catalog_unit share their categories, so GX may compare them
    assert list(out["unit"].cat.categories) == list(out["catalog_unit"].cat.categories)
    assert frame["unit"].dtype != "category"  # the caller's frame is left alone


def test_checked_columns_are_what_the_checks_name(catalog: Catalog) -> None:
    assert checked_columns(ENTERPRISE_TABLE, catalog) == (
        "indicator_code", "value", "zone_code", "uscc", "period", "unit",
    )  # fmt: skip
    assert set(checked_columns(ZONE_TABLE, catalog)) == {
        "zone_code", "indicator_code", "period", "frequency", "unit", "status", "value",
    }  # fmt: skip


def test_suites_follow_the_catalog(catalog: Catalog) -> None:
    """Codes, bounds and integer flags come from the catalog, not from this module."""
    zone = {c.name: c for c in zone_checks(catalog)}
    codes = [i.code for i in catalog.for_dataset("zone")]
    assert zone["indicator_known"].kwargs["value_set"] == codes
    assert {"value_at_least_min", "value_at_most_max", "value_integer"} <= set(zone)
    # no enterprise indicator has a max, so there is nothing to check against one
    assert "value_at_most_max" not in {c.name for c in enterprise_checks(catalog)}
    tiny = Catalog(
        zones=catalog.zones,
        indicators={
            ("enterprise", "revenue"): dataclasses.replace(
                catalog.indicators[("enterprise", "revenue")], min=None, max=1e9
            )
        },
    )
    names = {c.name for c in enterprise_checks(tiny)}
    assert "value_at_most_max" in names
    assert "value_at_least_min" not in names
    assert "value_integer" not in names


class _Refs(HTMLParser):
    """Every src= and href= of a page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: Path) -> _Refs:
    refs = _Refs()
    refs.feed(page.read_text(encoding="utf-8"))
    return refs


def test_data_docs_are_written_and_work_offline(invalid_run: DqOutcome) -> None:
    index = invalid_run.docs_index
    assert index is not None
    assert index.name == "index.html"
    assert index.is_file()
    pages = list(index.parent.rglob("*.html"))
    assert len(pages) >= 5  # the index, two suites, two validation results
    for page in pages:
        parsed = parse(page)
        external = [r for r in parsed.refs if r.lower().startswith(("http://", "https://"))]
        assert external == [], page
        # nor a stylesheet (GX's dark-mode logo is a CSS background from S3)
        assert not re.search(r"url\(\s*[\"']?https?://", page.read_text(encoding="utf-8")), page
    parsed = parse(index)
    # the index table is static HTML now (GX draws it with jQuery from a CDN)
    assert "bad-run" in " ".join(parsed.text)
    links = [r for r in parsed.refs if r.startswith("validations/")]
    assert len(links) == 2
    for link in links:
        assert (index.parent / link).is_file(), link
    zone_page = next(
        p for p in pages if p.name.endswith(f"{ZONE_TABLE}.html") and "bad-run" in p.parts
    )
    text = zone_page.read_text(encoding="utf-8")
    assert "tax_revenu" in text
    assert "showAllValidations" in text  # the Failed Only filter works without jQuery


def test_every_local_link_of_every_data_docs_page_resolves(invalid_run: DqOutcome) -> None:
    from urllib.parse import unquote, urlparse

    assert invalid_run.docs_index is not None
    site = invalid_run.docs_index.parent
    missing = []
    for page in site.rglob("*.html"):
        for ref in parse(page).refs:
            url = urlparse(ref)
            if url.scheme or not url.path:  # an in-page anchor, data:, javascript:
                continue
            if not (page.parent / unquote(url.path)).resolve().is_file():
                missing.append((str(page.relative_to(site)), ref))
    # the favicon of a validation page was linked one directory too high
    assert missing == []


def test_a_validation_page_names_its_data_asset(invalid_run: DqOutcome) -> None:
    assert invalid_run.docs_index is not None
    site = invalid_run.docs_index.parent
    for table in (ZONE_TABLE, ENTERPRISE_TABLE):
        (page,) = (p for p in (site / "validations").rglob("*.html") if table in p.parts)
        text = " ".join(" ".join(parse(page).text).split())
        assert f"Data asset: {table}" in text, page
        assert "Data asset: None" not in text


def test_offline_html_strips_external_references() -> None:
    page = (
        '<html><head><link rel="stylesheet" href="https://cdn.example/b.css"/>'
        '<script src="https://code.example/jq.js"></script>'
        "<style>.a { background: url('https://s3.example/logo.png') }</style></head>"
        '<body><img src="https://s3.example/logo.png?ctx=1" alt="x">'
        '<a href="https://greatexpectations.io">GX</a><footer><a href="https://x">news</a></footer>'
        '<table id="t" data-toggle="table"></table>'
        "<script>$('#t').bootstrapTable(Object.assign({columns: [{'field': 'run_name', "
        '\'title\': \'Run Name\'}], data: [{"run_name": "r1", "_table_row_link_path": '
        "\"validations/r1.html\"}], toolbar: '#t-toolbar'}, {}));</script></body></html>"
    )
    out = offline_html(page)
    assert "https://" not in out
    assert "<th>Run Name</th>" in out
    assert '<a href="validations/r1.html">r1</a>' in out
    assert ">GX<" in out
    assert offline_html(out) == out


def test_timing_50k_enterprise_rows(catalog: Catalog, tmp_path: Path, valid_run: DqOutcome) -> None:
    """Prints the time of a checkpoint over 50,000 enterprise values (GX already imported)."""
    ent = enterprise_frame(catalog, enterprises=6250)
    assert len(ent) == 50_000
    started = time.perf_counter()
    outcome = run_checkpoint(
        {ZONE_TABLE: zone_frame(catalog).iloc[0:0], ENTERPRISE_TABLE: ent},
        catalog,
        tmp_path / "docs",
        "bench",
    )
    elapsed = time.perf_counter() - started
    print(f"\nrun_checkpoint over {len(ent):,} enterprise rows: {elapsed:.2f} s")
    assert outcome.success
    # the empty zone frame is skipped
    assert {r.table for r in outcome.results} == {ENTERPRISE_TABLE}
