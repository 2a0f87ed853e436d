"""Secrets where they could leak: a zone that echoes the bearer token it received.

The simulator's ``echo_token`` fault quotes the Authorization header in every answer's headers,
in every JSON answer, in error bodies that fail releases (a 400 and a 403 the client quotes, a 502
it retries until it gives up) and in record fields (a value the audit quarantines, an enterprise
name that loads). The nightly flow runs against it for real; then every place the pipeline
writes to is read back and searched for the token — whole, as "Bearer <token>" and in pieces
(a body cut inside the token leaks its first characters).
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pyarrow.parquet as pq
import pytest
from sqlalchemy import MetaData, inspect, select

from warehouse import schema
from warehouse.migrate import SCHEMA
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

ZONE = "TY01"
# Pieces of the token this long count as a leak: long enough that hex digests (sha256, uuids)
# elsewhere in the data do not match one by chance, short enough to catch a cut-off token.
PIECE = 12


def pieces(token: str) -> list[str]:
    """The token's substrings of PIECE characters (the whole token is one of their unions)."""
    return [token[i : i + PIECE] for i in range(len(token) - PIECE + 1)]


def leaks(token: str, where: str, text: str | bytes) -> list[str]:
    """Return ["<where>: <what of the token>"] if the token or a piece of it is in a text."""
    data = text.encode() if isinstance(text, str) else text
    if token.encode() in data:
        return [f"{where}: the token"]
    found = [piece for piece in pieces(token) if piece.encode() in data]
    return [f"{where}: part of the token ({found[0]}…)"] if found else []


def run(config: Path) -> tuple[Any, Any]:
    """Run the nightly flow; return its final state and the run summary."""
    from flows.nightly import RunFailed, nightly

    state = nightly(config_path=str(config), return_state=True)
    if state.is_completed():
        return state, state.result()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, RunFailed), exc
    return state, exc.summary


def table_rows(wh: Warehouse) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the warehouse, those schema.py declares and any other."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with wh.connect() as conn:
        for table in schema.metadata.sorted_tables:
            rows[table.name] = [dict(r) for r in conn.execute(select(table)).mappings()]
        # tables the migrations made that schema.py does not declare (alembic_version, …)
        on_pg = conn.dialect.name == "postgresql"
        names = inspect(conn).get_table_names(schema=SCHEMA if on_pg else None)
        others = MetaData()
        others.reflect(
            conn,
            schema=SCHEMA if on_pg else None,
            only=[n for n in names if n not in rows],
        )
        for table in others.sorted_tables:
            rows[table.name] = [dict(r) for r in conn.execute(select(table)).mappings()]
    return rows


def file_texts(root: Path) -> Iterator[tuple[str, str | bytes]]:
    """Each file under root as raw bytes; Parquet also as its rows, a zip also member by member.

    Parquet pages may be dictionary-encoded and compressed, so a token in a column would not show
    in the raw bytes; nor would one in a compressed zip member (xlsx).
    """
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        data = path.read_bytes()
        yield name, data
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            yield f"{name} (rows)", json.dumps(table.to_pylist(), default=str, ensure_ascii=False)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                for member in zf.namelist():
                    yield f"{name}!{member}", zf.read(member)


def prefect_records(flow_run_id: UUID) -> dict[str, Any]:
    """What Prefect keeps of a run: its flow runs (with subflows), task runs, logs, artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=30)  # logs go to the API in batches: send what is left
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        runs += client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
            )
        )
        ids = [r.id for r in runs]
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=ids))
        )
        logs: list[Any] = []
        while batch := client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
            limit=200,
            offset=len(logs),
        ):
            logs += batch
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
    return {"flow_runs": runs, "task_runs": tasks, "logs": logs, "artifacts": artifacts}


@pytest.fixture
def setup(
    simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any
) -> tuple[Any, Path, Warehouse]:
    cfg = write_config(
        tmp_path / "zonestats.toml",
        simulator,
        warehouse_url,
        tmp_path / "data",
        [ZONE],
        {"page_size": 200},
    )
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    return simulator, cfg, wh


def test_an_echoed_token_is_nowhere(
    prefect_harness: None,
    setup: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from zonesim import ECHO_CASES, Faults, echo_case

    sim, cfg, wh = setup
    token = sim.token(ZONE)
    sim.set_faults(ZONE, Faults(echo_token=True))
    sim.clear_requests()
    caplog.set_level(logging.DEBUG)
    state, summary = run(cfg)

    # -- the fault fired, and what it echoed reached the error paths and the data ------------
    mine = [r for r in sim.requests if r.zone == ZONE]
    assert mine
    assert all(r.echoed for r in mine)  # every answer carried the token in its headers
    served: dict[tuple[str, str], set[int]] = {}
    for r in mine:
        if "/data/" in r.path:
            served.setdefault((r.path.rsplit("/", 1)[1], r.query["period"]), set()).add(r.status)
    cases: dict[tuple[str, str], Any] = {}
    for dataset, period in served:
        if (case := echo_case(dataset, period)) is not None:
            cases[(dataset, period)] = case
    # every case of ECHO_CASES was met by some release of the zone, and served as it says
    assert {(c.dataset, c.frequency, c.period_end) for c in cases.values()} == {
        (c.dataset, c.frequency, c.period_end) for c in ECHO_CASES
    }
    for key, case in cases.items():
        assert served[key] == {case.status}, key
    attempts = [r for r in mine if r.status == 502]
    assert len(attempts) == 4  # http.max_attempts: the 5xx echo was retried, then given up

    assert state.is_failed()
    assert summary.exit_code == 1
    rows = table_rows(wh)
    ledger = {(r["dataset"], r["period"]): r for r in rows["load_ledger"]}
    for (dataset, period), case in cases.items():
        row = ledger[(dataset, period)]
        if case.status == 200:
            assert row["status"] == "loaded", row
            continue
        assert row["status"] == "failed", row
        if case.status == 502:
            assert "gave up after 4 attempts (HTTP 502)" in row["last_error"]
        else:
            # the body the client quotes reached the ledger, the token masked in it
            assert f"unexpected HTTP {case.status}" in row["last_error"]
            assert "Bearer ***" in row["last_error"], row["last_error"]
    # the run summary names each failed release with what the zone answered, masked
    failures = "\n".join(summary.failures())
    for (dataset, period), case in cases.items():
        if case.status in (400, 403):
            line = next(f for f in summary.failures() if f"{dataset} {period} r" in f)
            assert "Bearer ***" in line, line
    [value_case] = [k for k, c in cases.items() if c.where == "value"]
    held = [q for q in rows["quarantine"] if (q["dataset"], q["period"]) == value_case]
    echoed = [q for q in held if q["rule"] == "value_unparsable"]
    assert echoed, held
    # (masked or not: whether the token itself is in them is the question below)
    assert all("Bearer " in str(q["raw"]) for q in echoed)
    named = sorted(period for (dataset, period), c in cases.items() if c.where == "name")
    assert named
    for period in named:
        archived = (wh.data_dir / "raw" / "enterprise" / ZONE).rglob(f"*-{period}-r*.jsonl")
        assert "（Bearer " in "".join(p.read_text(encoding="utf-8") for p in archived), period
    # the latest of them is the zone's latest enterprise release: the name it gave is kept
    assert named[-1] == max(r["period"] for r in sim.releases(ZONE, "enterprise"))
    assert [d for d in rows["dim_enterprise"] if "（Bearer " in (d["name"] or "")], (
        "no echoed name kept"
    )

    # -- and the token is nowhere --------------------------------------------------------------
    found: list[str] = []
    # logs: ours, Prefect's and the libraries', as records and as printed
    messages = [caplog.text]
    messages += [r.getMessage() for r in caplog.records]
    out, err = capfd.readouterr()
    messages += [out, err]
    found += leaks(token, "captured logs", "\n".join(messages))
    # the warehouse: every row of every table, every column as text
    for name, table in rows.items():
        found += leaks(token, f"table {name}", json.dumps(table, default=str, ensure_ascii=False))
    # files: the data dir (Parquet, raw archive, quality reports, Data Docs) and the SQLite
    # database with its WAL next to it
    scanned = []
    for name, data in file_texts(tmp_path):
        scanned.append(name)
        found += leaks(token, f"file {name}", data)
    for kind in ("data/raw/", "data/parquet/quarantine/", "data/quality/reports/", "data-docs/"):
        assert [n for n in scanned if kind in n], f"no file under {kind} was scanned"
    assert summary.quality_report
    assert summary.data_docs
    # Prefect: the run, its subflows and tasks, their parameters, states, logs and artifacts
    prefect = prefect_records(state.state_details.flow_run_id)
    assert len(prefect["flow_runs"]) == 2  # nightly and the zone's subflow
    api_logs = "\n".join(log.message for log in prefect["logs"])
    assert "Bearer ***" in api_logs  # the failed releases are logged, the token masked
    for run_ in prefect["flow_runs"]:
        found += leaks(
            token, f"flow run {run_.name} parameters", json.dumps(run_.parameters, default=str)
        )
        found += leaks(token, f"flow run {run_.name}", run_.model_dump_json())
    for task in prefect["task_runs"]:
        found += leaks(token, f"task run {task.name}", task.model_dump_json())
    found += leaks(token, "Prefect logs", api_logs)
    keys = {a.key for a in prefect["artifacts"]}
    assert {"nightly-summary", "nightly-quality"} <= keys
    for artifact in prefect["artifacts"]:
        found += leaks(token, f"artifact {artifact.key}", artifact.model_dump_json())
    # the results Prefect may have persisted
    storage = Path(os.environ["PREFECT_HOME"]) / "storage"
    if storage.exists():
        for name, data in file_texts(storage):
            found += leaks(token, f"Prefect storage {name}", data)
    # what the run hands back
    found += leaks(token, "run summary", summary.to_markdown() + failures)
    found += leaks(token, "final state", str(state.message))
    assert not found, "\n".join(found)
