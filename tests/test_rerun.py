"""rerun --failed: only the failed releases, a dry run changes nothing, the operator is audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from warehouse import schema
from warehouse.store import Warehouse
from zonestats.cli import main
from zonestats.config import load_config
from zonestats.runtime import shipped_catalog


@pytest.mark.prefect
def test_failed_releases_are_retried_and_loaded(
    prefect_harness: None,
    simulator: Any,
    tmp_path: Path,
    write_config: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    cfg = write_config(
        tmp_path / "z.toml",
        simulator,
        f"sqlite:///{tmp_path}/w.db",
        tmp_path / "d",
        ["TY01", "DT01"],
        datasets=("zone",),
    )
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    # every data page of TY01 breaks off: its releases fail, DT01's load
    simulator.set_faults("TY01", Faults(drop_connection=10_000))
    assert main(["run", "--config", str(cfg)]) == 1
    ledger = wh.ledger()
    failed = ledger[ledger["status"] == "failed"]
    assert set(failed["zone_code"]) == {"TY01"}
    assert len(failed) == len(simulator.releases("TY01"))
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
    retried = after[after["zone_code"] == "TY01"]
    assert (retried["attempts"] == 2).all()
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
