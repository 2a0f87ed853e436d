"""Issue 16: numbers that must not be made up, and the paths, errors and pipes an operator meets.

Each test here failed before its fix: a year without its figures was graded (all D), an export or
report of a period without data wrote files and mart rows, config paths followed the working
directory, read-only commands created the warehouse they were pointed at, a closed pipe ended
in a traceback, and an unknown --zone was "no rows".
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect

from cli.app import main
from marts.evaluation import evaluation_columns
from marts.method import load_method
from warehouse import marts
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def _config(path: Path, url: str, data_dir: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[warehouse]\nurl = "{url}"\ndata_dir = "{data_dir}"\n'
        '\n[[zones]]\ncode = "TY01"\nadapter = "api-v1"\n'
        'base_url = "http://127.0.0.1:9/api/v1"\ntoken_env = "ZONESTATS_TOKEN_TY01"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def upgraded(warehouse_url: str, tmp_path: Path) -> tuple[Path, Warehouse]:
    """A migrated warehouse with nothing loaded, and its config."""
    cfg = _config(tmp_path / "zonestats.toml", warehouse_url, (tmp_path / "data").as_posix())
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    return cfg, Warehouse(load_config(cfg, shipped_catalog()).warehouse)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


# --- numbers that must not be made up --------------------------------------------------------


def test_evaluate_a_year_without_its_figures_grades_nobody(
    upgraded: tuple[Path, Warehouse], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, wh = upgraded
    assert main(["evaluate", "--year", "1999", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "1999 cannot be evaluated" in err
    assert "1999-12, 1999-Q4, 1999" in err  # what is missing, from method.toml
    assert marts.mart_rows(wh, "mart_zone_evaluation", 1999).empty
    assert not (wh.data_dir / "parquet" / "marts" / "mart_zone_evaluation").exists()


def test_a_stale_evaluation_of_a_year_without_figures_is_cleared(
    upgraded: tuple[Path, Warehouse],
) -> None:
    cfg, wh = upgraded
    method = load_method()
    # an evaluation built when 1999 had figures (say, before they were withdrawn)
    row = {c: None for c in evaluation_columns(method)}
    row.update(year=1999, zone_code="TY01", composite=0.0, rank=1, grade="D", watchlist=True)
    row.update(missing_metrics="", method_version=method.version)
    for c in evaluation_columns(method):
        if c.startswith("score_") or c in {m.code for m in method.metrics}:
            row[c] = 0.0
    path = marts.replace_mart_year(
        wh, "mart_zone_evaluation", 1999, pd.DataFrame([row]), "stale", method.version
    )
    assert path is not None
    assert path.is_file()
    assert main(["evaluate", "--year", "1999", "--config", str(cfg)]) == 1
    assert marts.mart_rows(wh, "mart_zone_evaluation", 1999).empty
    assert not path.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "--period", "2027"],
        ["export", "--period", "2027-10", "--format", "csv"],
        ["export", "--period", "2027-Q3", "--format", "sdmx"],
        ["report", "--year", "2031"],
    ],
)
def test_export_and_report_of_a_period_without_data_write_nothing(
    upgraded: tuple[Path, Warehouse], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, wh = upgraded
    before = _files(wh.data_dir)
    assert main([*argv, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"no zone figures are loaded for the {'year' if argv[0] == 'report' else 'period'}" in (
        err
    )
    assert argv[2] in err
    assert _files(wh.data_dir) == before  # no file, no directory
    year = int(argv[2][:4])
    for mart in ("mart_zone_evaluation", "mart_rd_subsidy"):
        assert marts.mart_rows(wh, mart, year).empty
    assert marts.built_from(wh, "mart_zone_evaluation", year) is None


# --- paths -----------------------------------------------------------------------------------


def test_config_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    cfg = _config(site / "zonestats.toml", "sqlite:///var/zonestats.db?timeout=5", "var")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(cfg, shipped_catalog(), env={})
    assert config.warehouse.url.get_secret_value() == (
        f"sqlite:///{(site / 'var' / 'zonestats.db').as_posix()}?timeout=5"
    )
    assert config.warehouse.data_dir == site / "var"
    # the variables are the shell's: relative to where the command runs
    env = {"ZONESTATS_WAREHOUSE_URL": "sqlite:///w.db", "ZONESTATS_DATA_DIR": "d"}
    config = load_config(cfg, shipped_catalog(), env=env)
    assert config.warehouse.url.get_secret_value() == "sqlite:///w.db"
    assert config.warehouse.data_dir == Path("d")
    # absolute paths, memory databases and URLs with a scheme are left alone
    from zonestats.config import _from_file

    assert _from_file(site, "/srv/zonestats") == "/srv/zonestats"
    assert _from_file(site, "s3://bucket/zonestats") == "s3://bucket/zonestats"
    memory = _config(site / "memory.toml", "sqlite:///:memory:", "/srv/z")
    assert load_config(memory, shipped_catalog(), env={}).warehouse.url.get_secret_value() == (
        "sqlite:///:memory:"
    )


def test_status_from_another_directory_reads_the_config_files_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    cfg = _config(site / "zonestats.toml", "sqlite:///var/zonestats.db", "var")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    assert (site / "var" / "zonestats.db").is_file()
    capsys.readouterr()
    assert main(["status", "--config", str(cfg)]) == 0
    assert "no ledger rows match" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []  # no ./var/zonestats.db made here


def test_simulator_config_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.demo import simulator_config

    class Sim:
        def base_url(self, code: str) -> str:
            return f"http://127.0.0.1:9/{code}/api/v1"

        def token_env(self, code: str) -> str:
            return f"ZONESTATS_TOKEN_{code}"

    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "var" / "zonestats.toml"
    cfg.parent.mkdir()
    cfg.write_text(simulator_config(Sim(), Path("var")), encoding="utf-8")
    monkeypatch.chdir("/")
    config = load_config(cfg, shipped_catalog(), env={})
    assert config.warehouse.data_dir == tmp_path / "var"  # not var/var, not /var
    assert config.warehouse.url.get_secret_value() == (
        f"sqlite:///{(tmp_path / 'var' / 'zonestats.db').as_posix()}"
    )


READERS = [
    ["status"],
    ["quarantine", "list"],
    ["export", "--period", "2025-12"],
    ["export", "--period", "2025-12", "--as-of", "2026-01-31"],
    ["report", "--year", "2025"],
    ["asof", "--date", "2026-01-31"],
    ["diff", "--zone", "TY01", "--dataset", "zone", "--period", "2025-12"],
]


@pytest.mark.parametrize("argv", READERS)
def test_read_only_commands_never_create_a_sqlite_warehouse(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wh" / "zonestats.db"
    cfg = _config(tmp_path / "zonestats.toml", f"sqlite:///{db.as_posix()}", "data")
    assert main([*argv, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"no warehouse at {db}" in err
    assert not db.parent.exists()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("argv", READERS)
def test_read_only_commands_refuse_a_warehouse_without_tables(
    warehouse_url: str, tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    if warehouse_url.startswith("sqlite"):
        # an empty file: there, but not a warehouse
        create_engine(warehouse_url).connect().close()
    cfg = _config(tmp_path / "zonestats.toml", warehouse_url, (tmp_path / "data").as_posix())
    assert main([*argv, "--config", str(cfg)]) == 2
    assert "has no zonestats tables" in capsys.readouterr().err
    engine = create_engine(warehouse_url)
    try:
        assert inspect(engine).get_table_names(schema=None) == []  # not migrated behind our back
        if engine.dialect.name == "postgresql":
            assert "zonestats" not in inspect(engine).get_schema_names()
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("argv", READERS)
def test_read_only_commands_on_a_missing_postgres_database(
    pg_admin: object, tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import PG_ADMIN

    name = f"zonestats_absent_{uuid.uuid4().hex[:12]}"
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    cfg = _config(tmp_path / "zonestats.toml", url, (tmp_path / "data").as_posix())
    assert main([*argv, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cannot open the warehouse" in err
    assert name in err
    assert "Traceback" not in err


# --- pipes -----------------------------------------------------------------------------------


def _closed_pipe_run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run zonestats with stdout a pipe whose reader has already gone (as `| head` does)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv", [["status"], ["quarantine", "list"], ["db", "current"]])
def test_a_closed_pipe_stops_quietly(upgraded: tuple[Path, Warehouse], argv: list[str]) -> None:
    cfg, _ = upgraded
    done = _closed_pipe_run([*argv, "--config", str(cfg)], cfg.parent)
    assert done.returncode == 141, done.stderr.decode()
    assert done.stderr == b""  # no traceback, no "Exception ignored"


def test_head_reads_the_first_lines_and_zonestats_stops_quietly(tmp_path: Path) -> None:
    # a real shell pipe into head, with more output than the pipe holds
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cfg = _config(tmp_path / "zonestats.toml", "sqlite:///w.db", "data")
    assert main(["db", "upgrade", "--config", str(cfg)]) == 0
    from sqlalchemy import insert

    from warehouse import schema
    from zonestats.models import utcnow

    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    rows = [
        {
            "zone_code": "TY01",
            "dataset": "zone",
            "period": f"{2000 + i // 11}-{2 + i % 11:02d}",
            "revision": 1,
            "frequency": "M",
            "load_id": str(uuid.uuid4()),
            "started_at": utcnow(),
            "status": "failed",
            "attempts": 1,
            "last_error": "x" * 60,
        }
        for i in range(3000)
    ]
    with wh.engine.begin() as conn:
        conn.execute(insert(schema.load_ledger), rows)
    pipeline = f"set -o pipefail; '{sys.executable}' -m cli status --config '{cfg}' | head -3"
    done = subprocess.run(
        ["/bin/bash", "-c", pipeline],
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.stdout.decode().splitlines()[0].startswith("zone_code")
    assert len(done.stdout.decode().splitlines()) == 3
    assert done.returncode == 141
    assert done.stderr == b""


# --- unknown zones ---------------------------------------------------------------------------

ZONE_COMMANDS: list[list[str]] = [
    ["run", "--zones", "XX99"],
    ["status", "--zone", "XX99"],
    ["quarantine", "list", "--zone", "XX99"],
    ["rerun", "--failed", "--zone", "XX99", "--reason", "r", "--dry-run"],
    ["backfill", "--zone", "XX99", "--dataset", "zone", "--from", "2025-02", "--to", "2025-03"],
    ["submit", "--zone", "XX99", "--form", "YQ1", "--period", "2025-10", "--file", "f.xlsx"],
    ["late", "--zone", "XX99"],
    ["asof", "--date", "2026-01-31", "--zone", "XX99"],
    ["diff", "--zone", "XX99", "--dataset", "zone", "--period", "2025-10"],
    [
        "deadline",
        "extend",
        "--zone",
        "XX99",
        "--dataset",
        "zone",
        "--period",
        "2025-10",
        "--until",
        "2025-12-01",
        "--reason",
        "r",
    ],
]


@pytest.mark.parametrize("argv", ZONE_COMMANDS, ids=lambda a: a[0] + "-" + a[1])
def test_an_unknown_zone_is_a_usage_error_everywhere(
    upgraded: tuple[Path, Warehouse], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = upgraded
    assert main([*argv, "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "'XX99' is not a zone" in err
    assert ", ".join(shipped_catalog().zones) in err  # the known ones, to pick from
