"""The quality report of a run, rendered from a hand-made run summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from publish.quality import render_quality_report, report_path, write_quality_report
from zonestats.models import ReleaseKey, ReleaseOutcome, ZoneOutcome
from zonestats.summary import RunSummary


def summary(validate_only: bool = False) -> RunSummary:
    ty = ZoneOutcome(
        "TY01",
        [
            ReleaseOutcome(
                ReleaseKey("TY01", "zone", "2026-03", 1),
                "validated" if validate_only else "loaded",
                records_received=14,
                records_loaded=12,
                records_quarantined=2,
                records_warned=1,
                rules_broken={
                    "value_below_min": 1,
                    "duplicate_conflict": 2,
                    "mandatory_missing": 1,
                },
                incomplete=("revenue",),
                findings=("error: [TY01 2026-03 r1 #3 revenue] ...",) if validate_only else (),
            ),
            ReleaseOutcome(ReleaseKey("TY01", "zone", "2026-02", 1), "skipped"),
        ],
    )
    dt = ZoneOutcome("DT01", [], error="DT01: 401 token refused")
    return RunSummary(
        zones=[ty, dt],
        started_at=datetime(2026, 5, 6, 1, 0, tzinfo=UTC),
        validate_only=validate_only,
    )


def test_report_per_zone_and_release_with_top_rules() -> None:
    text = render_quality_report(summary(), dq_rows=[{"table_name": "obs_zone_current",
        "expectation": "obs_zone_current.key_unique", "success": False,
        "observed_value": "2 unexpected of 10"}])  # fmt: skip
    lines = text.splitlines()
    # the zone line counts only what the run did (the skipped release is left out)
    assert "| TY01 | 1 | 1 | 0 | 0 | 14 | 12 | 2 | 1 | 1 | duplicate_conflict ×2, " in text
    assert any(line.startswith("| TY01 | zone | 2026-03 | 1 | loaded | 14 | 12 | 2 | 1 | revenue |")
               for line in lines)  # fmt: skip
    assert "2026-02" not in text
    assert "| DT01 | — | — | — | zone failed |" in text
    assert "1 expectations, 1 failed." in text
    assert "obs_zone_current.key_unique" in text
    assert "validate only" not in text


def test_validate_only_report_lists_the_findings(tmp_path: Path) -> None:
    text = render_quality_report(summary(validate_only=True))
    assert "(validate only: nothing was loaded)" in text
    assert "- error: [TY01 2026-03 r1 #3 revenue] ..." in text
    path = write_quality_report(report_path(tmp_path, "nightly-run/1"), text)
    assert path.parent == tmp_path / "quality" / "reports"
    assert path.name.endswith("-nightly-run-1.md")  # no directory climbing from a run name
    assert path.read_text(encoding="utf-8") == text
    assert not list(path.parent.glob(".*.tmp"))
