"""The zonestats command: exit codes 0/1/2, one-line config errors, status."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cli.app import main


def test_missing_config_is_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--config", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "--config" in err
    assert "nope.toml" in err


def test_wrong_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "z.toml"
    cfg.write_text(
        '[warehouse]\nurl = "sqlite:///x.db"\ndata_dir = "d"\n[[zones]]\ncode = "TY01"\n'
        'adapter = "api-v2"\nbase_url = "http://127.0.0.1:1/api/v1"\ntoken_env = "T"\n'
    )
    assert main(["status", "--config", str(cfg)]) == 2
    assert "zones[TY01].adapter" in capsys.readouterr().err


def test_unknown_zone_in_zones_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "z.toml"
    cfg.write_text(f'[warehouse]\nurl = "sqlite:///{tmp_path}/w.db"\ndata_dir = "{tmp_path}"\n')
    assert main(["run", "--zones", "XX99", "--config", str(cfg)]) == 2
    assert "XX99" in capsys.readouterr().err


def _sqlite_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "z.toml"
    cfg.write_text(f'[warehouse]\nurl = "sqlite:///{tmp_path}/w.db"\ndata_dir = "{tmp_path}/d"\n')
    return cfg


def test_an_unknown_flag_is_named_in_our_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--no-such-flag"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: zonestats ")
    assert err.splitlines()[-1] == "zonestats: error: unrecognized arguments: --no-such-flag"


def test_an_impossible_date_is_refused_by_our_own_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _sqlite_config(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["export", "--period", "2026-02", "--as-of", "2026-02-30", "--config", str(cfg)])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "zonestats: error: argument --as-of: expected a date YYYY-MM-DD, got '2026-02-30'"
    )
    assert not (tmp_path / "w.db").exists()


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(
            ["export", "--period", "2026-13"],
            {},
            "zonestats: period '2026-13' is not a month YYYY-MM (02–12), a quarter YYYY-Qn "
            "(n 1–4) or a year YYYY",
            id="export-bad-period",
        ),
        pytest.param(
            ["export", "--period", "2026-01"],  # January is reported with February
            {},
            "zonestats: period '2026-01' is not a month YYYY-MM (02–12)",
            id="export-january",
        ),
        pytest.param(
            ["deploy"],
            {},
            "zonestats: deploy needs PREFECT_API_URL (the Prefect server)",
            id="deploy-without-api",
        ),
        pytest.param(
            ["deploy", "--heartbeat-s", "10"],
            {"PREFECT_API_URL": "http://127.0.0.1:1/api"},
            "zonestats: --heartbeat-s must be at least 30 (Prefect's floor)",
            id="deploy-heartbeat-below-prefects-floor",
        ),
        pytest.param(
            ["db", "grant-reader", "stats"],
            {},
            "zonestats: grant-reader is for PostgreSQL",
            id="grant-reader-on-sqlite",
        ),
    ],
)
def test_our_usage_errors_exit_2_with_a_message_and_change_nothing(
    argv: list[str],
    env: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = _sqlite_config(tmp_path)
    assert main([*argv, "--config", str(cfg)]) == 2
    out = capsys.readouterr()
    assert out.err.startswith(message), out.err
    assert out.err.count("\n") == 1
    assert "Traceback" not in out.err + out.out
    assert not (tmp_path / "d").exists()


def test_config_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "z.toml"
    cfg.write_text(f'[warehouse]\nurl = "sqlite:///{tmp_path}/w.db"\ndata_dir = "{tmp_path}"\n')
    monkeypatch.setenv("ZONESTATS_CONFIG", str(cfg))
    # the variable's config is the one read: its warehouse is named (and, being absent, not made)
    assert main(["status"]) == 2
    assert f"no warehouse at {tmp_path / 'w.db'}" in capsys.readouterr().err
    assert not (tmp_path / "w.db").exists()


def test_console_script_reports_config_error(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("zonestats")
    done = subprocess.run(
        [str(exe), "run", "--config", str(tmp_path / "none.toml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("zonestats: config error: --config")


@pytest.mark.prefect
def test_run_exit_codes_and_status(
    simulator: Any,
    sqlite_sim_config: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    cfg = sqlite_sim_config(["TY01", "DT01"])
    assert main(["run", "--zones", "TY01", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "TY01" in out
    assert "DT01" not in out.split("zone  loaded")[-1]

    simulator.set_faults("DT01", Faults(bad_token=True))
    assert main(["run", "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "DT01: the zone's system refused the token (401)" in out
    assert simulator.token("DT01") not in out

    assert main(["status", "--zone", "TY01", "--config", str(cfg)]) == 0
    status = capsys.readouterr().out
    releases = len(simulator.releases("TY01")) + len(simulator.releases("TY01", "enterprise"))
    assert status.count("loaded") == releases + 1  # rows + the records_loaded header
    assert main(["status", "--failed", "--config", str(cfg)]) == 0
    assert "no ledger rows match" in capsys.readouterr().out
    period = simulator.releases("TY01")[-1]["period"]
    assert (
        main(["status", "--json", "--zone", "TY01", "--period", period, "--config", str(cfg)]) == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {(r["zone_code"], r["period"], r["status"]) for r in rows} == {
        ("TY01", period, "loaded")
    }
    assert all(
        r["records_received"] == r["records_loaded"] + r["records_quarantined"] for r in rows
    )
