"""The end of a run: the data-quality checkpoint over the current tables, and the quality report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from publish.quality import render_quality_report, report_path, write_quality_report
from warehouse import quality
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey
from zonestats.steps import step
from zonestats.summary import RunSummary

DQ_COLUMNS = [
    "table_name", "expectation", "expectation_type", "success", "observed_value", "details",
]  # fmt: skip


@dataclass(frozen=True)
class DqSummary:
    """What the checkpoint found: the rows stored in dq_run, and where its Data Docs are."""

    rows: list[dict[str, object]]
    failed: list[str]
    docs_index: str | None


def run_dq_checkpoint(
    settings: WarehouseSettings,
    catalog: Catalog,
    run_id: str,
    enterprise_releases: list[ReleaseKey],
) -> DqSummary:
    """Run the expectation suites, store the results in dq_run, write the Data Docs."""
    from validation.expectations import run_checkpoint

    wh = Warehouse(settings)
    frames = quality.current_observations(wh, enterprise_releases)
    docs_dir = settings.data_dir / "quality" / "data-docs"
    outcome = run_checkpoint(frames, catalog, docs_dir, run_name=run_id)
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
    quality.record_dq_run(wh, run_id, rows, docs)
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
