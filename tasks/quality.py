"""The end of a run: the data-quality checkpoint over what the run loaded, and the quality report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from publish.quality import render_quality_report, report_path, write_quality_report
from warehouse import quality
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey
from zonestats.steps import run_logger, step
from zonestats.summary import RunSummary

if TYPE_CHECKING:
    from validation.checkpoint_worker import CheckpointWorker

DQ_COLUMNS = [
    "table_name", "expectation", "expectation_type", "success", "observed_value", "details",
]  # fmt: skip


@dataclass(frozen=True)
class DqSummary:
    """What the checkpoint found: the rows stored in dq_run, and where its Data Docs are."""

    rows: list[dict[str, object]]
    failed: list[str]
    docs_index: str | None


def start_checkpoint_worker(
    settings: WarehouseSettings, catalog: Catalog
) -> CheckpointWorker | None:
    """Start the checkpoint's worker at the beginning of a run; None (and a warning) if it cannot.

    It imports Great Expectations and follows the run's loads on the core the run leaves idle,
    so that ``dq_checkpoint(..., worker=...)`` at the end has little left to do. Without a worker
    the checkpoint runs cold, in this process.
    """
    from validation.checkpoint_worker import CheckpointWorker, CheckpointWorkerError

    try:
        return CheckpointWorker.start(settings, catalog)
    except (CheckpointWorkerError, OSError) as exc:
        run_logger().warning("checkpoint worker not started (cold checkpoint): %s", exc)
        return None


def run_dq_checkpoint(
    settings: WarehouseSettings,
    catalog: Catalog,
    run_id: str,
    releases: Sequence[ReleaseKey],
    worker: CheckpointWorker | None = None,
) -> DqSummary:
    """Check the rows of the releases this run loaded; store the results in dq_run, write Data Docs.

    ``releases``: every release the run loaded, of both datasets (any other is ignored); each is
    checked as its current view shows it. With a ``worker`` (``start_checkpoint_worker``), the
    worker does the work; it is stopped afterwards whatever happens. A worker that fails or dies
    raises CheckpointWorkerError: the checkpoint did not run.
    """
    if worker is not None:
        outcome = worker.finish(releases, run_name=run_id)
        report = worker.report
        if report is not None:
            run_logger().info(
                "checkpoint (worker): %d rows, %d releases read ahead; warm-up %.1f s; at the "
                "end %.2f s; read %.1f s, validate %.1f s, docs %.2f s; peak %.0f MB",
                report.rows_read,
                report.prefetched_releases,
                report.warm_s,
                report.finish_s,
                report.seconds.get("read", 0.0),
                report.seconds.get("validate", 0.0),
                report.seconds.get("docs", 0.0),
                report.peak_rss_mb,
            )
    else:
        from validation.checkpoint import CheckpointRun

        run = CheckpointRun(settings, catalog)
        outcome = run.finish(releases, run_name=run_id)
        run_logger().info(
            "checkpoint: %d rows; GX %.1f s, read %.1f s, validate %.1f s, docs %.2f s",
            run.rows_read,
            *(run.seconds.get(k, 0.0) for k in ("warm", "read", "validate", "docs")),
        )
    rows = pd.DataFrame(
        [
            {
                "table_name": r.table,
                "expectation": r.expectation,
                "expectation_type": r.expectation_type,
                "success": bool(r.success),
                "observed_value": r.observed_value,
                "details": r.details,
            }
            for r in outcome.results
        ],
        columns=DQ_COLUMNS,
    )
    docs = str(outcome.docs_index) if outcome.docs_index else None
    quality.record_dq_run(Warehouse(settings), run_id, rows, docs)
    return DqSummary(
        rows=rows.to_dict("records"),
        failed=[r.expectation for r in outcome.results if not r.success],
        docs_index=docs,
    )


def write_report(
    data_dir: Path, summary: RunSummary, run_name: str, dq: DqSummary | None
) -> tuple[Path, str]:
    """Write the run's quality report; return its path and its text (for the artifact)."""
    text_ = render_quality_report(summary, dq.rows if dq else None)
    path = write_quality_report(report_path(data_dir, run_name), text_)
    return path, text_


dq_checkpoint = step(name="dq-checkpoint")(run_dq_checkpoint)
quality_report = step(name="quality-report")(write_report)
