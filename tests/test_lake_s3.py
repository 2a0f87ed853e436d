"""Parquet on object storage (Delta Lake on a moto S3 server) and the exact current tables."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from moto.server import ThreadedMotoServer  # a missing moto fails here: never a skip
from sqlalchemy import text

from warehouse.lake import Lake, table_schema
from warehouse.store import Warehouse
from zonestats.config import load_config
from zonestats.runtime import shipped_catalog

ZONES = ["TY01", "DT01"]
_KEY = {
    "obs_zone": ["zone_code", "indicator_code", "period", "revision"],
    "obs_zone_current": ["zone_code", "indicator_code", "period", "revision"],
    "quarantine": ["quarantine_id"],
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port, for the session."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, request: Any) -> str:
    """A fresh bucket; the AWS variables (the only place credentials come from) point at it."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-do-not-log")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    name = f"zs-{abs(hash(request.node.nodeid)) % 10**10}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


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


def _sql(wh: Warehouse, table: str, columns: list[str]) -> pd.DataFrame:
    with wh.connect() as conn:
        frame = pd.read_sql_query(text(f"SELECT {', '.join(columns)} FROM {table}"), conn)
    return _canon(frame, table)


def _canon(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    frame = frame.copy()
    if "loaded_at" in frame:
        frame["loaded_at"] = pd.to_datetime(frame["loaded_at"], utc=True)
    if "year" in frame:
        frame = frame.drop(columns=["year"])
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype(str)
    cols = sorted(frame.columns)
    return frame[cols].sort_values(_KEY[table]).reset_index(drop=True)


def _columns(table: str) -> list[str]:
    return [f.name for f in table_schema(table) if f.name != "year"]


def _assert_lake_equals_sql(lake: Lake, wh: Warehouse) -> None:
    for table in ("obs_zone", "obs_zone_current", "quarantine"):
        got = _canon(lake.read(table).to_pandas(), table)
        want = _sql(wh, table, _columns(table))
        assert len(got) > 0 or table == "quarantine"
        pd.testing.assert_frame_equal(got, want, check_dtype=False)


def test_a_nightly_into_s3_equals_sql_and_a_second_adds_nothing(
    prefect_harness: None,
    simulator: Any,
    warehouse_url: str,
    tmp_path: Path,
    write_config: Any,
    bucket: str,
) -> None:
    lake_uri = f"s3://{bucket}/zonestats"
    cfg = _config(write_config, simulator, warehouse_url, tmp_path, lake_uri)
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    _run(cfg)
    lake = Lake(lake_uri)
    _assert_lake_equals_sql(lake, wh)
    versions = {t: lake.open(t).version() for t in ("obs_zone", "obs_zone_current")}  # type: ignore[union-attr]
    rows = lake.read("obs_zone").num_rows
    # the observation, quarantine and current tables live only in the lake (the marts, the
    # release calendar and the revisions' validity stay local)
    local = tmp_path / "work" / "parquet"
    assert sorted(p.name for p in local.iterdir()) == [
        "marts",
        "release_calendar",
        "release_revision",
    ]

    _run(cfg)  # nothing new to load
    _assert_lake_equals_sql(lake, wh)
    assert lake.read("obs_zone").num_rows == rows
    assert {t: lake.open(t).version() for t in versions} == versions  # type: ignore[union-attr]
    # the secret key never reaches what zonestats writes
    for f in (tmp_path / "work").rglob("*"):
        if f.is_file():
            assert b"test-secret-do-not-log" not in f.read_bytes()


def test_a_lake_commit_lost_after_the_sql_commit_is_repaired_from_sql(
    prefect_harness: None, simulator: Any, tmp_path: Path, write_config: Any, bucket: str
) -> None:
    lake_uri = f"s3://{bucket}/zonestats"
    url = f"sqlite:///{(tmp_path / 'zs.db').as_posix()}"
    cfg = _config(write_config, simulator, url, tmp_path, lake_uri)
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    _run(cfg)
    lake = Lake(lake_uri)
    # as if the run had died between its SQL commits and its Delta commits for TY01's year
    year = int(lake.read("obs_zone").column("year")[0].as_py())
    for table in ("obs_zone", "obs_zone_current"):
        lake.replace_partition(table, year, "TY01", table_schema(table).empty_table())
    assert lake.load_counts("obs_zone").get((year, "TY01")) is None
    done = wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta())
    assert f"obs_zone/year={year}/zone_code=TY01: written again from SQL" in done
    assert f"obs_zone_current/year={year}/zone_code=TY01: written again from SQL" in done
    _assert_lake_equals_sql(lake, wh)
    assert wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta()) == []


def test_two_writers_committing_different_partitions_at_once_both_land(bucket: str) -> None:
    lake = Lake(f"s3://{bucket}/zonestats")
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
    got = _canon(got, "obs_zone_current")
    want = _sql(wh, "obs_zone_current", _columns("obs_zone_current"))
    assert len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # a run killed after its SQL commit, before the current file's rename: repair writes it
    victim = sorted(root.glob("year=*/zone_code=TY01/current.parquet"))[0]
    victim.unlink()
    wh.repair(stale_after=pd.Timedelta(hours=1).to_pytimedelta())
    again = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pandas()
    pd.testing.assert_frame_equal(_canon(again, "obs_zone_current"), want, check_dtype=False)


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
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    _run(cfg)
    # a new revision of every TY01 release, carrying the bad records: some figures the first
    # revision had are held out of the second
    for rel in simulator.releases("TY01"):
        if rel["revision"] == 1:
            simulator.publish_revision("TY01", "zone", rel["period"])
    simulator.set_faults("TY01", Faults(bad_records=True))
    _run(cfg)
    want = _sql(wh, "obs_zone_current", _columns("obs_zone_current"))
    keys = ["zone_code", "period", "indicator_code"]
    root = (tmp_path / "data" / "parquet").as_posix()
    old = duckdb.sql(OLD_QUERY.format(root=root)).df()
    stale = old.merge(want[keys], on=keys, how="left", indicator=True)
    # the defect: the old query, per indicator, finds the first revision's value where the
    # second lacks the record
    assert (stale["_merge"] == "left_only").any()
    new = _canon(duckdb.sql(NEW_QUERY.format(root=root)).df(), "obs_zone_current")
    pd.testing.assert_frame_equal(
        new[[*keys, "revision", "value"]],
        want[[*keys, "revision", "value"]]
        .sort_values(_KEY["obs_zone_current"])
        .reset_index(drop=True),
        check_dtype=False,
    )
