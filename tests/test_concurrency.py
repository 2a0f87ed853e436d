"""Two runs on the same releases at once (nightly and an operator's rerun) end with one copy."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from tasks.extract import list_zone_releases
from tasks.load import prepare_warehouse
from tasks.release import run_release
from warehouse import schema
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.models import ReleaseOutcome


def test_two_concurrent_runs_load_each_release_once(
    simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any
) -> None:
    cfg = write_config(
        tmp_path / "z.toml",
        simulator,
        warehouse_url,
        tmp_path / "d",
        ["TY01"],
        datasets=("zone", "enterprise"),
    )
    config = load_config(cfg, shipped_catalog())
    prepare_warehouse(config.warehouse, shipped_catalog())
    source = config.zones[0]
    refs = [r for ds in source.datasets for r in list_zone_releases(source, config.http, ds, None)]
    outcomes: dict[str, list[ReleaseOutcome]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str, order: list[Any]) -> None:
        try:
            start.wait()
            for ref in order:
                outcomes[name].append(run_release(source, config, ref, flow_run_id=name))
        except BaseException as exc:
            errors.append(exc)

    # one walks the releases forwards, the other backwards: they meet on every release
    threads = [
        threading.Thread(target=worker, args=("a", refs)),
        threading.Thread(target=worker, args=("b", refs[::-1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors

    wh = Warehouse(config.warehouse)
    ledger = wh.ledger()
    assert len(ledger) == len(refs)
    assert (ledger["status"] == "loaded").all(), ledger[["period", "status", "last_error"]]
    loaded_by = {
        str(o.key): n for n, outs in outcomes.items() for o in outs if o.status == "loaded"
    }
    assert len(loaded_by) == len(refs)  # each release loaded by exactly one of the two
    with wh.connect() as conn:
        obs = pd.DataFrame(conn.execute(select(schema.obs_zone)).mappings().all())
        ent = pd.DataFrame(conn.execute(select(schema.obs_enterprise)).mappings().all())
    # one load id per release in the observations: no second copy under another load
    assert obs.groupby(["period", "revision"])["load_id"].nunique().max() == 1
    assert ent.groupby(["period", "revision"])["load_id"].nunique().max() == 1
    assert set(obs["load_id"]) | set(ent["load_id"]) == set(ledger["load_id"])
