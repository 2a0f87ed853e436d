"""The run summary: per zone, what loaded, what failed and why; rendered for people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zonestats.models import ZoneOutcome
from zonestats.numbers import plain_number


@dataclass(frozen=True)
class LateRelease:
    """A release past its deadline and not handed in (missing or overdue), for people to read."""

    zone_code: str
    dataset: str
    period: str
    state: str  # missing | overdue
    deadline: str  # local time, as an operator reads it
    days_late: int
    extended: bool = False

    def __str__(self) -> str:
        extended = " (extended)" if self.extended else ""
        return (
            f"{self.zone_code} {self.dataset} {self.period} {self.state}, {self.days_late} "
            f"day{'s' if self.days_late != 1 else ''} after {self.deadline}{extended}"
        )


def describe_change(row: Mapping[str, Any] | None, dataset: str) -> str | None:
    """One changed figure in words: ``revenue 1234.5 → 1240.1 (+0.45 %)``, the enterprise first."""
    if row is None:
        return None
    what = str(row["indicator_code"])
    if dataset == "enterprise":
        what = f"{row['uscc']} {what}"
    moved = f"{plain_number(row['old_value']) or '—'} → {plain_number(row['new_value']) or '—'}"
    pct = row.get("pct")
    if isinstance(pct, float) and pct == pct:  # not NaN: there was an old figure, not 0
        moved += f" ({pct:+.2f} %)"
    if row.get("old_status") != row.get("new_status"):
        moved += f", status {row.get('old_status') or '—'} → {row.get('new_status') or '—'}"
    return f"{what} {moved}"


@dataclass(frozen=True)
class RevisionNote:
    """A release a run loaded at a revision replacing one the warehouse held: what changed."""

    zone_code: str
    dataset: str
    period: str
    revision: int
    previous: int  # the revision it replaced
    changed: int  # rows (values, statuses) that changed
    added: int
    removed: int
    largest: str | None  # the largest change, in words (describe_change)

    def __str__(self) -> str:
        parts = [f"{self.changed} changed"]
        parts += [
            f"{n} {what}" for n, what in ((self.added, "added"), (self.removed, "removed")) if n
        ]
        largest = f", largest: {self.largest}" if self.largest else ""
        return (
            f"{self.zone_code} {self.dataset} {self.period} r{self.previous} → r{self.revision}: "
            f"{', '.join(parts)}{largest}"
        )


@dataclass
class RunSummary:
    """The outcome of one nightly run."""

    zones: list[ZoneOutcome] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    validate_only: bool = False  # fetched and validated, nothing loaded
    quality_report: str | None = None  # the quality report file of this run
    data_docs: str | None = None  # the Great Expectations Data Docs index of this run
    dq_failed: list[str] = field(default_factory=list)  # the expectations that failed
    marts: list[str] = field(default_factory=list)  # the marts (and years) this run rebuilt
    mart_errors: list[str] = field(default_factory=list)
    # what the reporting calendar says is missing or overdue as of the run (not the run's failure)
    late: list[LateRelease] = field(default_factory=list)
    # the releases that arrived as a revision of one the warehouse held, with what changed
    revisions: list[RevisionNote] = field(default_factory=list)
    # the releases this run announced overdue (a Prefect event each), "TY01 zone 2026-04"
    overdue_announced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every zone was reached, every release loaded and every expectation held."""
        return all(z.ok for z in self.zones) and not self.dq_failed and not self.mart_errors

    @property
    def exit_code(self) -> int:
        """0 all loaded, 1 some release failed or was rejected or a zone could not be reached."""
        return 0 if self.ok else 1

    def totals(self) -> dict[str, int]:
        """Counts over all zones."""
        rel = [r for z in self.zones for r in z.releases]
        return {
            "zones": len(self.zones),
            "zones_failed": sum(1 for z in self.zones if z.error),
            "loaded": sum(1 for r in rel if r.status == "loaded"),
            "skipped": sum(1 for r in rel if r.status == "skipped"),
            "failed": sum(1 for r in rel if r.status == "failed"),
            "rejected": sum(1 for r in rel if r.status == "rejected"),
            "received": sum(r.records_received for r in rel),
            "records_loaded": sum(r.records_loaded for r in rel),
            "quarantined": sum(r.records_quarantined for r in rel),
            "warned": sum(r.records_warned for r in rel),
            "validated": sum(1 for r in rel if r.status == "validated"),
            "incomplete": sum(1 for r in rel if r.incomplete),
        }

    def failures(self) -> list[str]:
        """One line per failed zone, failed/rejected release or failed expectation."""
        lines = [f"{z.zone_code}: {z.error}" for z in self.zones if z.error]
        # releases held back by a breaker or the deadline: one line per zone and reason
        lines += [f"{z.zone_code}: {h}" for z in self.zones for h in z.held_back]
        lines += [f"data quality: expectation {e} failed" for e in self.dq_failed]
        lines += self.mart_errors
        lines += [
            f"{r.key} {r.status}: {r.error}"
            for z in self.zones
            for r in z.releases
            if r.status in ("failed", "rejected") and r.attempted
        ]
        return lines

    def to_markdown(self) -> str:
        """The run summary as a Markdown table, per zone (the Prefect artifact)."""
        t = self.totals()
        out = [
            "# zonestats nightly run",
            "",
            f"{t['zones']} zones · {t['loaded']} releases loaded · {t['skipped']} already loaded · "
            f"{t['failed']} failed · {t['rejected']} rejected · {t['received']} records received · "
            f"{t['quarantined']} quarantined · {t['warned']} with warnings",
            "",
            "| zone | loaded | skipped | failed | rejected | received | loaded rows | quarantined | top rules | error |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for z in self.zones:
            rules: dict[str, int] = {}
            for r in z.releases:
                for k, v in r.rules_broken.items():
                    rules[k] = rules.get(k, 0) + v
            top = ", ".join(
                f"{k} ×{v}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1])[:3]
            )
            errors = [z.error] if z.error else []
            errors += z.held_back
            errors += [
                f"{r.key.period} r{r.key.revision}: {r.error}"
                for r in z.releases
                if r.error and r.attempted
            ]
            err = "; ".join(e.replace("|", "/") for e in errors if e)[:300]
            out.append(
                f"| {z.zone_code} | {z.count('loaded')} | {z.count('skipped')} | {z.count('failed')} "
                f"| {z.count('rejected')} | {sum(r.records_received for r in z.releases)} "
                f"| {sum(r.records_loaded for r in z.releases)} "
                f"| {sum(r.records_quarantined for r in z.releases)} | {top} | {err} |"
            )
        notes = [n for z in self.zones for n in z.notes]
        if notes:
            out += ["", *[f"- {n}" for n in notes]]
        if self.late:
            out += [
                "",
                f"## Missing or overdue ({len(self.late)}, by the reporting calendar)",
                "",
                "| zone | dataset | period | state | deadline | days late | extended |",
                "|---|---|---|---|---|---:|---|",
            ]
            out += [
                f"| {r.zone_code} | {r.dataset} | {r.period} | {r.state} | {r.deadline} "
                f"| {r.days_late} | {'yes' if r.extended else ''} |"
                for r in self.late
            ]
        if self.overdue_announced:
            out += [
                "",
                f"Announced overdue (event `zonestats.release.overdue`): "
                f"{', '.join(self.overdue_announced)}",
            ]
        if self.revisions:
            out += [
                "",
                f"## Revisions ({len(self.revisions)})",
                "",
                "| zone | dataset | period | from | to | changed | added | removed | largest change |",
                "|---|---|---|---:|---:|---:|---:|---:|---|",
            ]
            out += [
                f"| {r.zone_code} | {r.dataset} | {r.period} | {r.previous} | {r.revision} "
                f"| {r.changed} | {r.added} | {r.removed} | {(r.largest or '').replace('|', '/')} |"
                for r in self.revisions
            ]
        if self.marts:
            out += ["", f"Marts rebuilt: {', '.join(self.marts)}"]
        if self.quality_report:
            out += ["", f"Quality report: {self.quality_report}"]
        if self.data_docs:
            out += [f"Data Docs (Great Expectations): {self.data_docs}"]
        if self.dq_failed:
            out += [f"Failed expectations: {', '.join(self.dq_failed)}"]
        retry = self.retry_commands()
        if retry:
            out += ["", "To retry what failed, once its cause is fixed:", ""]
            out += [f"    {cmd}" for cmd in retry]
        return "\n".join(out) + "\n"

    def retry_commands(self) -> list[str]:
        """The commands that retry this run's failures, one per zone that has any."""
        cmds = []
        for z in self.zones:
            if z.count("failed"):
                cmds.append(
                    f'zonestats rerun --failed --zone {z.zone_code} --reason "<what was fixed>"'
                )
            elif z.error:
                # nothing reached the ledger (the listing failed): the next run pulls the zone
                cmds.append(f"zonestats run --zones {z.zone_code}")
        return cmds
