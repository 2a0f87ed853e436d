"""What the SQLite warehouse costs on disk per observation, measured on a real file.

Releases shaped like the bench's (an enterprise release: ~1,500 enterprises x 8 indicators, real
indicator codes and units, 18-character credit codes in no order) are loaded through
Warehouse.load_release, zones interleaved as a run interleaves them; the file's size after a
checkpoint, divided by the observations it holds, must stay within the issue's 100 bytes.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import SecretStr

from tasks.validate import STAGED_DIM, STAGED_OBS, STAGED_QUARANTINE
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseRef, ValidatedRelease

UNITS = {
    "revenue": "万元", "industrial_output": "万元", "tax_revenue": "万元", "rd_expenditure": "万元",
    "energy_consumption": "吨标准煤", "electricity_consumption": "万千瓦时", "employees": "人",
    "land_area": "亩",
}  # fmt: skip
ZONES = ["TY01", "DT01", "YQ01", "CZ01", "JC01", "SZ01", "XZ01", "JZ01", "LF01", "LL01"]
PERIODS = ["2026-02", "2026-03", "2026-04"]
ENTERPRISES = 1_500
LIMIT = 100  # bytes per observation (issue 11)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _release(
    wh: Warehouse, work: Path, zone: str, period: str, usccs: list[str], rng: random.Random
) -> ValidatedRelease:
    ref = ReleaseRef(zone, "enterprise", period, "M", 1, T0 + timedelta(days=int(period[5:])), 2)
    load_id = wh.begin_release(ref, None, timedelta(hours=1))
    assert load_id is not None
    d = work / load_id
    d.mkdir(parents=True)
    rows = [
        (zone, u, period, 1, k, round(rng.random() * 1e5, 2), v)
        for u in usccs
        for k, v in UNITS.items()
    ]
    rng.shuffle(rows)  # pages bring enterprises in no particular order
    columns = [list(c) for c in zip(*rows, strict=True)]
    obs = pa.table(columns, names=STAGED_OBS["enterprise"].names).cast(STAGED_OBS["enterprise"])
    pq.write_table(obs, d / "obs.parquet")
    n = len(usccs)
    dims = {"uscc": usccs, "name": ["示例企业有限公司"] * n, "industry_code": ["C3011"] * n,
            "zone_code": [zone] * n, "above_scale": [True] * n, "period": [period] * n}  # fmt: skip
    pq.write_table(pa.table(dims, schema=STAGED_DIM), d / "dim.parquet")
    pq.write_table(STAGED_QUARANTINE.empty_table(), d / "q.parquet")
    return ValidatedRelease(
        ref, load_id, d / "obs.parquet", d / "q.parquet", n, n, 0, 0, "0" * 64,
        dims=d / "dim.parquet",
    )  # fmt: skip


def test_sqlite_holds_an_observation_in_at_most_100_bytes(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    wh = Warehouse(WarehouseSettings(SecretStr(f"sqlite:///{db.as_posix()}"), tmp_path / "data"))
    wh.ensure_schema(shipped_catalog())
    rng = random.Random(11)
    usccs = {z: [f"91{rng.randrange(10**15):015d}X" for _ in range(ENTERPRISES)] for z in ZONES}
    with wh.parquet_batch() as batch:
        for period in PERIODS:
            for zone in ZONES:  # zones interleaved: each release lands inside the key space
                wh.load_release(
                    _release(wh, tmp_path / "stage", zone, period, usccs[zone], rng), batch=batch
                )
    wh.engine.dispose()
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the database file
        n = con.execute("SELECT count(*) FROM obs_enterprise").fetchone()[0]
        loads = con.execute("SELECT count(DISTINCT load_id) FROM obs_enterprise").fetchone()[0]
    finally:
        con.close()
    assert n == len(ZONES) * len(PERIODS) * ENTERPRISES * len(UNITS)
    assert loads == len(ZONES) * len(PERIODS)
    size = db.stat().st_size
    per = size / n
    print(f"{n} observations in {size / 2**20:.1f} MiB: {per:.1f} bytes each")
    assert per <= LIMIT, f"{per:.1f} bytes per observation"


def test_arrow_allocates_with_jemalloc_unless_the_operator_says() -> None:
    """mimalloc kept each zone thread's peak; a run switches to jemalloc, an explicit choice wins."""
    import pyarrow as pa

    from warehouse.arrow import use_run_memory_pool

    before = pa.default_memory_pool()
    try:
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        use_run_memory_pool({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"})
        assert pa.default_memory_pool().backend_name == "mimalloc"
        use_run_memory_pool({})
        assert pa.default_memory_pool().backend_name == "jemalloc"
    finally:
        pa.set_memory_pool(before)
