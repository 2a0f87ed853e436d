"""rerun --failed: only the failed releases, a dry run changes nothing, the operator is audited."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli.app import main
from warehouse import schema
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config


@pytest.mark.prefect
def test_failed_releases_are_retried_and_loaded(
    simulator: Any,
    sqlite_sim_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    cfg = sqlite_sim_config(["TY01", "DT01"], datasets=("zone",))
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    # every data page of TY01 breaks off: its releases fail, DT01's load
    simulator.set_faults("TY01", Faults(drop_connection=10_000))
    assert main(["run", "--config", str(cfg)]) == 1
    assert "retry: zonestats rerun --failed --zone TY01 --reason" in capsys.readouterr().out
    ledger = wh.ledger()
    failed = ledger[ledger["status"] == "failed"]
    assert set(failed["zone_code"]) == {"TY01"}
    assert len(failed) == len(simulator.releases("TY01"))
    # three dropped connections in a row open TY01's breaker: the rest are not attempted
    attempted = failed[failed["attempts"] == 1]
    assert len(attempted) == 3
    assert (
        failed[failed["attempts"] == 0]["last_error"]
        .str.startswith("not attempted: TY01 unavailable after 3 consecutive failures")
        .all()
    )
    capsys.readouterr()

    # a dry run prints the plan and changes nothing
    assert (
        main(
            [
                "rerun",
                "--failed",
                "--reason",
                "zone fixed its proxy",
                "--dry-run",
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("would retry TY01 zone") == len(failed)
    assert "nothing changed (dry run)" in out
    assert wh.ledger().equals(ledger)
    with wh.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(schema.operator_action)).scalar_one() == 0
        )

    simulator.clear_faults()
    simulator.clear_requests()
    assert (
        main(
            [
                "rerun",
                "--failed",
                "--zone",
                "TY01",
                "--reason",
                "zone fixed its proxy",
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    after = wh.ledger()
    assert (after["status"] == "loaded").all()
    retried = after[after["zone_code"] == "TY01"].set_index(["dataset", "period", "revision"])
    before = failed.set_index(["dataset", "period", "revision"])
    assert (retried["attempts"] == before["attempts"] + 1).all()  # one more attempt each
    assert (after[after["zone_code"] == "DT01"]["attempts"] == 1).all()  # only the failed ones
    assert not [r for r in simulator.requests if r.zone == "DT01"]
    with wh.connect() as conn:
        action = conn.execute(select(schema.operator_action)).mappings().one()
    assert (action["action"], action["reason"]) == ("rerun", "zone fixed its proxy")
    assert action["operator"]
    assert "TY01 zone" in action["details"]
    # nothing failed is left: a second rerun has nothing to do
    assert main(["rerun", "--failed", "--reason", "again", "--config", str(cfg)]) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.prefect
def test_backfill_pulls_a_range_skips_what_is_loaded_and_force_verifies(
    simulator: Any,
    sqlite_sim_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = sqlite_sim_config(["TY01"], datasets=("zone",))
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    args = [
        "backfill",
        "--zone",
        "TY01",
        "--dataset",
        "zone",
        "--from",
        "2025-04",
        "--to",
        "2025-Q3",
        "--reason",
        "statistician asked for Q2–Q3 2025",
        "--config",
        str(cfg),
    ]
    in_range = [
        r
        for r in simulator.releases("TY01")
        if r["period"]
        in {"2025-04", "2025-05", "2025-06", "2025-Q2", "2025-07", "2025-08", "2025-09", "2025-Q3"}
    ]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("would pull TY01 zone") == len(in_range)
    import sqlalchemy

    assert not sqlalchemy.inspect(wh.engine).has_table("load_ledger") or wh.ledger().empty

    simulator.clear_requests()
    assert main(args) == 0
    ledger = wh.ledger()
    assert set(ledger["period"]) == {r["period"] for r in in_range}
    assert (ledger["status"] == "loaded").all()
    assert {r.query.get("period") for r in simulator.requests if "/data/" in r.path} == set(
        ledger["period"]
    )

    # again: nothing new is pulled; with --force every release is fetched again and verified
    simulator.clear_requests()
    assert main(args) == 0
    assert not [r for r in simulator.requests if "/data/" in r.path]
    assert main([*args, "--force"]) == 0
    assert {r.query.get("period") for r in simulator.requests if "/data/" in r.path} == set(
        ledger["period"]
    )
    assert wh.ledger().equals(ledger)  # verified, nothing loaded twice
    with wh.connect() as conn:
        actions = conn.execute(select(schema.operator_action.c.action)).scalars().all()
    assert actions == ["backfill", "backfill", "backfill"]
