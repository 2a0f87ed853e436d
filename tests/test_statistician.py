"""What statisticians read after a nightly run: marts in SQL and Parquet, exports, the report.

The computations themselves are tested on hand-worked examples in test_marts.py and
test_publish.py; here they run on what a nightly run loaded from the simulator, through the
command line, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from conftest import AS_OF, START_YEAR
from openpyxl import load_workbook

from cli.app import main
from warehouse import marts, schema
from warehouse.paths import mart_file
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ZONES = ["TY01", "DT01", "CZ01"]


@pytest.fixture
def loaded(
    prefect_harness: None,
    warehouse_url: str,
    tmp_path: Path,
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Path, Warehouse]]:
    from zonesim import Simulator

    # a quarter of the enterprises: the marts need some, not a province's worth
    with Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR, enterprise_scale=0.25) as sim:
        for code in ZONES:
            monkeypatch.setenv(sim.token_env(code), sim.token(code))
        cfg = write_config(
            tmp_path / "zonestats.toml",
            sim,
            warehouse_url,
            tmp_path / "data",
            ZONES,
            datasets=("zone", "enterprise"),
        )
        # the run's date as the simulator's: the marts of 2025 and 2026, whatever today is
        assert main(["run", "--today", AS_OF.date().isoformat(), "--config", str(cfg)]) == 0
        yield cfg, Warehouse(load_config(cfg, shipped_catalog()).warehouse)


def test_marts_exports_and_report_from_a_loaded_year(
    loaded: tuple[Path, Warehouse], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, wh = loaded
    data_dir = wh.data_dir
    # the nightly run built the marts of the current and previous year already
    ev = marts.mart_rows(wh, "mart_zone_evaluation", 2025)
    # the zones with figures are graded; the eight without any have no grade (no row)
    assert sorted(ev["zone_code"]) == sorted(ZONES)
    assert ev["composite"].notna().all()
    # 2024 is not loaded: the growth metrics of 2025 have no base, and say so
    assert ev["missing_metrics"].str.contains("revenue_growth").all()
    assert set(ev["method_version"]) == {"2024-59.1"}
    assert sorted(ev["rank"].tolist())[0] == 1

    # evaluate again: nothing changed, nothing is rebuilt
    capsys.readouterr()
    assert main(["evaluate", "--year", "2025", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "mart_zone_evaluation 2025: unchanged" in out
    assert "rank  zone" in out

    # Parquet says what SQL says, read through DuckDB as a statistician would
    pq_file = mart_file(data_dir, "mart_zone_evaluation", 2025)
    assert pq_file.is_file()
    root = data_dir / "parquet" / "marts" / "mart_zone_evaluation"
    rows = duckdb.sql(
        f"SELECT year, zone_code, composite, rank FROM read_parquet('{root.as_posix()}/*/*.parquet',"
        " hive_partitioning = true) WHERE year = 2025 ORDER BY zone_code"
    ).fetchall()
    sql = ev.sort_values("zone_code")[["year", "zone_code", "composite", "rank"]]
    assert [(int(y), z, pytest.approx(c), int(r)) for y, z, c, r in rows] == [
        (int(y), z, c, int(r)) for y, z, c, r in sql.itertuples(index=False)
    ]

    # zone_monthly: the view in SQL and the mart in Parquet agree
    view = marts.monthly_rows(wh, 2025)
    assert not view.empty
    assert (view["month"] >= 2).all()
    feb = view[view["month"] == 2]
    # 1–2月 covers both months (a figure reported missing stays missing in both)
    assert feb["month_value"].reset_index(drop=True).equals(feb["ytd_value"].reset_index(drop=True))
    mpq = pd.read_parquet(mart_file(data_dir, "zone_monthly", 2025))
    assert len(mpq) == len(view)

    # the R&D subsidy follows the enterprises' R&D expense of 2025-12
    rd = marts.mart_rows(wh, "mart_rd_subsidy", 2025)
    assert not rd.empty
    big = rd[rd["rd_expense"] >= 1000]
    assert (big["provincial_cap"] > 0).all()
    assert (rd.loc[rd["rd_expense"] < 1000, "provincial_cap"] == 0).all()
    assert rd["city_reference"].eq(rd["rd_expense"] < 1000).all()

    # exports: xlsx cell by cell for one known figure, csv and SDMX-CSV read back
    assert main(["export", "--period", "2025-12", "--format", "xlsx", "--config", str(cfg)]) == 0
    xlsx = data_dir / "exports" / "2025-12" / "zonestats-2025-12.xlsx"
    wb = load_workbook(xlsx)
    monthly = next(ws for ws in wb.worksheets if "2025-12" in ws.title and "月" in ws.title)
    obs = marts.zone_observations(wh, 2025, 2025)
    revenue = obs[(obs["period"] == "2025-12") & (obs["indicator_code"] == "revenue")]
    header = {c.value: c.column for c in monthly[4] if c.value}
    rows_by_zone = {
        monthly.cell(r, 1).value: r
        for r in range(5, monthly.max_row + 1)
        if monthly.cell(r, 1).value
    }
    for r in revenue.itertuples():
        cell = monthly.cell(rows_by_zone[r.zone_code], header["revenue"])
        assert cell.value == pytest.approx(r.value)
    assert any("综合评价" in ws.title for ws in wb.worksheets)

    assert main(["export", "--period", "2025-12", "--format", "sdmx", "--config", str(cfg)]) == 0
    sdmx = data_dir / "exports" / "2025-12" / "zonestats-2025-12.sdmx.csv"
    with sdmx.open(encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert list(records[0]) == [
        "STRUCTURE", "STRUCTURE_ID", "ACTION", "REF_AREA", "INDICATOR", "TIME_PERIOD",
        "OBS_VALUE", "UNIT_MEASURE", "OBS_STATUS",
    ]  # fmt: skip
    ty_rev = [
        r for r in records
        if (r["REF_AREA"], r["INDICATOR"], r["TIME_PERIOD"]) == ("TY01", "revenue", "2025-12")
    ]  # fmt: skip
    assert len(ty_rev) == 1
    expected = revenue.set_index("zone_code").loc["TY01", "value"]
    assert float(ty_rev[0]["OBS_VALUE"]) == pytest.approx(expected)

    assert main(["export", "--period", "2025-12", "--format", "csv", "--config", str(cfg)]) == 0
    assert (data_dir / "exports" / "2025-12" / "zonestats-2025-12.csv").read_bytes()[:3] == (
        b"\xef\xbb\xbf"
    )
    assert main(["export", "--period", "2025-13", "--config", str(cfg)]) == 2

    # the report: HTML with the ranking, and its charts as PNG files
    assert main(["report", "--year", "2025", "--config", str(cfg)]) == 0
    html = data_dir / "reports" / "report-2025.html"
    page = html.read_text(encoding="utf-8")
    assert "TY01" in page
    pngs = list((data_dir / "reports" / "report-2025").glob("*.png"))
    assert pngs
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    for p in pngs:
        assert p.name in page

    # an accepted record moves a ledger count: the marts' inputs are no longer the same, so the
    # next run rebuilds them
    before = marts.inputs_fingerprint(wh, 2023, 2025)
    led = schema.load_ledger
    with wh.engine.begin() as conn:
        conn.execute(
            led.update()
            .where(led.c.zone_code == "TY01", led.c.period == "2025-12", led.c.dataset == "zone")
            .values(records_loaded=led.c.records_loaded + 1)
        )
    assert marts.inputs_fingerprint(wh, 2023, 2025) != before


def test_no_grades_for_a_year_without_its_figures(
    loaded: tuple[Path, Warehouse], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, wh = loaded
    # the nightly of 2026-05 built 2026 too, with data only to 2026-04: no grades for it
    assert marts.mart_rows(wh, "mart_zone_evaluation", 2026).empty
    assert not mart_file(wh.data_dir, "mart_zone_evaluation", 2026).exists()
    # 2024 was never loaded, so nobody was D in it: the watchlist of 2025 is empty
    ev = marts.mart_rows(wh, "mart_zone_evaluation", 2025)
    assert sorted(ev["zone_code"]) == sorted(ZONES)
    assert not ev["watchlist"].any()
    capsys.readouterr()
    assert main(["evaluate", "--year", "2026", "--config", str(cfg)]) == 1
    assert "no zone has loaded 2026-12, 2026-Q4, 2026" in capsys.readouterr().err
    assert marts.mart_rows(wh, "mart_zone_evaluation", 2026).empty

    # out-of-range periods: exit 2, and no rows, files or directories
    before = sorted(wh.data_dir.rglob("*"))
    assert main(["export", "--period", "2027", "--config", str(cfg)]) == 2
    assert main(["report", "--year", "2031", "--config", str(cfg)]) == 2
    assert "years loaded: 2025–2026" in capsys.readouterr().err
    assert sorted(wh.data_dir.rglob("*")) == before
    for year in (2027, 2031):
        assert marts.mart_rows(wh, "mart_zone_evaluation", year).empty
