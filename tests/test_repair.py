"""Warehouse.repair, deterministically: what a killed run leaves behind, made by hand.

tests/test_large_release.py kills a real load at a random moment, so which of repair's cases it
reaches is chance. Here releases are loaded through the real pipeline (run_release against the
simulator), then each leftover is made on purpose: a committed release without its Parquet files,
hidden temp files and staging work directories whose ages are set with os.utime, never slept for.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Table, select

from tasks.extract import list_zone_releases
from tasks.load import STALE_WORK_FILES, prepare_warehouse
from tasks.release import run_release
from warehouse import schema
from warehouse.paths import release_file
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, load_config
from zonestats.models import ReleaseKey, utc

ZONE = "DT01"  # the smallest zone: its enterprise release loads in well under a second
# Ages relative to the stale threshold: far enough on either side of it that the few seconds a
# test takes can never carry a file across it.
STALE_AGE_S = 2 * STALE_WORK_FILES.total_seconds()
LIVE_AGE_S = STALE_WORK_FILES.total_seconds() / 2
# Columns the Parquet tree leaves out: zone_code is in the partition path, raw stays in SQL.
NOT_IN_PARQUET = ("zone_code", "raw")


@dataclass(frozen=True)
class Loaded:
    """A warehouse with three releases of DT01 loaded by run_release."""

    config: AppConfig
    wh: Warehouse
    clean: ReleaseKey  # zone 2026-Q1, loaded without faults: no quarantine row, no such file
    zone: ReleaseKey  # zone 2026-03 with the bad records: observations and quarantine
    enterprise: ReleaseKey  # enterprise 2026-03 with the bad enterprises: both too

    @property
    def data_dir(self) -> Path:
        """The warehouse's data directory."""
        return self.wh.data_dir

    def repair(self) -> list[str]:
        """Repair as the nightly does, with its stale threshold."""
        return self.wh.repair(STALE_WORK_FILES)


@pytest.fixture
def loaded(simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any) -> Loaded:
    """Load DT01's zone 2026-Q1 cleanly, then its zone and enterprise 2026-03 with bad records."""
    from zonesim import Faults

    cfg = write_config(tmp_path / "z.toml", simulator, warehouse_url, tmp_path / "d", [ZONE])
    config = load_config(cfg, shipped_catalog())
    prepare_warehouse(config.warehouse, shipped_catalog())
    source = config.zones[0]
    refs = {
        (r.dataset, r.period): r
        for ds in source.datasets
        for r in list_zone_releases(source, config.http, ds, None)
    }

    def load(dataset: str, period: str) -> ReleaseKey:
        outcome = run_release(source, config, refs[dataset, period], flow_run_id="test")
        assert outcome.status == "loaded", outcome
        return outcome.key

    clean = load("zone", "2026-Q1")
    simulator.set_faults(ZONE, Faults(bad_records=True, bad_enterprises=True))
    done = Loaded(
        config,
        Warehouse(config.warehouse),
        clean,
        load("zone", "2026-03"),
        load("enterprise", "2026-03"),
    )
    assert sql_rows(done, done.zone, schema.quarantine)  # the cases below need quarantine rows
    assert sql_rows(done, done.enterprise, schema.quarantine)
    assert not sql_rows(done, done.clean, schema.quarantine)
    return done


def obs_table(key: ReleaseKey) -> Table:
    """The observation table of a release's dataset."""
    return schema.OBS_TABLES[key.dataset]


def parquet_file(loaded: Loaded, key: ReleaseKey, table: Table) -> Path:
    """Where a release's Parquet file of a table lives."""
    return release_file(loaded.data_dir, table.name, key)


def _load_id(loaded: Loaded, key: ReleaseKey) -> str:
    led = schema.load_ledger.c
    with loaded.wh.connect() as conn:
        return str(
            conn.execute(
                select(led.load_id).where(
                    led.zone_code == key.zone_code,
                    led.dataset == key.dataset,
                    led.period == key.period,
                    led.revision == key.revision,
                    led.status == "loaded",
                )
            ).scalar_one()
        )


def _value(value: Any) -> Any:
    # SQLite hands back naive UTC timestamps, PostgreSQL aware ones, Arrow aware UTC ones
    return utc(value) if isinstance(value, datetime) else value


def _sort_key(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns if c.name not in NOT_IN_PARQUET]


def sql_rows(loaded: Loaded, key: ReleaseKey, table: Table) -> list[dict[str, Any]]:
    """The release's rows of a table in SQL, as the Parquet file should carry them, sorted."""
    with loaded.wh.connect() as conn:
        rows = conn.execute(select(table).where(table.c.load_id == _load_id(loaded, key)))
        out = [
            {k: _value(v) for k, v in row.items() if k not in NOT_IN_PARQUET}
            for row in rows.mappings()
        ]
    order = _sort_key(table)
    return sorted(out, key=lambda r: [r[c] for c in order])


def file_rows(path: Path, table: Table) -> list[dict[str, Any]]:
    """The rows of one Parquet file, values normalized like sql_rows, sorted."""
    out = [{k: _value(v) for k, v in r.items()} for r in pq.read_table(path).to_pylist()]
    order = _sort_key(table)
    return sorted(out, key=lambda r: [r[c] for c in order])


def sorted_table(path: Path, table: Table) -> pa.Table:
    """A Parquet file as an Arrow table in key order (SQL returns rows in no set order)."""
    return pq.read_table(path).sort_by([(c, "ascending") for c in _sort_key(table)])


def tree(root: Path) -> dict[str, tuple[int, str | None]]:
    """Every path under root: its mtime and, for a file, the digest of its bytes."""
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None,
        )
        for p in root.rglob("*")
    }


def age(path: Path, seconds: float) -> None:
    """Make a file or directory look last modified ``seconds`` ago."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def temp_beside(final: Path) -> Path:
    """A hidden temp file named as parquet.TempParquet names them, beside a final file."""
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"PAR1 half a file")
    return tmp


def work_dir(loaded: Loaded, key: ReleaseKey) -> Path:
    """One attempt's staging directory with the files a run puts there."""
    attempt = release_file(loaded.data_dir, "staging", key) / uuid.uuid4().hex
    attempt.mkdir(parents=True)
    (attempt / "pages.jsonl").write_text('{"page": 1}\n', encoding="utf-8")
    (attempt / f"{uuid.uuid4()}.obs.parquet").write_bytes(b"PAR1")
    return attempt


def test_repair_of_a_healthy_warehouse_does_nothing(loaded: Loaded) -> None:
    before = tree(loaded.data_dir)
    assert loaded.repair() == []
    assert tree(loaded.data_dir) == before


def test_missing_parquet_of_a_loaded_release_is_written_again_from_sql(loaded: Loaded) -> None:
    # the state of a run killed after its commit, before its renames
    lost = [
        (key, table)
        for key in (loaded.zone, loaded.enterprise)
        for table in (obs_table(key), schema.quarantine)
    ]
    originals = {}
    for key, table in lost:
        path = parquet_file(loaded, key, table)
        originals[path] = sorted_table(path, table)
        path.unlink()
    untouched = parquet_file(loaded, loaded.clean, obs_table(loaded.clean))
    untouched_before = (untouched.stat().st_mtime_ns, untouched.read_bytes())

    lines = loaded.repair()

    assert sorted(lines) == sorted(
        f"{key}: {table.name} Parquet written again from SQL" for key, table in lost
    )
    for key, table in lost:
        path = parquet_file(loaded, key, table)
        assert file_rows(path, table) == sql_rows(loaded, key, table), (key, table.name)
        # the very file the load had published: same schema, same values
        assert sorted_table(path, table).equals(originals[path]), (key, table.name)
    # a file that is there is not rewritten, and a release without quarantine rows gets no file
    assert (untouched.stat().st_mtime_ns, untouched.read_bytes()) == untouched_before
    assert not parquet_file(loaded, loaded.clean, schema.quarantine).exists()
    assert not list(loaded.data_dir.glob("parquet/**/.*.tmp"))


def test_stale_temp_files_are_removed_and_a_live_runs_kept(loaded: Loaded) -> None:
    stale = temp_beside(parquet_file(loaded, loaded.zone, obs_table(loaded.zone)))
    age(stale, STALE_AGE_S)
    # a run loading the next revision right now: its temp file is younger than the threshold
    live = temp_beside(
        parquet_file(loaded, ReleaseKey(ZONE, "zone", "2026-03", 2), schema.quarantine)
    )
    age(live, LIVE_AGE_S)
    # published files are as old as the dead run's temp file: age alone removes no data
    # the release files, not the current tables (written beside them since issue 16)
    published = sorted(
        p for p in loaded.data_dir.glob("parquet/**/*.parquet") if "_current/" not in p.as_posix()
    )
    assert len(published) == 5
    for path in published:
        age(path, STALE_AGE_S)
    kept = {p: p.read_bytes() for p in [live, *published]}

    assert loaded.repair() == [f"stale temp file {stale.name} removed"]

    assert not stale.exists()
    assert {p: p.read_bytes() for p in kept} == kept


def test_stale_work_directories_are_removed_and_a_live_runs_kept(loaded: Loaded) -> None:
    dead = work_dir(loaded, ReleaseKey(ZONE, "zone", "2026-04", 1))
    # repair goes by the directory's own mtime; a dead run's files are as old as it is
    for path in [*dead.iterdir(), dead]:
        age(path, STALE_AGE_S)
    live = work_dir(loaded, ReleaseKey(ZONE, "enterprise", "2026-04", 1))
    age(live, LIVE_AGE_S)
    live_files = {p.name: p.read_bytes() for p in live.iterdir()}

    assert loaded.repair() == [f"stale work files {dead.relative_to(loaded.data_dir)} removed"]

    assert not dead.exists()
    assert {p.name: p.read_bytes() for p in live.iterdir()} == live_files


def test_repair_twice_is_idempotent(loaded: Loaded) -> None:
    for table in (obs_table(loaded.enterprise), schema.quarantine):
        parquet_file(loaded, loaded.enterprise, table).unlink()
    stale_tmp = temp_beside(parquet_file(loaded, loaded.zone, schema.quarantine))
    age(stale_tmp, STALE_AGE_S)
    live_tmp = temp_beside(parquet_file(loaded, loaded.clean, obs_table(loaded.clean)))
    age(live_tmp, LIVE_AGE_S)
    dead = work_dir(loaded, ReleaseKey(ZONE, "zone", "2026-04", 1))
    for path in [*dead.iterdir(), dead]:
        age(path, STALE_AGE_S)
    live = work_dir(loaded, ReleaseKey(ZONE, "enterprise", "2026-04", 1))
    age(live, LIVE_AGE_S)

    first = loaded.repair()
    assert len(first) == 4  # two files written again, one temp file and one work dir removed
    after_first = tree(loaded.data_dir)

    assert loaded.repair() == []
    assert tree(loaded.data_dir) == after_first
    assert live_tmp.exists()
    assert live.exists()
    for table in (obs_table(loaded.enterprise), schema.quarantine):
        path = parquet_file(loaded, loaded.enterprise, table)
        assert file_rows(path, table) == sql_rows(loaded, loaded.enterprise, table)
