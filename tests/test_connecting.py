"""docs/connecting.md works as written, offline, on a warehouse a small nightly run loaded.

Every snippet that reads the local warehouse (``var/``: the SQLite file or the Parquet tree) is
taken from the page and run: shell commands as a shell would, DuckDB SQL in DuckDB, Python as a
script. What needs a server (``db.example``) or a download (a DuckDB extension) is left out, and
the page must say that the download fails offline and what works instead.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from conftest import AS_OF, START_YEAR, _write_config

from cli.app import main

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

PAGE = Path(__file__).resolve().parents[1] / "docs" / "connecting.md"
NEEDS_NETWORK = re.compile(r"db\.example|INSTALL |ATTACH |postgres_scan|s3://|https?://", re.I)


def blocks(lang: str) -> list[str]:
    """The fenced blocks of the page in ``lang`` that read the local warehouse."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.M | re.S)
    return [b for b in found if "var/" in b and not NEEDS_NETWORK.search(b)]


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory whose ``var/`` holds what a nightly run of two zones loaded (SQLite)."""
    from zonesim import Simulator

    root = tmp_path_factory.mktemp("reader")
    mp = pytest.MonkeyPatch()
    try:
        with Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR, enterprise_scale=0.1) as sim:
            for code in ("TY01", "DT01"):
                mp.setenv(sim.token_env(code), sim.token(code))
            var = root / "var"
            cfg = _write_config(
                root / "zonestats.toml",
                sim,
                f"sqlite:///{(var / 'zonestats.db').as_posix()}",
                var,
                ["TY01", "DT01"],
            )
            assert main(["run", "--today", AS_OF.date().isoformat(), "--config", str(cfg)]) == 0
        yield root
    finally:
        mp.undo()


def test_the_page_says_duckdb_extensions_download_and_what_works_offline() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "TYPE sqlite" in text
    assert "TYPE postgres" in text
    assert text.count("Failed to download extension") >= 1
    assert "without a download" in text.lower()
    # each way in that needs an extension is followed by one that does not
    assert len(blocks("python")) >= 3
    assert len(blocks("sql")) >= 1
    assert len(blocks("sh")) >= 1


def test_every_local_shell_command_runs_as_written(here: Path) -> None:
    commands = [
        line for b in blocks("sh") for line in b.splitlines() if line.startswith("sqlite3 ")
    ]
    assert commands
    for command in commands:
        done = subprocess.run(
            shlex.split(command), cwd=here, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip(), command  # it found rows


def _statements(block: str) -> list[str]:
    body = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def test_every_local_duckdb_query_runs_offline_and_finds_rows(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(here)
    con = duckdb.connect()
    # no extension may be fetched: what runs here runs on a machine without a network
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    statements = [s for b in blocks("sql") for s in _statements(b)]
    assert statements
    for statement in statements:
        assert con.execute(statement).fetchall(), statement


def _run_python(block: str, here: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(here)
    # duckdb's default connection would keep the frames of one block for the next
    namespace: dict[str, Any] = {"__name__": "__snippet__"}
    exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102 - the page's own snippet
    return namespace


def test_every_local_python_snippet_runs_as_written(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for block in blocks("python"):
        namespace = _run_python(block, here, monkeypatch)
        frames = [v for v in namespace.values() if isinstance(v, pd.DataFrame)]
        assert frames, block
        assert all(len(f) for f in frames), block  # each read found rows


def test_the_pandas_recipe_gives_timestamps_and_booleans_on_sqlite(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = next(b for b in blocks("python") if "parse_dates" in b)
    ns = _run_python(recipe, here, monkeypatch)
    assert str(ns["current"]["loaded_at"].dtype).startswith("datetime64")
    assert ns["indicators"]["mandatory"].dtype == bool
    assert str(ns["ledger"]["published_at"].dtype).startswith("datetime64")
    assert str(ns["ledger"]["finished_at"].dtype).startswith("datetime64")
    assert ns["flags"]["is_integer"].dtype == bool
    # what the page warns of: without the recipe, SQLite hands back text and 0/1
    engine = ns["engine"]
    plain = pd.read_sql("SELECT loaded_at, period FROM obs_zone_current LIMIT 1", engine)
    assert isinstance(plain["loaded_at"].iloc[0], str)
    assert set(pd.read_sql("SELECT mandatory FROM dim_indicator", engine)["mandatory"]) <= {0, 1}
