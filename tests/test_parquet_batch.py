"""One Parquet file per partition per run (ParquetBatch), on SQLite and PostgreSQL.

Releases are staged as the validate step stages them (Parquet of tasks.validate's STAGED_*
schemas) and loaded with Warehouse.load_release inside a batch. What is checked each time: the
Parquet tree read back with pyarrow holds exactly the rows SQL holds (the views' rows), never a
row twice, never a half-written file; and what a run killed before its batch closed leaves is
made whole by the next repair, from SQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr
from sqlalchemy import select, text, update

from tasks.validate import STAGED_DIM, STAGED_OBS, STAGED_QUARANTINE
from warehouse import parquet, schema
from warehouse.paths import BATCH_ID, parquet_file, release_file, temp_file
from warehouse.store import LoadConflict, Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey, ReleaseRef, ValidatedRelease, utc

T0 = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)
INDICATORS = {"revenue": "万元", "tax_revenue": "万元", "employees": "人", "land_area": "亩"}
ZONE_INDICATORS = {"revenue": "万元", "tax_revenue": "万元", "green_electricity": "万千瓦时"}
STALE = timedelta(hours=1)
REPO = Path(__file__).resolve().parents[1]


def make_wh(url: str, data_dir: Path) -> Warehouse:
    """A warehouse at head with its reference tables."""
    wh = Warehouse(WarehouseSettings(SecretStr(url), data_dir))
    wh.ensure_schema(shipped_catalog())
    return wh


@pytest.fixture
def wh(warehouse_url: str, tmp_path: Path) -> Warehouse:
    return make_wh(warehouse_url, tmp_path / "data")


def stage(
    wh: Warehouse,
    zone: str,
    dataset: str,
    period: str,
    enterprises: int = 50,
    quarantined: int = 0,
    rejection: str | None = None,
    revision: int = 1,
) -> ValidatedRelease:
    """Claim a release and stage its rows as the validate step does; deterministic values."""
    published = T0 + timedelta(days=int(period[5:7]) if len(period) > 4 else 0)
    ref = ReleaseRef(zone, dataset, period, "M", revision, published, 4)
    load_id = wh.begin_release(ref, "flow-run-1", timedelta(hours=1))
    assert load_id is not None
    work = wh.data_dir / "staging-test" / load_id
    work.mkdir(parents=True)
    seed = sum(map(ord, zone + period)) + revision
    if dataset == "enterprise":
        usccs = [f"91140100MA{seed % 1000:03d}{n:04d}X" for n in range(enterprises)]
        # in no particular order, as pages bring them: the load sorts by key
        rows = [
            (
                zone,
                u,
                period,
                revision,
                code,
                None if (n + i) % 41 == 0 else seed + n * 1.25 + i,
                unit,
            )
            for n, u in reversed(list(enumerate(usccs)))
            for i, (code, unit) in enumerate(INDICATORS.items())
        ]
        names = ["zone_code", "uscc", "period", "revision", "indicator_code", "value", "unit"]
        dims = pa.table(
            {
                "uscc": usccs,
                "name": [f"企业{n}" for n in range(enterprises)],
                "industry_code": ["C3011"] * enterprises,
                "zone_code": [zone] * enterprises,
                "above_scale": [n % 2 == 0 for n in range(enterprises)],
                "period": [period] * enterprises,
            },
            schema=STAGED_DIM,
        )
        pq.write_table(dims, work / "dim.parquet")
    else:
        rows = [
            (
                zone,
                code,
                period,
                "M",
                revision,
                None if i == 2 else seed + i * 10.5,
                unit,
                "M" if i == 2 else "A",
            )
            for i, (code, unit) in enumerate(ZONE_INDICATORS.items())
        ]
        names = [
            "zone_code", "indicator_code", "period", "frequency", "revision", "value", "unit",
            "status",
        ]  # fmt: skip
    if rejection is not None:
        rows = []
    obs = pa.table(list(map(list, zip(*rows, strict=True))) if rows else [[] for _ in names],
                   names=names).cast(STAGED_OBS[dataset])  # fmt: skip
    pq.write_table(obs, work / "obs.parquet")
    q = pa.table(
        {
            "record_no": list(range(1, quarantined + 1)),
            "record_key": [f"91140100MA{seed:07d}{n}" for n in range(quarantined)],
            "rule": ["uscc_invalid"] * quarantined,
            "severity": ["error"] * quarantined,
            "message": [
                f'[{zone} {period}] bad "record" {n}\nsecond line' for n in range(quarantined)
            ],
            "raw": ['{"uscc": "x"}'] * quarantined,
        },
        schema=STAGED_QUARANTINE,
    )
    pq.write_table(q, work / "q.parquet")
    records = enterprises if dataset == "enterprise" else len(ZONE_INDICATORS)
    return ValidatedRelease(
        ref=ref,
        load_id=load_id,
        obs=work / "obs.parquet",
        quarantine=work / "q.parquet",
        records_received=records + quarantined,
        records_loaded=0 if rejection else records,
        records_quarantined=quarantined,
        records_warned=0,
        sha256="0" * 64,
        dims=(work / "dim.parquet") if dataset == "enterprise" else None,
        rejection=rejection,
    )


def _value(value: Any) -> Any:
    return utc(value) if isinstance(value, datetime) else value


def sql_rows(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    """Every row of a public relation as the Parquet tree carries it (no raw payloads), sorted."""
    view = {t.name: t for t in (schema.obs_zone, schema.obs_enterprise, schema.quarantine)}[table]
    cols = [c for c in view.columns if c.name != "raw"]
    with wh.connect() as conn:
        rows = conn.execute(select(*cols)).all()
    return sorted(tuple(_value(v) for v in r) for r in rows)


def parquet_rows(wh: Warehouse, table: str) -> list[tuple[Any, ...]]:
    """Every row of a Parquet table as DuckDB/pandas/Arrow read its root, sorted like sql_rows."""
    root = wh.data_dir / "parquet" / table
    if not files(wh, table):
        return []
    data = pads.dataset(root, format="parquet", partitioning="hive").to_table()
    view = {t.name: t for t in (schema.obs_zone, schema.obs_enterprise, schema.quarantine)}[table]
    names = [c.name for c in view.columns if c.name != "raw"]
    columns = [data.column(n).to_pylist() for n in names]
    # the partition column comes back as Arrow infers it from the directory names
    return sorted(tuple(_value(v) for v in r) for r in zip(*columns, strict=True))


def files(wh: Warehouse, table: str) -> list[Path]:
    """The Parquet files a reader of a table sees (hidden temp files are not among them)."""
    return sorted((wh.data_dir / "parquet" / table).glob("year=*/zone_code=*/*.parquet"))


def hidden(wh: Warehouse) -> list[Path]:
    return sorted((wh.data_dir / "parquet").glob("**/.*.tmp"))


def assert_parquet_is_sql(wh: Warehouse) -> None:
    for table in ("obs_zone", "obs_enterprise", "quarantine"):
        assert parquet_rows(wh, table) == sql_rows(wh, table), table


def test_a_batch_writes_one_file_per_partition_once_it_closes(wh: Warehouse) -> None:
    releases = [
        stage(wh, "TY01", "zone", "2026-09"),
        stage(wh, "TY01", "enterprise", "2026-09", quarantined=2),
        stage(wh, "TY01", "zone", "2026-10"),
        stage(wh, "TY01", "enterprise", "2026-10", quarantined=1),
        stage(wh, "DT01", "enterprise", "2026-10"),
        stage(wh, "TY01", "enterprise", "2025-12"),  # another year: another partition
    ]
    with wh.parquet_batch() as batch:
        assert BATCH_ID.match(batch.batch_id)
        for v in releases:
            wh.load_release(v, batch=batch)
        # committed in SQL, not yet visible in Parquet: a reader sees no half of the batch
        assert len(sql_rows(wh, "obs_enterprise")) == 50 * 4 * 4
        assert files(wh, "obs_enterprise") == []
        assert files(wh, "quarantine") == []
        assert all(p.name.startswith(".") for p in hidden(wh))
    assert_parquet_is_sql(wh)
    ent = files(wh, "obs_enterprise")
    assert [p.relative_to(wh.data_dir / "parquet").as_posix() for p in ent] == [
        f"obs_enterprise/year=2025/zone_code=TY01/{batch.batch_id}.parquet",
        f"obs_enterprise/year=2026/zone_code=DT01/{batch.batch_id}.parquet",
        f"obs_enterprise/year=2026/zone_code=TY01/{batch.batch_id}.parquet",
    ]
    assert pq.read_metadata(ent[-1]).num_rows == 2 * 50 * 4  # two releases in one file
    assert len(files(wh, "obs_zone")) == 1
    assert len(files(wh, "quarantine")) == 1  # both quarantined releases share TY01 2026
    assert hidden(wh) == []
    with wh.connect() as conn:
        batches = conn.execute(select(schema.load_commit.c.parquet_batch)).scalars().all()
    assert batches == [batch.batch_id] * len(releases)
    # a healthy warehouse: repair has nothing to do, and touches nothing
    before = {p: p.stat().st_mtime_ns for p in (wh.data_dir / "parquet").rglob("*")}
    assert wh.repair(STALE) == []
    assert {p: p.stat().st_mtime_ns for p in (wh.data_dir / "parquet").rglob("*")} == before


def test_a_second_load_of_a_release_adds_nothing_to_the_batch(wh: Warehouse) -> None:
    v = stage(wh, "TY01", "enterprise", "2026-10", quarantined=1)
    with wh.parquet_batch() as batch:
        wh.load_release(v, batch=batch)
        with pytest.raises(LoadConflict):
            wh.load_release(v, batch=batch)  # the ledger refuses it: nothing in SQL, nothing here
        assert wh.begin_release(v.ref, "flow-run-2") is None
    assert_parquet_is_sql(wh)
    assert len(parquet_rows(wh, "obs_enterprise")) == 50 * 4


def test_a_failed_load_leaves_the_batch_as_it_was(wh: Warehouse) -> None:
    good = stage(wh, "TY01", "enterprise", "2026-09")
    bad = stage(wh, "TY01", "enterprise", "2026-10", quarantined=1)
    staged = pq.read_table(bad.obs)
    pq.write_table(pa.concat_tables([staged, staged.slice(0, 1)]), bad.obs)  # a duplicate key
    with wh.parquet_batch() as batch:
        wh.load_release(good, batch=batch)
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            wh.load_release(bad, batch=batch)
    assert_parquet_is_sql(wh)
    assert {r[2] for r in parquet_rows(wh, "obs_enterprise")} == {"2026-09"}
    assert parquet_rows(wh, "quarantine") == []  # the failed load's quarantine rolled back too


def test_a_rejected_release_in_a_batch_writes_its_quarantine(wh: Warehouse) -> None:
    loaded = stage(wh, "TY01", "enterprise", "2026-09", quarantined=1)
    rejected = stage(wh, "TY01", "enterprise", "2026-10", quarantined=3, rejection="sums off")
    with wh.parquet_batch() as batch:
        wh.load_release(loaded, batch=batch)
        wh.load_release(rejected, batch=batch)
    assert_parquet_is_sql(wh)
    assert len(parquet_rows(wh, "quarantine")) == 4
    assert {r[2] for r in parquet_rows(wh, "obs_enterprise")} == {"2026-09"}


def _die(batch: parquet.ParquetBatch) -> None:
    """What SIGKILL does to a batch: its locks go with the process, its temp files stay."""
    for part in batch._parts.values():
        part._release()
    batch.closed = True


def test_a_batch_that_never_closed_is_written_again_from_sql_by_repair(wh: Warehouse) -> None:
    batch = wh.parquet_batch()
    for v in (
        stage(wh, "TY01", "zone", "2026-10"),
        stage(wh, "TY01", "enterprise", "2026-09", quarantined=2),
        stage(wh, "TY01", "enterprise", "2026-10"),
    ):
        wh.load_release(v, batch=batch)
    _die(batch)
    temps = hidden(wh)
    assert len(temps) == 3  # obs_zone, obs_enterprise and quarantine of TY01 2026
    assert files(wh, "obs_enterprise") == []

    lines = wh.repair(STALE)

    where = f"year=2026/zone_code=TY01/{batch.batch_id}.parquet"
    assert sorted(lines) == sorted(
        [
            f"obs_enterprise/{where}: written again from SQL (2 releases)",
            f"obs_zone/{where}: written again from SQL (1 release)",
            f"quarantine/{where}: written again from SQL (1 release)",
            *(f"dead batch temp file {t.name} removed" for t in temps),
        ]
    )
    assert_parquet_is_sql(wh)
    assert hidden(wh) == []
    assert wh.repair(STALE) == []  # never twice
    assert_parquet_is_sql(wh)


def test_repair_leaves_a_live_batch_alone(wh: Warehouse) -> None:
    with wh.parquet_batch() as batch:
        wh.load_release(stage(wh, "TY01", "enterprise", "2026-10", quarantined=1), batch=batch)
        # a long-open batch: its temp files look stale by their age, but its lock says alive
        for tmp in hidden(wh):
            old = time.time() - 3 * STALE.total_seconds()
            os.utime(tmp, (old, old))
        assert wh.repair(STALE) == []
        assert len(hidden(wh)) == 2
        assert files(wh, "obs_enterprise") == []
        wh.load_release(stage(wh, "TY01", "enterprise", "2026-09"), batch=batch)
    assert_parquet_is_sql(wh)
    assert len(files(wh, "obs_enterprise")) == 1


def test_rows_that_cannot_be_appended_are_written_from_sql_at_close(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = stage(wh, "TY01", "enterprise", "2026-09", quarantined=1)
    second = stage(wh, "TY01", "enterprise", "2026-10")
    with wh.parquet_batch() as batch:
        wh.load_release(first, batch=batch)

        def broken(self: parquet.PartFile, data: pa.Table) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(parquet.PartFile, "append", broken)
        wh.load_release(second, batch=batch)  # committed: the batch must still carry it
        monkeypatch.undo()
    assert_parquet_is_sql(wh)
    assert len(parquet_rows(wh, "obs_enterprise")) == 2 * 50 * 4


def test_a_rewrite_after_a_quarantine_change_keeps_the_partitions_other_rows(
    wh: Warehouse,
) -> None:
    releases = [
        stage(wh, "TY01", "enterprise", "2026-09", quarantined=2),
        stage(wh, "TY01", "enterprise", "2026-10", quarantined=1),
    ]
    with wh.parquet_batch() as batch:
        for v in releases:
            wh.load_release(v, batch=batch)
    target = releases[0]
    q = schema.quarantine
    with wh.engine.begin() as conn:
        conn.execute(
            update(q).where(q.c.load_id == target.load_id).values(status="fixed", note="r2")
        )
    written = wh.rewrite_release_parquet(target.ref.key, target.load_id, ("quarantine",))
    assert written == [parquet_file(wh.data_dir, "quarantine", target.ref.key, batch.batch_id)]
    assert_parquet_is_sql(wh)
    statuses = sorted(r[11] for r in parquet_rows(wh, "quarantine"))
    assert statuses == ["fixed", "fixed", "open"]


def test_without_a_batch_each_release_keeps_its_own_file(wh: Warehouse) -> None:
    v = stage(wh, "TY01", "enterprise", "2026-10", quarantined=1)
    wh.load_release(v)
    assert files(wh, "obs_enterprise") == [release_file(wh.data_dir, "obs_enterprise", v.ref.key)]
    assert_parquet_is_sql(wh)


def test_batch_temp_files_are_named_for_repair() -> None:
    final = Path(
        "/d/parquet/obs_zone/year=2026/zone_code=TY01/batch-20261115T020000-0123456789ab.parquet"
    )
    assert temp_file(final).name == ".batch-20261115T020000-0123456789ab.parquet.tmp"
    key = ReleaseKey("TY01", "zone", "2026-10", 1)
    with pytest.raises(ValueError, match="batch id"):
        parquet_file(Path("/d"), "obs_zone", key, "../../etc")
    with pytest.raises(ValueError, match="batch id"):
        parquet_file(Path("/d"), "obs_zone", key, "zone-2026-10-r1")  # a release's own name


# -- a real SIGKILL at a random moment of a batch ----------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys, random
    sys.path.insert(0, {tests!r})
    from test_parquet_batch import make_wh, stage
    wh = make_wh({url!r}, __import__("pathlib").Path({data!r}))
    releases = [stage(wh, "TY01", "enterprise", f"2026-{{m:02d}}", enterprises=400, quarantined=m % 3)
                for m in range(2, 11)]
    print("staged", flush=True)
    sys.stdin.readline()  # the parent kills us somewhere in what follows
    with wh.parquet_batch() as batch:
        for v in releases:
            wh.load_release(v, batch=batch)
    print("closed", flush=True)
    sys.stdin.readline()
    """
)


@pytest.mark.parametrize("delay", [0.01, 0.05, 0.15, 0.4, None])
def test_sigkill_anywhere_in_a_batch_then_repair_gives_sql_in_parquet(
    warehouse_url: str, tmp_path: Path, delay: float | None
) -> None:
    data = tmp_path / "data"
    code = CHILD.format(tests=str(REPO / "tests"), url=warehouse_url, data=str(data))
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        start_new_session=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == b"staged"
        child.stdin.write(b"go\n")
        child.stdin.flush()
        if delay is None:  # after the batch closed: nothing left to repair
            assert child.stdout.readline().strip() == b"closed"
        else:
            time.sleep(delay)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    wh = make_wh(warehouse_url, data)
    with wh.connect() as conn:
        loaded = conn.execute(
            text("SELECT count(*) FROM load_ledger WHERE status = 'loaded'")
        ).scalar_one()
    print(f"killed after {delay}s: {loaded} of 9 releases committed")
    wh.repair(STALE)
    assert_parquet_is_sql(wh)
    # whatever is left hidden belongs to no one and never reaches a reader
    assert all(p.name.startswith(".") for p in hidden(wh))
    assert not any(parquet.held(p) for p in hidden(wh))
    assert wh.repair(STALE) == []  # never twice
