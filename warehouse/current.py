"""The current revisions as Parquet: ``obs_zone_current`` / ``obs_enterprise_current``.

Per (year, zone) partition the rows of the SQL view of the same name (the latest loaded revision
of each release), written again whole whenever a load changes the partition: locally one file,
``current.parquet``, under a temp name then renamed; in a lake one Delta commit. A newer revision
that lacks a record (quarantined) drops the old revision's value, and a revision with no loaded
row at all empties its release: a reader of these tables never sees a superseded figure.

Repair compares, per partition, how many rows of each load SQL says the table holds with what it
holds (``load_counts``): a run killed between its SQL commit and this write leaves them different.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, select

from warehouse import parquet, schema
from warehouse.paths import CURRENT_TABLES, current_file, table_root

#: per (year, zone) partition, rows per load id
LoadCounts = dict[tuple[int, str], dict[str, int]]


def write_local(
    data_dir: Path, table: str, year: int, zone_code: str, parts: Iterable[pa.Table]
) -> None:
    """Replace a partition's file in one rename, written part by part; no rows: no file."""
    final = current_file(data_dir, table, year, zone_code)
    tmp = parquet.write_file(table.removesuffix("_current"), final, parts)
    if tmp is None:
        final.unlink(missing_ok=True)  # and no empty directory is made for it
        return
    parquet.publish(tmp, final)


def local_counts(data_dir: Path, table: str) -> LoadCounts:
    """What the local files of a current table hold, per partition and load."""
    out: LoadCounts = {}
    root = table_root(data_dir, table)
    for f in root.glob("year=*/zone_code=*/current.parquet"):
        year = int(f.parent.parent.name.removeprefix("year="))
        zone = f.parent.name.removeprefix("zone_code=")
        ids = pq.read_table(f, columns=["load_id"]).column("load_id").to_pylist()
        counts: dict[str, int] = defaultdict(int)
        for i in ids:
            counts[i] += 1
        out[(year, zone)] = dict(counts)
    return out


def sql_counts(conn: Connection) -> dict[str, LoadCounts]:
    """Per lake/current table, what SQL says each partition holds: rows per load id.

    From ``load_commit`` (the rows each commit added) and the ledger (which revision of each
    release is current), never from the observation tables themselves: cheap at any size.
    """
    lc = schema.load_commit.c
    led = schema.load_ledger.c
    commits = conn.execute(
        select(
            lc.load_id,
            lc.zone_code,
            lc.dataset,
            lc.period,
            lc.revision,
            lc.obs_rows,
            lc.quarantine_rows,
        )
    ).all()
    current = {
        (z, d, p, int(r))
        for z, d, p, r in conn.execute(
            select(led.zone_code, led.dataset, led.period, led.revision).where(
                led.status == "loaded"
            )
        ).all()
    }
    latest: dict[tuple[str, str, str], int] = {}
    for z, d, p, r in current:
        latest[(z, d, p)] = max(r, latest.get((z, d, p), 0))
    out: dict[str, LoadCounts] = defaultdict(dict)

    def add(table: str, part: tuple[int, str], load_id: str, n: int) -> None:
        if n:
            loads = out[table].setdefault(part, {})
            loads[load_id] = loads.get(load_id, 0) + n

    for load_id, zone, dataset, period, revision, n_obs, n_q in commits:
        obs = schema.OBS_TABLES[dataset].name
        part = (int(period[:4]), zone)
        add(obs, part, load_id, int(n_obs))
        add("quarantine", part, load_id, int(n_q))
        if latest.get((zone, dataset, period)) == int(revision):
            add(CURRENT_TABLES[obs], part, load_id, int(n_obs))
    return dict(out)
