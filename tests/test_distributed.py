"""The production topology on loopback: a Prefect server on PostgreSQL, two process workers,
the warehouse on PostgreSQL and the Parquet tables on S3 (moto).

``run.fan_out = "deployments"``: the nightly run starts one zone-pull deployment run per zone,
which either worker picks up. One worker is SIGKILLed (its flow-run processes too) while a zone
of it is loading: Prefect's zombie automation marks that run Crashed, the nightly names the zone
failed, a retry of the zone run and the next nightly complete it, and nothing is doubled.
``warehouse.data_dir`` is ``s3://bucket/prefix`` on a moto server; the workers get endpoint,
region and credentials as the AWS variables. Every lake table then equals SQL by key and values,
a night that finds nothing adds no Delta version, and the secret key is nowhere zonestats or
Prefect write: files, the Prefect database, the warehouse, the bucket.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.prefect_cluster import PrefectCluster
from helpers.s3 import (
    S3Server,
    assert_lake_equals_sql,
    assert_secret_absent,
    lake_sizes,
    secret_rows_in_postgres,
)
from helpers.zoneserver import ZoneServer
from sqlalchemy import create_engine, text

from zonestats.catalog import shipped_catalog

pytestmark = [pytest.mark.distributed, pytest.mark.postgres, pytest.mark.slow]

ZONES = list(shipped_catalog().zones)
RUN_BOUND_S = 240
QUARANTINED = "TY01"  # its enterprise releases carry bad records: quarantine rows for the lake


@pytest.fixture
def prefect_db(pg_admin: Any) -> Iterator[str]:
    """A fresh PostgreSQL database for the Prefect server (pg_trgm as it needs), dropped after."""
    name = f"zonestats_prefect_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin_url = pg_admin.url.render_as_string(hide_password=False)
    engine = create_engine(admin_url.rsplit("/", 1)[0] + f"/{name}", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    engine.dispose()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _config(path: Path, sim: ZoneServer, url: str, lake: str, work_dir: Path) -> Path:
    lines = [
        "[warehouse]",
        f'url = "{url}"',
        f'data_dir = "{lake}"',  # endpoint and credentials: the workers' environment only
        f'work_dir = "{work_dir.as_posix()}"',
        "",
        "[http]",
        "backoff_base_s = 0.05",
        "backoff_max_s = 0.2",
        "",
        "[run]",
        'fan_out = "deployments"',
        # a dead worker's claims free within seconds, so the next run takes its zone over
        "lease_s = 10",
        "heartbeat_s = 3",
        "zone_wait_s = 30",
    ]
    for code, zone in shipped_catalog().zones.items():
        lines += [
            "",
            "[[zones]]",
            f'code = "{code}"',
            f'adapter = "{zone.adapter}"',
            f'base_url = "{sim.base_url(code)}"',
            f'token_env = "{sim.token_env(code)}"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Api:
    """The few reads of the Prefect REST API the test makes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, run_id: str) -> dict[str, Any]:
        """A flow run."""
        resp = requests.get(f"{self.url}/flow_runs/{run_id}", timeout=10)
        resp.raise_for_status()
        return dict(resp.json())

    def zone_runs(self, parent_id: str) -> dict[str, dict[str, Any]]:
        """The zone-pull runs of a nightly run, by zone code."""
        # the subflow link: a task run in the parent stands for each child
        body = {"flow_runs": {"parent_flow_run_id": {"any_": [parent_id]}}, "limit": 200}
        resp = requests.post(f"{self.url}/flow_runs/filter", json=body, timeout=10)
        resp.raise_for_status()
        return {r["parameters"]["zone"]: r for r in resp.json()}

    def wait(self, run_id: str, bound_s: float = RUN_BOUND_S) -> dict[str, Any]:
        """Wait for a flow run to reach a final state, at most bound_s."""
        deadline = time.monotonic() + bound_s
        while True:
            run = self.run(run_id)
            if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"flow run {run_id} still {run['state']['name']}")
            time.sleep(1)


def _trigger(cluster: PrefectCluster) -> str:
    out = cluster.cli("deployment", "run", "nightly/nightly").stdout
    found = re.search(r"UUID: ([0-9a-f-]{36})", out)
    assert found, out
    return found.group(1)


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                "obs_zone": conn.execute(
                    text("SELECT count(*) FROM zonestats.obs_zone")
                ).scalar_one(),
                "obs_enterprise": conn.execute(
                    text("SELECT count(*) FROM zonestats.obs_enterprise")
                ).scalar_one(),
                "loaded": conn.execute(
                    text("SELECT count(*) FROM zonestats.load_ledger WHERE status = 'loaded'")
                ).scalar_one(),
                "zones_loaded": conn.execute(
                    text(
                        "SELECT count(DISTINCT zone_code) FROM zonestats.load_ledger"
                        " WHERE status = 'loaded'"
                    )
                ).scalar_one(),
            }
    finally:
        engine.dispose()


def _loaded_of(url: str, zone: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM zonestats.load_ledger"
                        " WHERE zone_code = :z AND status = 'loaded'"
                    ),
                    {"z": zone},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _until(what: str, check: Callable[[], Any], bound_s: float) -> Any:
    deadline = time.monotonic() + bound_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {bound_s} s: {what}")
        time.sleep(0.5)


def test_nightly_fans_out_across_two_workers_and_survives_a_killed_one(
    tmp_path: Path, pg_url: str, prefect_db: str, s3_server: S3Server
) -> None:
    lake = s3_server.uri("zonestats", bucket=s3_server.create_bucket(f"zs-{uuid.uuid4().hex[:16]}"))
    sim = ZoneServer(scale=0.02, as_of="2026-05-20", start_year=2026)
    cluster = None
    try:
        env = {sim.token_env(c): sim.token(c) for c in ZONES}
        env.update(s3_server.env)  # the lake's endpoint, region and credentials: env only
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        env["PREFECT_WORKER_QUERY_SECONDS"] = "2"  # pick runs up in seconds, not the default 10
        cluster = PrefectCluster(tmp_path / "prefect", prefect_db, env)
        cluster.cli("work-pool", "create", "zonestats", "--type", "process")
        cluster.start_worker("w1")
        cluster.start_worker("w2")
        cfg = _config(tmp_path / "zonestats.toml", sim, pg_url, lake, tmp_path / "work")
        # the zombie automation: Crashed 40 s after the last heartbeat (sent every 30 s)
        args = ("deploy", "--crash-after-s", "40", "--pending-crash-s", "60", "--config", str(cfg))
        deploy = cluster.run_zonestats(*args)
        assert "zone-pull" in deploy.stdout
        cluster.run_zonestats(*args)  # deploying again keeps one automation of each, not two
        autos = requests.post(f"{cluster.api_url}/automations/filter", json={}, timeout=10).json()
        assert sorted(a["name"] for a in autos) == [
            "zonestats: a release turned overdue",
            "zonestats: crash runs that never started",
            "zonestats: crash zone runs without heartbeat",
        ]
        api = Api(cluster.api_url)

        # night 1: every zone slow, so that a zone is still loading when its worker dies;
        # QUARANTINED's enterprise releases carry bad records all along (the lake's quarantine)
        def faults(code: str, **fault: Any) -> None:
            requests.post(
                f"http://127.0.0.1:{sim.port}/_admin/faults/{code}",
                data=json.dumps(fault),
                timeout=5,
            ).raise_for_status()

        for code in ZONES:
            faults(code, slow_s=0.4, bad_enterprises=code == QUARANTINED)
        night1 = _trigger(cluster)
        nightly_worker = _until(
            "the nightly picked up",
            lambda: api.run(night1)["labels"].get("prefect.worker.name"),
            120,
        )
        other = "w2" if nightly_worker == "w1" else "w1"

        def victim() -> str | None:
            for code, run in api.zone_runs(night1).items():
                on = run["labels"].get("prefect.worker.name")
                if (
                    on == other
                    and run["state"]["type"] == "RUNNING"
                    and _loaded_of(pg_url, code) >= 1
                ):
                    return code
            return None

        zone = _until(f"a zone loading on {other}", victim, 180)
        cluster.kill_worker(other)  # SIGKILL: the worker and its flow-run processes
        for code in ZONES:
            requests.delete(f"http://127.0.0.1:{sim.port}/_admin/faults/{code}", timeout=5)
        faults(QUARANTINED, bad_enterprises=True)
        run1 = api.wait(night1)
        children = api.zone_runs(night1)
        killed = children[zone]
        assert killed["state"]["type"] == "CRASHED", killed["state"]
        assert "no heartbeat" in killed["state"]["message"]
        # the nightly reports the zone failed, by name, and itself failed
        assert run1["state"]["type"] == "FAILED"
        assert zone in run1["state"]["message"]
        workers = {r["labels"].get("prefect.worker.name") for r in children.values()}
        assert workers == {"w1", "w2"}, "zones ran on both workers"

        # the UI's Retry (prefect flow-run retry) re-pulls what that zone left unfinished
        cluster.cli("flow-run", "retry", killed["id"])
        retried = api.wait(killed["id"])
        assert retried["state"]["type"] == "COMPLETED", retried["state"]
        assert retried["labels"].get("prefect.worker.name") == nightly_worker

        # night 2, on the surviving worker alone: everything else that was cut off completes
        night2 = _trigger(cluster)
        run2 = api.wait(night2)
        assert run2["state"]["type"] == "COMPLETED", run2["state"]
        after2 = _counts(pg_url)
        assert after2["zones_loaded"] == len(ZONES)
        # every lake table (observations, quarantine, current revisions) is SQL's, row by row
        rows = assert_lake_equals_sql(s3_server, lake, pg_url)
        assert rows["obs_zone"] == after2["obs_zone"] > 0
        assert rows["obs_enterprise"] == after2["obs_enterprise"] > 0
        assert rows["obs_zone_current"] > 0
        assert rows["obs_enterprise_current"] > 0
        assert rows["quarantine"] > 0
        versions = s3_server.versions(lake)
        assert None not in {versions[t] for t in ("obs_zone", "obs_enterprise")}, versions

        # night 3 finds nothing and adds nothing: every release loaded once, no Delta commit
        requests_before = s3_server.requests
        night3 = _trigger(cluster)
        assert api.wait(night3)["state"]["type"] == "COMPLETED"
        quiet_requests = s3_server.requests - requests_before
        assert _counts(pg_url) == after2
        assert s3_server.versions(lake) == versions
        assert assert_lake_equals_sql(s3_server, lake, pg_url) == rows
        _assert_nothing_doubled(pg_url)
        print(
            f"lake: {rows} rows, Delta versions {versions}, objects/bytes {lake_sizes(s3_server, lake)};"
            f" S3 requests: {s3_server.requests} in all, {quiet_requests} on the quiet night"
        )

        # the secret key: in the workers' environment only, never written anywhere
        cluster.stop()
        assert_secret_absent(s3_server.secret, tmp_path)  # logs, config, work files
        assert (
            secret_rows_in_postgres(prefect_db.replace("+asyncpg", "+psycopg"), s3_server.secret)
            == {}
        )
        assert secret_rows_in_postgres(pg_url, s3_server.secret) == {}
        s3_server.assert_secret_absent_in(lake)
    finally:
        if cluster is not None:
            cluster.stop()
        sim.stop()


def _assert_nothing_doubled(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            doubled = conn.execute(
                text(
                    "SELECT zone_code, indicator_code, period, revision, count(*)"
                    " FROM zonestats.obs_zone"
                    " GROUP BY zone_code, indicator_code, period, revision HAVING count(*) > 1"
                )
            ).all()
            twice = conn.execute(
                text(
                    "SELECT zone_code, dataset, period, revision, count(*)"
                    " FROM zonestats.load_ledger"
                    " GROUP BY zone_code, dataset, period, revision HAVING count(*) > 1"
                )
            ).all()
    finally:
        engine.dispose()
    assert doubled == []
    assert twice == []
