"""The checkpoint over a real warehouse: only the run's releases, read ahead by a real worker process.

Releases are loaded from the simulator by the pipeline itself (``run_release``, no Prefect), then
defects are planted by hand through the contract's views — in a release the "run" loaded and in
one it did not — and the checkpoint must report exactly the first. The worker is a real
subprocess: it reads ahead while releases load and agrees with the cold path; killed, stopped or
orphaned, it never hangs its parent, and the warehouse URL never reaches its command line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import AS_OF, START_YEAR, _write_config
from pydantic import SecretStr
from sqlalchemy import func, select

from tasks.extract import list_zone_releases
from tasks.load import prepare_warehouse
from tasks.quality import run_dq_checkpoint
from tasks.release import run_release
from validation.checkpoint import CheckpointRun, run_checkpoint_on_warehouse
from validation.checkpoint_worker import CheckpointWorker, CheckpointWorkerError
from validation.expectations import DqOutcome
from warehouse import quality, schema
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, WarehouseSettings, load_config
from zonestats.models import ReleaseKey, ReleaseRef

pytestmark = pytest.mark.slow

ZONE = "TY01"
# the "run" of these tests: the newest zone and enterprise releases; everything older was loaded
# before it
RUN_PERIODS = {"zone": {"2026-03", "2026-Q1"}, "enterprise": {"2026-03"}}


@dataclass
class Loaded:
    """A warehouse with every TY01 release loaded, and which of them the test run loaded."""

    config: AppConfig
    run_keys: list[ReleaseKey]
    older_keys: list[ReleaseKey]

    @property
    def settings(self) -> WarehouseSettings:
        return self.config.warehouse


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    from zonesim import Simulator

    # few enterprises: the checkpoint's logic, not its volume, is under test here
    with Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR, enterprise_scale=0.05) as sim:
        saved = {code: os.environ.get(sim.token_env(code)) for code in sim.zone_codes}
        for code in sim.zone_codes:
            os.environ[sim.token_env(code)] = sim.token(code)
        yield sim
        for code, value in saved.items():
            if value is None:
                os.environ.pop(sim.token_env(code), None)
            else:
                os.environ[sim.token_env(code)] = value


def _config(sim: Any, root: Path) -> AppConfig:
    url = f"sqlite:///{(root / 'warehouse.db').as_posix()}"
    cfg = _write_config(root / "z.toml", sim, url, root / "data", [ZONE])
    config = load_config(cfg, shipped_catalog())
    prepare_warehouse(config.warehouse, shipped_catalog())
    return config


def _refs(config: AppConfig) -> list[ReleaseRef]:
    source = config.zones[0]
    return [r for ds in source.datasets for r in list_zone_releases(source, config.http, ds, None)]


def _load(config: AppConfig, refs: list[ReleaseRef]) -> list[ReleaseKey]:
    keys = []
    for ref in refs:
        out = run_release(config.zones[0], config, ref, flow_run_id=None)
        assert out.status == "loaded", (ref.key, out.error)
        keys.append(out.key)
    return keys


@pytest.fixture(scope="module")
def loaded(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    config = _config(sim, tmp_path_factory.mktemp("checkpoint"))
    keys = _load(config, _refs(config))
    run = [k for k in keys if k.period in RUN_PERIODS[k.dataset]]
    assert {k.dataset for k in run} == {"zone", "enterprise"}
    return Loaded(config, run, [k for k in keys if k not in run])


def _rows(settings: WarehouseSettings, keys: list[ReleaseKey], dataset: str) -> int:
    """How many current rows these releases have in a dataset's view."""
    view = schema.OBS_TABLES[dataset]
    with Warehouse(settings).connect() as conn:
        return sum(
            conn.execute(
                select(func.count())
                .select_from(view)
                .where(
                    view.c.zone_code == k.zone_code,
                    view.c.period == k.period,
                    view.c.revision == k.revision,
                )
            ).scalar_one()
            for k in keys
            if k.dataset == dataset
        )


def _summary(outcome: DqOutcome) -> list[tuple[str, bool, str]]:
    return [(r.expectation, r.success, r.observed_value) for r in outcome.results]


class _Edit:
    """Hand edits through the contract's views, undone afterwards (the warehouse is shared)."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.wh = Warehouse(settings)
        self.undo: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []

    def __call__(self, dataset: str, key: ReleaseKey, where: dict[str, Any], **values: Any) -> None:
        view = schema.OBS_TABLES[dataset]
        match = {"zone_code": key.zone_code, "period": key.period, "revision": key.revision}
        match.update(where)
        cond = [view.c[c] == v for c, v in match.items()]
        with self.wh.engine.begin() as conn:
            before = (
                conn.execute(select(*(view.c[c] for c in values)).where(*cond)).mappings().all()
            )
            assert len(before) == 1, (key, where, before)
            conn.execute(view.update().where(*cond).values(**values))
        # the undo finds the row by its edited values where the key itself was edited
        self.undo.append((view, {**match, **values}, dict(before[0])))

    def revert(self) -> None:
        with self.wh.engine.begin() as conn:
            for view, match, values in reversed(self.undo):
                conn.execute(
                    view.update()
                    .where(*(view.c[c] == v for c, v in match.items()))
                    .values(**values)
                )


@pytest.fixture
def edit(loaded: Loaded) -> Iterator[_Edit]:
    e = _Edit(loaded.settings)
    yield e
    e.revert()


def _key(keys: list[ReleaseKey], dataset: str, period: str) -> ReleaseKey:
    return next(k for k in keys if k.dataset == dataset and k.period == period)


def test_the_checkpoint_reads_the_runs_releases_only(loaded: Loaded, edit: _Edit) -> None:
    catalog = shipped_catalog()
    older = _key(loaded.older_keys, "zone", "2025-04")
    zone_run = _key(loaded.run_keys, "zone", "2026-03")
    ent_run = _key(loaded.run_keys, "enterprise", "2026-03")
    # in a release the run did not load: a unit that is not the catalog's
    edit("zone", older, {"indicator_code": "revenue"}, unit="元")
    # in the run's releases: a growth rate above its maximum, a malformed credit code
    edit("zone", zone_run, {"indicator_code": "industrial_va_growth"}, value=350.0)
    with Warehouse(loaded.settings).connect() as conn:
        view = schema.obs_enterprise
        uscc = conn.execute(
            select(view.c.uscc)
            .where(view.c.zone_code == ZONE, view.c.period == "2026-03")
            .order_by(view.c.uscc)
            .limit(1)
        ).scalar_one()
    bad = uscc[:-1] + "I"  # I is not a letter of the credit-code alphabet
    for ind in catalog.for_dataset("enterprise"):
        edit("enterprise", ent_run, {"uscc": uscc, "indicator_code": ind.code}, uscc=bad)

    dq = run_dq_checkpoint(loaded.settings, catalog, "run-only", loaded.run_keys)
    assert sorted(dq.failed) == [
        "obs_enterprise_current.uscc_format",
        "obs_zone_current.value_at_most_max",
    ]
    by_id = {r["expectation"]: r for r in dq.rows}
    n_ent = len(catalog.for_dataset("enterprise"))
    assert by_id["obs_enterprise_current.uscc_format"]["observed_value"].startswith(
        f"{n_ent} unexpected of "
    )
    assert bad in by_id["obs_enterprise_current.uscc_format"]["observed_value"]
    # exactly the run's rows were read: the key check counts them, and no more
    zone_rows = _rows(loaded.settings, loaded.run_keys, "zone")
    ent_rows = _rows(loaded.settings, loaded.run_keys, "enterprise")
    assert by_id["obs_zone_current.key_unique"]["observed_value"] == f"0 unexpected of {zone_rows}"
    assert by_id["obs_enterprise_current.key_unique"]["observed_value"] == (
        f"0 unexpected of {ent_rows}"
    )
    assert by_id["obs_zone_current.unit_canonical"]["success"]  # the older release's defect
    # (a duplicated key cannot be planted here: the tables' own key forbids it; the expectation
    # is shown failing on a frame in test_expectations)
    # stored in dq_run, with the Data Docs of this run
    stored = quality.dq_results(Warehouse(loaded.settings), "run-only")
    assert len(stored) == len(dq.rows)
    assert dq.docs_index is not None
    assert Path(dq.docs_index).is_file()

    # the older release, checked on its own, shows its defect
    alone = run_checkpoint_on_warehouse(loaded.settings, catalog, [older], "older")
    failed = [r for r in alone.results if not r.success]
    assert [r.expectation for r in failed] == ["obs_zone_current.unit_canonical"]
    assert failed[0].observed_value.startswith("1 unexpected of ")
    assert {r.table for r in alone.results} == {"obs_zone_current"}  # no enterprise release given


def test_a_figure_that_is_not_a_number_counts_as_missing(loaded: Loaded) -> None:
    """SQLite keeps text typed into a REAL column: read, it is no number, so no figure."""
    run = _key(loaded.run_keys, "zone", "2026-03")
    # through the driver: SQLAlchemy's Float would refuse the text that SQLite accepts
    where = "WHERE zone_code = ? AND period = ? AND revision = ? AND indicator_code = 'revenue'"
    args = (run.zone_code, run.period, run.revision)
    wh = Warehouse(loaded.settings)
    with wh.engine.begin() as conn:
        (before,) = conn.exec_driver_sql(f"SELECT value FROM obs_zone {where}", args).one()
        conn.exec_driver_sql(f"UPDATE obs_zone SET value = '12,3a' {where}", args)
    try:
        dq = run_dq_checkpoint(loaded.settings, shipped_catalog(), "text", [run])
    finally:
        with wh.engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE obs_zone SET value = ? {where}", (before, *args))
    assert dq.failed == ["obs_zone_current.value_present"]
    by_id = {r["expectation"]: r for r in dq.rows}
    assert by_id["obs_zone_current.value_present"]["observed_value"].startswith("1 unexpected")


def test_small_chunks_add_up_to_the_same_outcome(loaded: Loaded, edit: _Edit) -> None:
    """Releases validated a few at a time give what one pass over all of them gives."""
    run = _key(loaded.run_keys, "zone", "2026-03")
    edit("zone", run, {"indicator_code": "above_scale_enterprises"}, value=12.5)
    keys = loaded.run_keys + loaded.older_keys
    whole = run_checkpoint_on_warehouse(loaded.settings, shipped_catalog(), keys, "whole")
    small = run_checkpoint_on_warehouse(
        loaded.settings, shipped_catalog(), keys, "small", chunk_rows=50
    )
    assert _summary(small) == _summary(whole)
    assert not whole.success
    assert [r.expectation for r in whole.results if not r.success] == [
        "obs_zone_current.value_integer"
    ]


def test_chunks_never_grow_past_chunk_rows(loaded: Loaded) -> None:
    """A chunk closes before a release would take it past the bound: memory stays flat as releases grow."""
    keys = loaded.run_keys + loaded.older_keys
    run = CheckpointRun(loaded.settings, shipped_catalog(), chunk_rows=50)
    run.finish(keys, "bounded")
    sizes = run.chunk_sizes
    assert sum(1 for n, rows in sizes if n > 1) > 2  # small releases were gathered, many times
    # past the bound only a release bigger than the bound alone (it is never split)
    assert all(rows <= 50 or n == 1 for n, rows in sizes), sizes
    assert sum(rows for _, rows in sizes) == run.rows_read


def test_nothing_loaded_checks_nothing(loaded: Loaded) -> None:
    outcome = run_checkpoint_on_warehouse(loaded.settings, shipped_catalog(), [], "empty")
    assert outcome == DqOutcome(success=True, results=[], docs_index=None)


def test_reading_ahead_follows_the_loads(
    sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: what loads after watch() is read ahead; superseded or unlisted is redone."""
    config = _config(sim, tmp_path)
    refs = [r for r in _refs(config) if r.key.dataset == "zone"]
    before = _load(config, refs[:2])
    run = CheckpointRun(config.warehouse, shipped_catalog())
    run.watch()
    during = _load(config, refs[2:5])
    assert run.prefetch() == 3
    assert run.prefetch() == 0  # nothing new
    assert set(run.releases_checked) == {(k.dataset, k.zone_code, k.period) for k in during}
    # a new revision of one of them: read again at its new revision
    first = during[0]
    revision = sim.publish_revision(ZONE, "zone", first.period)
    newer = next(r for r in _refs(config) if r.key.period == first.period)
    assert newer.key.revision == revision
    (reloaded,) = _load(config, [newer])
    assert run.prefetch() == 1
    assert run.releases_checked[("zone", ZONE, first.period)].revision == revision
    # the run's list: the reloaded release and one more; the third read ahead is not in it
    listed = [reloaded, during[1], *before[:1]]
    outcome = run.finish(listed, "ahead")
    cold = run_checkpoint_on_warehouse(config.warehouse, shipped_catalog(), listed, "cold")
    assert _summary(outcome) == _summary(cold)
    rows = _rows(config.warehouse, listed, "zone")
    by_id = {r.expectation: r for r in outcome.results}
    assert by_id["obs_zone_current.key_unique"].observed_value == f"0 unexpected of {rows}"


def test_the_worker_reads_ahead_and_agrees_with_the_cold_path(sim: Any, tmp_path: Path) -> None:
    config = _config(sim, tmp_path)
    refs = _refs(config)
    worker = CheckpointWorker.start(config.warehouse, shipped_catalog(), poll_s=0.1)
    try:
        keys = _load(config, refs)
        dq = run_dq_checkpoint(config.warehouse, shipped_catalog(), "warm", keys, worker=worker)
    finally:
        worker.close()
    assert worker.proc.poll() is not None  # stopped after its answer
    cold = run_checkpoint_on_warehouse(config.warehouse, shipped_catalog(), keys, "cold")
    assert dq.failed == []
    assert [(r["expectation"], r["success"], r["observed_value"]) for r in dq.rows] == _summary(
        cold
    )
    report = worker.report
    assert report is not None
    assert report.rows_read == _rows(config.warehouse, keys, "zone") + _rows(
        config.warehouse, keys, "enterprise"
    )
    assert 0 <= report.prefetched_releases <= len(keys)
    stored = quality.dq_results(Warehouse(config.warehouse), "warm")
    assert len(stored) == len(dq.rows)
    assert set(stored["docs_path"]) == {dq.docs_index}


def _settings(tmp_path: Path, url: str | None = None) -> WarehouseSettings:
    url = url or f"sqlite:///{(tmp_path / 'w.db').as_posix()}"
    return WarehouseSettings(url=SecretStr(url), data_dir=tmp_path / "data")


def test_a_dead_worker_is_a_clear_failed_checkpoint(loaded: Loaded) -> None:
    worker = CheckpointWorker.start(loaded.settings, shipped_catalog())
    worker.proc.kill()
    worker.proc.wait(timeout=30)
    with pytest.raises(CheckpointWorkerError, match=r"worker died before answering \(exit code"):
        run_dq_checkpoint(
            loaded.settings, shipped_catalog(), "dead", loaded.run_keys, worker=worker
        )
    assert quality.dq_results(Warehouse(loaded.settings), "dead").empty


def test_a_worker_that_stops_answering_is_stopped(loaded: Loaded) -> None:
    worker = CheckpointWorker.start(loaded.settings, shipped_catalog())
    os.kill(worker.pid, signal.SIGSTOP)  # alive, and silent
    with pytest.raises(CheckpointWorkerError, match="no sign of progress for 2 s"):
        worker.finish(loaded.run_keys, "stopped", idle_timeout_s=2)
    assert worker.proc.poll() is not None  # killed, not left behind


def test_a_worker_that_cannot_reach_the_warehouse_says_why_without_the_password(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    password = "s3cret-Pa55word"
    # nothing listens on port 9: the connection is refused
    url = f"postgresql+psycopg://zonestats:{password}@127.0.0.1:9/nowhere"
    worker = CheckpointWorker.start(_settings(tmp_path, url), shipped_catalog())
    keys = [ReleaseKey(ZONE, "zone", "2026-03", 1)]
    with pytest.raises(CheckpointWorkerError, match="the checkpoint failed") as info:
        worker.finish(keys, "unreachable")
    assert password not in str(info.value)
    out, err = capfd.readouterr()
    assert password not in out + err


def _proc_text(pid: int, name: str) -> str:
    return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode(errors="replace")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
def test_the_warehouse_url_is_not_on_the_command_line_nor_in_the_environment(
    tmp_path: Path,
) -> None:
    secret_dir = tmp_path / "s3cret-dir"
    secret_dir.mkdir()
    settings = _settings(secret_dir)
    worker = CheckpointWorker.start(settings, shipped_catalog())
    try:
        for name in ("cmdline", "environ"):
            assert "s3cret-dir" not in _proc_text(worker.pid, name), name
    finally:
        worker.close()
    assert worker.proc.poll() is not None


_PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pydantic import SecretStr
    from validation.checkpoint_worker import CheckpointWorker
    from zonestats.config import WarehouseSettings
    from zonestats.catalog import shipped_catalog

    root = Path(sys.argv[1])
    settings = WarehouseSettings(url=SecretStr(f"sqlite:///{root / 'w.db'}"), data_dir=root)
    worker = CheckpointWorker.start(settings, shipped_catalog())
    print(worker.pid, flush=True)
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_the_worker_dies_with_its_parent(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        assert _alive(pid)
        parent.kill()  # no clean-up of its own: as an OOM kill or a power cut of the run
        parent.wait(timeout=30)
        # bounded, not timed: the worker sees its stdin close and exits
        for _ in range(300):
            if not _alive(pid):
                break
            time.sleep(0.1)
        assert not _alive(pid)
    finally:
        if parent.poll() is None:
            parent.kill()
