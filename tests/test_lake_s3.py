"""Parquet on object storage (Delta Lake on a moto S3 server) and the exact current tables."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from helpers.s3 import (
    KEYS,
    S3Server,
    assert_lake_equals_sql,
    assert_secret_absent,
    canon,
    compare_table,
    sql_frame,
)

from cli.app import main
from warehouse.lake import Lake, table_schema
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

ZONES = ["TY01", "DT01"]


def _run(config: Path) -> Any:
    from flows.nightly import RunFailed, nightly

    state = nightly(config_path=str(config), zones=ZONES, return_state=True)
    if state.is_completed():
        return state.result()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, RunFailed), exc
    return exc.summary


def _config(write_config: Any, sim: Any, url: str, tmp: Path, lake: str | None) -> Path:
    cfg = write_config(tmp / "zonestats.toml", sim, url, tmp / "data", ZONES, datasets=("zone",))
    if lake is not None:
        body = cfg.read_text(encoding="utf-8").replace(
            f'data_dir = "{(tmp / "data").as_posix()}"',
            f'data_dir = "{lake}"\nwork_dir = "{(tmp / "work").as_posix()}"',
        )
        cfg.write_text(body, encoding="utf-8")
    return Path(cfg)


def test_a_nightly_into_s3_equals_sql_and_a_second_adds_nothing(
    prefect_harness: None,
    simulator: Any,
    warehouse_url: str,
    tmp_path: Path,
    write_config: Any,
    s3_server: S3Server,
    s3_lake: str,
) -> None:
    from zonesim import Faults

    cfg = _config(write_config, simulator, warehouse_url, tmp_path, s3_lake)
    simulator.set_faults("DT01", Faults(bad_records=True))  # rows for the lake's quarantine
    _run(cfg)
    rows = assert_lake_equals_sql(s3_server, s3_lake, warehouse_url)
    assert rows["obs_zone"] > 0
    assert rows["obs_zone_current"] > 0
    assert rows["quarantine"] > 0
    versions = s3_server.versions(s3_lake)
    # the observation, quarantine and current tables live only in the lake; the tables derived
    # whole on each run (the marts, the release calendar, the revisions' validity) stay in the
    # local work_dir
    local = tmp_path / "work" / "parquet"
    assert sorted(p.name for p in local.iterdir()) == [
        "marts",
        "release_calendar",
        "release_revision",
    ]

    _run(cfg)  # nothing new to load: no table gets a commit
    assert assert_lake_equals_sql(s3_server, s3_lake, warehouse_url) == rows
    assert s3_server.versions(s3_lake) == versions
    # the secret key never reaches what zonestats writes (config, work files, a SQLite warehouse)
    assert_secret_absent(s3_server.secret, tmp_path)


def test_a_lake_commit_lost_after_the_sql_commit_is_repaired_from_sql(
    prefect_harness: None,
    simulator: Any,
    tmp_path: Path,
    write_config: Any,
    s3_server: S3Server,
    s3_lake: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"sqlite:///{(tmp_path / 'zs.db').as_posix()}"
    cfg = _config(write_config, simulator, url, tmp_path, s3_lake)
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    _run(cfg)
    lake = Lake(s3_lake)
    assert_lake_equals_sql(s3_server, s3_lake, url)
    year = int(lake.read("obs_zone").column("year")[0].as_py())
    # the comparison sees a changed value, not only a changed count
    part = lake.read("obs_zone").filter(
        (pc.field("year") == year) & (pc.field("zone_code") == "TY01")
    )
    values = part.column("value").to_pylist()
    values[0] = (values[0] or 0.0) + 1.0
    part = part.set_column(part.schema.get_field_index("value"), "value", pa.array(values))
    lake.replace_partition("obs_zone", year, "TY01", part)
    with pytest.raises(AssertionError, match="obs_zone"):
        compare_table(s3_server, s3_lake, url, "obs_zone")
    # as if the run had died between its SQL commits and its Delta commits for TY01's year
    for table in ("obs_zone", "obs_zone_current"):
        lake.replace_partition(table, year, "TY01", table_schema(table).empty_table())
    assert lake.load_counts("obs_zone").get((year, "TY01")) is None
    with pytest.raises(AssertionError, match="SQL rows not in the lake"):
        compare_table(s3_server, s3_lake, url, "obs_zone")
    # `zonestats lake` names the partitions that differ (exit 1) and changes nothing
    versions = s3_server.versions(s3_lake)
    assert main(["lake", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    for table in ("obs_zone", "obs_zone_current"):
        assert f"✗ {table}/year={year}/zone_code=TY01: differs from SQL" in out
    assert out.count("✗") == 2, out
    assert s3_server.versions(s3_lake) == versions
    done = wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta())
    assert f"obs_zone/year={year}/zone_code=TY01: written again from SQL" in done
    assert f"obs_zone_current/year={year}/zone_code=TY01: written again from SQL" in done
    assert_lake_equals_sql(s3_server, s3_lake, url)
    assert wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta()) == []
    assert main(["lake", "--config", str(cfg), "--json"]) == 0
    tables = {t["table"]: t for t in map(json.loads, capsys.readouterr().out.splitlines())}
    rows = assert_lake_equals_sql(s3_server, s3_lake, url)
    assert {t: v["rows"] for t, v in tables.items()} == rows
    assert {t: v["sql_rows"] for t, v in tables.items()} == rows
    assert {t: v["version"] for t, v in tables.items()} == s3_server.versions(s3_lake)
    assert all(v["differing"] == [] for v in tables.values())


def test_two_writers_committing_different_partitions_at_once_both_land(s3_lake: str) -> None:
    lake = Lake(s3_lake)
    schema = table_schema("obs_zone")
    base = [f for f in schema if f.name not in ("year", "zone_code")]

    def rows(zone: str, i: int) -> pa.Table:
        values: dict[str, Any] = {
            "indicator_code": "revenue",
            "period": "2026-10",
            "frequency": "M",
            "revision": 1,
            "value": float(i),
            "unit": "万元",
            "status": "A",
            "load_id": f"{zone}-{i}",
            "loaded_at": pd.Timestamp("2026-11-01", tz="UTC"),
        }
        return pa.table({f.name: pa.array([values[f.name]], f.type) for f in base})

    errors: list[BaseException] = []

    def writer(zone: str) -> None:
        try:
            for i in range(4):
                lake.replace_partition("obs_zone", 2026, zone, rows(zone, i))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(z,)) for z in ("TY01", "DT01", "LL01")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = lake.read("obs_zone").to_pandas().sort_values("zone_code")
    # every writer's last commit is there, and only it: none lost, none doubled
    assert got[["zone_code", "load_id"]].values.tolist() == [
        ["DT01", "DT01-3"],
        ["LL01", "LL01-3"],
        ["TY01", "TY01-3"],
    ]


def test_local_current_parquet_equals_the_sql_current_view(
    prefect_harness: None, simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any
) -> None:
    cfg = _config(write_config, simulator, warehouse_url, tmp_path, None)
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    _run(cfg)
    root = tmp_path / "data" / "parquet" / "obs_zone_current"
    got = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    got = canon(got, "obs_zone_current")
    want = canon(sql_frame(warehouse_url, "obs_zone_current"), "obs_zone_current")
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # a run killed after its SQL commit, before the current file's rename: repair writes it
    victim = sorted(root.glob("year=*/zone_code=TY01/current.parquet"))[0]
    victim.unlink()
    wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta())
    again = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    pd.testing.assert_frame_equal(canon(again, "obs_zone_current"), want, check_dtype=False)
    # `zonestats lake` is for an s3:// data_dir: on a local one it says so, exit 2
    assert main(["lake", "--config", str(cfg)]) == 2


OLD_QUERY = """
SELECT zone_code, period, indicator_code, value, revision
FROM read_parquet('{root}/obs_zone/*/*/*.parquet', hive_partitioning = true)
QUALIFY revision = max(revision) OVER (PARTITION BY zone_code, period, indicator_code)
"""
NEW_QUERY = """
SELECT zone_code, period, indicator_code, value, revision
FROM read_parquet('{root}/obs_zone_current/*/*/*.parquet', hive_partitioning = true)
"""


def test_a_newer_revision_lacking_a_record_leaves_no_old_value_in_the_current_parquet(
    prefect_harness: None, simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any
) -> None:
    import duckdb

    from zonesim import Faults

    cfg = _config(write_config, simulator, warehouse_url, tmp_path, None)
    _run(cfg)
    # a new revision of every TY01 release, carrying the bad records: some figures the first
    # revision had are held out of the second
    for rel in simulator.releases("TY01"):
        if rel["revision"] == 1:
            simulator.publish_revision("TY01", "zone", rel["period"])
    simulator.set_faults("TY01", Faults(bad_records=True))
    _run(cfg)
    want = canon(sql_frame(warehouse_url, "obs_zone_current"), "obs_zone_current")
    keys = ["zone_code", "period", "indicator_code"]
    root = (tmp_path / "data" / "parquet").as_posix()
    old = duckdb.sql(OLD_QUERY.format(root=root)).df()
    stale = old.merge(want[keys], on=keys, how="left", indicator=True)
    # the defect: the old query, per indicator, finds the first revision's value where the
    # second lacks the record
    assert (stale["_merge"] == "left_only").any()
    new = canon(duckdb.sql(NEW_QUERY.format(root=root)).df(), "obs_zone_current")
    pd.testing.assert_frame_equal(
        new[[*keys, "revision", "value"]],
        want[[*keys, "revision", "value"]]
        .sort_values(KEYS["obs_zone_current"])
        .reset_index(drop=True),
        check_dtype=False,
    )
