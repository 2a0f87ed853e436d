"""What the warehouse held when: ``zonestats asof``, the history views, exports ``--as-of``.

A warehouse built from simulator runs at three points in time (the simulator's as-of and its
forced revisions), on a clock the test sets (``travel``): the figures of a release before and
after its revision, a record an operator accepted later, the same answer from SQL, the CLI,
DuckDB over Parquet and the exports. Expected figures come from the simulator's ground truth.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cli.app import main
from warehouse.history import observations_as_of, release_revisions
from warehouse.paths import revisions_file
from warehouse.store import Warehouse
from zonesim.faults import Faults
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.models import utc

CST = timezone(timedelta(hours=8))
ZONE = "TY01"
REVISED = "2026-03"  # revised by the zone between the first and the second run
ACCEPTED = "2026-04"  # carries bad records; one is accepted after the third run


def cst(text: str) -> datetime:
    """A moment written in Beijing time."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


class Province:
    """One zone, both datasets, runs on days of the test's choosing."""

    def __init__(self, sim: Any, cfg: Path, wh: Warehouse, travel: Any) -> None:
        self.sim, self.cfg, self.wh, self.travel = sim, cfg, wh, travel

    def run(self, day: str, capsys: pytest.CaptureFixture[str] | None = None) -> str:
        """The zone's system as of that evening, then the nightly run of that day at 21:00."""
        self.sim.as_of = cst(f"{day} 20:00")
        self.travel(cst(f"{day} 21:00"))
        if capsys is not None:
            capsys.readouterr()
        assert main(["run", "--today", day, "--config", str(self.cfg)]) == 0
        return capsys.readouterr().out if capsys is not None else ""

    def cli(self, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
        """Run a zonestats command against this warehouse; its stdout (exit 0 asserted)."""
        capsys.readouterr()
        assert main([*argv, "--config", str(self.cfg)]) == 0
        return capsys.readouterr().out

    def truth(self, dataset: str, period: str, revision: int) -> dict[Any, float]:
        """The simulator's figures of a revision: indicator (or (uscc, indicator)) -> value."""
        values = self.sim.canonical_values(ZONE, dataset, period, revision)
        if dataset == "zone":
            return {k: float(v) for k, v in values.items() if v is not None}
        return {(u, k): float(v) for u, row in values.items() for k, v in row.items()}


@pytest.fixture
def province(
    warehouse_url: str,
    tmp_path: Path,
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
    travel: Any,
) -> Iterator[Province]:
    from zonesim import Simulator

    sim = Simulator(
        seed=2026, as_of=cst("2026-04-17 20:00"), start_year=2026, enterprise_scale=0.05
    ).start()
    try:
        monkeypatch.setenv(sim.token_env(ZONE), sim.token(ZONE))
        sim.set_faults(ZONE, Faults(bad_records=True, bad_records_periods=(ACCEPTED,)))
        cfg = write_config(
            tmp_path / "zonestats.toml", sim, warehouse_url, tmp_path / "data", [ZONE]
        )
        yield Province(sim, cfg, Warehouse(load_config(cfg, shipped_catalog()).warehouse), travel)
    finally:
        sim.stop()


def _held(
    frame: pd.DataFrame, period: str, key: tuple[str, ...] = ("indicator_code",)
) -> dict[Any, float]:
    rows = frame[(frame["period"] == period) & frame["value"].notna()]
    if len(key) == 1:
        return dict(zip(rows[key[0]], rows["value"], strict=True))
    return dict(zip(zip(*(rows[k] for k in key), strict=True), rows["value"], strict=True))


def _csv(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), dtype={"period": str})


@pytest.mark.slow
def test_asof_before_and_after_a_revision_and_an_accept(
    province: Province, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    p, wh = province, province.wh
    # 04-17: 2026-02 and 2026-03 at their first revision
    p.run("2026-04-17")
    first = {d: p.sim.latest_revision(ZONE, d, REVISED) for d in ("zone", "enterprise")}
    # 04-24: the zone revises 2026-03 (both datasets); Q1 comes out on 04-20
    p.sim.as_of = cst("2026-04-24 20:00")
    second = {d: p.sim.publish_revision(ZONE, d, REVISED) for d in ("zone", "enterprise")}
    out = p.run("2026-04-24", capsys)
    # 05-18: 2026-04 comes out with bad records held out
    p.run("2026-05-18")

    revisions = release_revisions(wh, ZONE, "zone", REVISED)
    assert list(revisions["revision"]) == [first["zone"], second["zone"]]
    old, new = revisions.itertuples()
    assert old.superseded_at == new.loaded_at  # the revision replaced the old one as it loaded
    assert pd.isna(new.superseded_at)
    assert cst("2026-04-24 21:00") <= new.loaded_at < cst("2026-04-24 22:00")

    old_zone, new_zone = (
        p.truth("zone", REVISED, first["zone"]),
        p.truth("zone", REVISED, second["zone"]),
    )
    changed = {k for k in new_zone if old_zone.get(k) != new_zone[k]}
    assert changed  # the revision moved some figures, and left the others alone

    # before the first run nothing was held; on 04-17 the first revision; on 04-24 the second
    assert observations_as_of(wh, "zone", cst("2026-04-16 23:59")).empty
    on_17 = observations_as_of(wh, "zone", cst("2026-04-17 23:59:59"), ZONE)
    assert set(on_17.loc[on_17["period"] == REVISED, "revision"]) == {first["zone"]}
    assert _held(on_17, REVISED) == pytest.approx(old_zone)
    on_24 = observations_as_of(wh, "zone", cst("2026-04-24 23:59:59"), ZONE)
    assert set(on_24.loc[on_24["period"] == REVISED, "revision"]) == {second["zone"]}
    assert _held(on_24, REVISED) == pytest.approx(new_zone)
    assert ACCEPTED not in set(on_24["period"])  # not loaded before 05-18

    # the enterprises too: each enterprise's figures of the day
    ent_17 = observations_as_of(wh, "enterprise", cst("2026-04-17 23:59:59"), ZONE, [REVISED])
    ent_24 = observations_as_of(wh, "enterprise", cst("2026-04-24 23:59:59"), ZONE, [REVISED])
    key = ("uscc", "indicator_code")
    assert _held(ent_17, REVISED, key) == pytest.approx(
        p.truth("enterprise", REVISED, first["enterprise"])
    )
    assert _held(ent_24, REVISED, key) == pytest.approx(
        p.truth("enterprise", REVISED, second["enterprise"])
    )

    # the run that loaded the revisions noted them, each with its largest change
    notes = out[out.index("arrived as a revision (2;") :].splitlines()[1:3]
    assert notes[0].startswith(f"    {ZONE} enterprise {REVISED} r{first['enterprise']} → r2: ")
    assert notes[1].startswith(f"    {ZONE} zone {REVISED} r{first['zone']} → r2: ")
    assert f"{len(changed)} changed" in notes[1]
    assert ", largest: " in notes[1]

    # diff: exactly the indicators whose figures the simulator's revision changed
    diff = [json.loads(line) for line in p.cli(capsys, "diff", "--zone", ZONE, "--dataset", "zone",
                                              "--period", REVISED, "--json").splitlines()]  # fmt: skip
    assert {r["change"] for r in diff} == {"changed"}  # no record came or went
    assert {(r["from_revision"], r["to_revision"]) for r in diff} == {
        (first["zone"], second["zone"])
    }
    moved = {r["indicator_code"]: r for r in diff if r["old_value"] != r["new_value"]}
    assert set(moved) == changed
    for code, r in moved.items():
        assert (r["old_value"], r["new_value"]) == pytest.approx((old_zone[code], new_zone[code]))
        assert r["difference"] == pytest.approx(new_zone[code] - old_zone[code])
        assert r["percent"] == pytest.approx((new_zone[code] / old_zone[code] - 1) * 100)
    # the rest of the rows: figures the revision made final (P → A), values unchanged
    assert all(r["old_status"] != r["new_status"] for r in diff if r["indicator_code"] not in moved)
    ent = [json.loads(line) for line in p.cli(capsys, "diff", "--zone", ZONE, "--dataset", "enterprise",
                                             "--period", REVISED, "--json").splitlines()]  # fmt: skip
    old_ent = p.truth("enterprise", REVISED, first["enterprise"])
    new_ent = p.truth("enterprise", REVISED, second["enterprise"])
    assert {(r["uscc"], r["indicator_code"]) for r in ent} == {
        k for k in set(old_ent) | set(new_ent) if old_ent.get(k) != new_ent.get(k)
    }
    # the table an operator reads, and the defaults: the last two loaded revisions
    table = p.cli(capsys, "diff", "--zone", ZONE, "--dataset", "zone", "--period", REVISED)
    assert table.startswith(
        f"{ZONE} zone {REVISED}: revision {first['zone']} (loaded 2026-04-17 21:0"
    )
    assert f"{len(diff)} changed, 0 added, 0 removed" in table
    assert table == p.cli(
        capsys, "diff", "--zone", ZONE, "--dataset", "zone", "--period", REVISED,
        "--from", str(first["zone"]), "--to", str(second["zone"]),
    )  # fmt: skip
    capsys.readouterr()
    argv = [
        "diff",
        "--zone",
        ZONE,
        "--dataset",
        "zone",
        "--period",
        "2026-02",
        "--config",
        str(p.cfg),
    ]
    assert main(argv) == 2
    assert "TY01 zone 2026-02: nothing to compare (loaded: r1)" in capsys.readouterr().err
    assert main([*argv[:-2], "--to", "7", "--config", str(p.cfg)]) == 2
    assert "revision 7 is not loaded (loaded: r1)" in capsys.readouterr().err

    # the CLI: as of the end of a day in Beijing time, from SQL
    text = p.cli(
        capsys,
        "asof",
        "--date",
        "2026-04-17",
        "--zone",
        ZONE,
        "--period",
        REVISED,
        "--format",
        "csv",
    )
    rows = _csv(text)
    assert set(rows["revision"]) == {first["zone"]}
    assert dict(zip(rows["indicator_code"], rows["value"], strict=True)) == pytest.approx(
        {k: v for k, v in old_zone.items()}
    )
    text = p.cli(
        capsys,
        "asof",
        "--date",
        "2026-04-24",
        "--zone",
        ZONE,
        "--period",
        REVISED,
        "--format",
        "csv",
    )
    assert dict(
        zip(_csv(text)["indicator_code"], _csv(text)["value"], strict=True)
    ) == pytest.approx(new_zone)
    table = p.cli(capsys, "asof", "--date", "2026-04-24", "--zone", ZONE, "--period", REVISED)
    assert table.startswith(
        f"{ZONE} zone {REVISED} figures as the warehouse held them at 2026-04-24 23:59 "
        f"(Asia/Shanghai): 1 release, {(on_24['period'] == REVISED).sum()} values"
    )
    assert "no TY01 zone 2026-03 figures were held at 2026-04-16 23:59" in p.cli(
        capsys, "asof", "--date", "2026-04-16", "--zone", ZONE, "--period", REVISED
    )
    out = tmp_path / "asof.parquet"
    p.cli(
        capsys,
        "asof",
        "--date",
        "2026-04-17",
        "--dataset",
        "enterprise",
        "--format",
        "parquet",
        "--out",
        str(out),
    )
    parquet = pd.read_parquet(out)
    assert set(parquet.loc[parquet["period"] == REVISED, "revision"]) == {first["enterprise"]}
    assert len(parquet) == len(
        observations_as_of(wh, "enterprise", cst("2026-04-17 23:59:59.999999"))
    )

    # an operator accepts a held-out record on 05-20: as of 05-19 it is not there, as of 05-20 it is
    held = json.loads(
        next(
            line
            for line in p.cli(
                capsys, "quarantine", "list", "--zone", ZONE, "--open", "--json"
            ).splitlines()
            if '"value_below_min"' in line and f'"{ACCEPTED}"' in line
        )
    )
    indicator = held["record_key"]
    p.travel(cst("2026-05-20 10:00"))
    p.cli(capsys, "quarantine", "accept", str(held["quarantine_id"]), "--note", "园区已书面说明")
    before = observations_as_of(wh, "zone", cst("2026-05-19 23:59:59"), ZONE, [ACCEPTED])
    after = observations_as_of(wh, "zone", cst("2026-05-20 23:59:59"), ZONE, [ACCEPTED])
    assert indicator not in set(before["indicator_code"])
    assert set(after["indicator_code"]) == set(before["indicator_code"]) | {indicator}
    if wh.engine.dialect.name == "sqlite":
        # the accept's commit is stored as every load's: UTC text without an offset, so that
        # the text comparisons of an as-of query (docs/data-dictionary.md) order them right
        with wh.engine.connect() as conn:
            texts = conn.exec_driver_sql("SELECT loaded_at FROM load_commit").scalars().all()
        assert [t for t in texts if "+" in t] == []

    # the same answers from DuckDB over Parquet, as docs/data-dictionary.md shows it
    p.run("2026-05-21")  # the end of a run rewrites release_revision.parquet
    assert revisions_file(wh.data_dir).exists()
    for day in ("2026-04-17", "2026-04-24", "2026-05-19", "2026-05-20"):
        at = cst(f"{day} 23:59:59.999999")
        sql = observations_as_of(wh, "zone", at)
        duck = _duckdb_as_of(wh.data_dir, at)
        assert sorted(
            zip(duck["period"], duck["indicator_code"], duck["revision"], strict=True)
        ) == sorted(zip(sql["period"], sql["indicator_code"], sql["revision"], strict=True)), day


def _duckdb_as_of(data_dir: Path, at: datetime) -> pd.DataFrame:
    import duckdb

    root = data_dir / "parquet"
    moment = at.isoformat()
    query = f"""
        SELECT o.zone_code, o.period, o.indicator_code, o.revision, o.value
        FROM read_parquet('{root.as_posix()}/obs_zone/*/*/*.parquet', hive_partitioning = true) o
        JOIN read_parquet('{revisions_file(data_dir).as_posix()}') r
          ON r.dataset = 'zone' AND r.zone_code = o.zone_code AND r.period = o.period
         AND r.revision = o.revision
        WHERE o.loaded_at <= TIMESTAMPTZ '{moment}'
          AND (r.superseded_at IS NULL OR r.superseded_at > TIMESTAMPTZ '{moment}')
    """
    with duckdb.connect() as conn:
        return conn.execute(query).df()


@pytest.mark.slow
def test_export_as_of_gives_the_figures_of_that_day(
    province: Province, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    p = province
    p.run("2026-04-17")
    first = p.sim.latest_revision(ZONE, "zone", REVISED)
    p.sim.as_of = cst("2026-04-24 20:00")
    second = p.sim.publish_revision(ZONE, "zone", REVISED)
    p.run("2026-04-24")
    old, new = p.truth("zone", REVISED, first), p.truth("zone", REVISED, second)
    code = next(k for k in new if old.get(k) != new[k])

    def sdmx(*extra: str) -> dict[str, str]:
        out = tmp_path / f"sdmx{len(extra)}.csv"
        p.cli(capsys, "export", "--period", REVISED, "--format", "sdmx", "--out", str(out), *extra)
        with out.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        return {r["INDICATOR"]: r["OBS_VALUE"] for r in rows if r["TIME_PERIOD"] == REVISED}

    assert float(sdmx("--as-of", "2026-04-17")[code]) == pytest.approx(old[code])
    assert float(sdmx()[code]) == pytest.approx(new[code])

    # the workbook of that day: the old figure, and a title that says whose figures they are
    written = p.cli(capsys, "export", "--period", REVISED, "--as-of", "2026-04-17")
    path = p.wh.data_dir / "exports" / REVISED / f"zonestats-{REVISED}-asof-2026-04-17.xlsx"
    assert written.strip() == f"written: {path}"
    ws = load_workbook(path)[f"月报 {REVISED}"]
    codes = [c.value for c in ws[4]]
    row = next(r for r in ws.iter_rows(min_row=5) if r[0].value == ZONE)
    assert float(row[codes.index(code)].value) == pytest.approx(old[code])
    assert "2026-04-17 日终（北京时间）所存版本" in str(ws.cell(1, 1).value)

    # a day before anything of the period was loaded: nothing written, exit 2
    capsys.readouterr()
    assert (
        main(["export", "--period", REVISED, "--as-of", "2026-04-16", "--config", str(p.cfg)]) == 2
    )
    assert (
        "no zone figures of the period 2026-03 were loaded by the end of 2026-04-16"
        in capsys.readouterr().err
    )


def test_the_revision_current_at_a_moment_is_the_highest_loaded_by_then(
    warehouse_url: str, tmp_path: Path
) -> None:
    """By hand: a revision loaded out of order, an accept into a superseded one, a rejection."""
    import sqlalchemy as sa
    from pydantic import SecretStr

    from warehouse import schema
    from zonestats.config import WarehouseSettings

    wh = Warehouse(WarehouseSettings(SecretStr(warehouse_url), tmp_path / "data"))
    wh.ensure_schema(shipped_catalog())
    # in UTC, as the warehouse writes them (SQLite keeps a timestamp's fields, not its offset)
    t1, t2, t3, t4 = (utc(cst(f"2026-04-{d} 21:00")) for d in (17, 20, 24, 28))
    # r1 loads on 04-17; r3 on 04-20 (before r2: a late backfill loads r2 on 04-24);
    # r4 is rejected on 04-28, the day an operator accepts a record of r1 (superseded by then)
    loads = [(1, "loaded", t1), (3, "loaded", t2), (2, "loaded", t3), (4, "rejected", t4)]
    ledger, commits, rows = [], [], []
    for n, (revision, status, at) in enumerate(loads, start=1):
        load_id = f"00000000-0000-4000-8000-{n:012d}"
        ledger.append(
            {"zone_code": ZONE, "dataset": "zone", "period": REVISED, "revision": revision,
             "frequency": "M", "status": status, "attempts": 1, "load_id": load_id,
             "started_at": at, "finished_at": at}
        )  # fmt: skip
        commits.append((load_id, at, revision))
    commits.append((ledger[0]["load_id"], t4, 1))  # the accept: r1's load id, a later commit
    with wh.engine.begin() as conn:
        conn.execute(sa.insert(schema.load_ledger), ledger)
        for no, (load_id, at, revision) in enumerate(commits, start=1):
            conn.execute(
                sa.insert(schema.load_commit).values(
                    load_no=no, load_id=load_id, loaded_at=at, zone_code=ZONE, dataset="zone",
                    period=REVISED, revision=revision, obs_rows=1, quarantine_rows=0,
                )
            )  # fmt: skip
            if revision == 4:
                continue  # a rejected load commits no observation
            code = "tax_revenue" if no == 5 else "revenue"
            rows.append(
                {"zone_code": ZONE, "period": REVISED, "revision": revision, "indicator_code": code,
                 "frequency": "M", "value": float(revision * 100 + no), "unit": "万元",
                 "status": "A", "load_no": no}
            )  # fmt: skip
        conn.execute(sa.insert(schema.obs_zone_base), rows)

    revisions = release_revisions(wh, ZONE, "zone", REVISED).set_index("revision")
    assert list(revisions.index) == [1, 2, 3]  # the rejected r4 is no revision of the release
    assert revisions.loc[1, "superseded_at"] == t2  # r3 loaded first
    assert revisions.loc[2, "superseded_at"] == t2  # superseded before it loaded: never current
    assert pd.isna(revisions.loc[3, "superseded_at"])

    def held(at: datetime) -> set[tuple[int, str]]:
        frame = observations_as_of(wh, "zone", at, ZONE, [REVISED])
        return set(zip(frame["revision"], frame["indicator_code"], strict=True))

    assert held(t1 - timedelta(seconds=1)) == set()
    assert held(t1) == {(1, "revenue")}  # loaded_at <= X: held from the moment it loaded
    assert held(t2 - timedelta(microseconds=1)) == {(1, "revenue")}
    assert held(t2) == held(t3) == held(t4 + timedelta(days=1)) == {(3, "revenue")}


def test_asof_on_a_warehouse_before_the_history_views_says_to_upgrade(
    warehouse_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import SecretStr

    from warehouse import migrate
    from zonestats.config import WarehouseSettings

    wh = Warehouse(WarehouseSettings(SecretStr(warehouse_url), tmp_path / "data"))
    migrate.upgrade(wh.engine, "0005")
    cfg = tmp_path / "zonestats.toml"
    cfg.write_text(
        f'[warehouse]\nurl = "{warehouse_url}"\ndata_dir = "{(tmp_path / "data").as_posix()}"\n'
    )
    for argv in (["asof", "--date", "2026-04-17"], ["diff", "--zone", ZONE, "--dataset", "zone",
                                                    "--period", REVISED]):  # fmt: skip
        assert main([*argv, "--config", str(cfg)]) == 2
        assert "predates the history views: `zonestats db upgrade`" in capsys.readouterr().err
    assert migrate.current(wh.engine) == "0005"  # a reader migrates nothing
