"""The quality report of a run, for people: per zone and release, what came in and what was held.

Markdown, because it reads as plain text in a terminal or an e-mail and renders as tables in
Prefect's artifact view; written under the data directory by temp-and-rename.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from pathlib import Path

from zonestats.models import utcnow
from zonestats.summary import RunSummary

TOP_RULES = 5


def _cell(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def render_quality_report(
    summary: RunSummary, dq_rows: list[dict[str, object]] | None = None
) -> str:
    """The quality report of a run as Markdown (zones, releases, rules broken, expectations)."""
    t = summary.totals()
    title = "数据质量报告 / Data quality report"
    mode = " (validate only: nothing was loaded)" if summary.validate_only else ""
    started = summary.started_at.isoformat(timespec="seconds") if summary.started_at else "?"
    out = [
        f"# {title}{mode}",
        "",
        f"Run started {started}. {t['received']} records received, {t['records_loaded']} loaded, "
        f"{t['quarantined']} quarantined (held out by an error), {t['warned']} loaded with "
        f"warnings; {t['incomplete']} releases incomplete.",
        "",
    ]
    everything: Counter[str] = Counter()
    for z in summary.zones:
        for r in z.releases:
            everything.update(r.rules_broken)
    if everything:
        out += ["## 问题最多的审核规则 / Rules broken most", "", "| rule | rows |", "|---|---:|"]
        out += [f"| {rule} | {n} |" for rule, n in everything.most_common(TOP_RULES * 2)]
        out.append("")
    out += [
        "## 各园区 / Per zone",
        "",
        "| zone | releases | loaded | failed | rejected | received | loaded rows | quarantined "
        "| warnings | incomplete | top rules |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for z in summary.zones:
        done = [r for r in z.releases if r.status != "skipped"]
        rules: Counter[str] = Counter()
        for r in done:
            rules.update(r.rules_broken)
        top = ", ".join(f"{k} ×{v}" for k, v in rules.most_common(3))
        out.append(
            f"| {z.zone_code} | {len(done)} | {z.count('loaded') + z.count('validated')} "
            f"| {z.count('failed')} | {z.count('rejected')} "
            f"| {sum(r.records_received for r in done)} | {sum(r.records_loaded for r in done)} "
            f"| {sum(r.records_quarantined for r in done)} | {sum(r.records_warned for r in done)} "
            f"| {sum(1 for r in done if r.incomplete)} | {_cell(top)} |"
        )
    out += [
        "",
        "## 各园区各报期 / Per zone and release",
        "",
        "| zone | dataset | period | rev | status | received | loaded | quarantined | warnings "
        "| incomplete | top rules | error |",
        "|---|---|---|---:|---|---:|---:|---:|---:|---|---|---|",
    ]
    for z in summary.zones:
        if z.error:
            out.append(
                f"| {z.zone_code} | — | — | — | zone failed | | | | | | | {_cell(z.error)} |"
            )
        for r in z.releases:
            if r.status == "skipped":
                continue
            top = ", ".join(f"{k} ×{v}" for k, v in Counter(r.rules_broken).most_common(TOP_RULES))
            out.append(
                f"| {z.zone_code} | {r.key.dataset} | {r.key.period} | {r.key.revision} "
                f"| {r.status} | {r.records_received} | {r.records_loaded} "
                f"| {r.records_quarantined} | {r.records_warned} | {', '.join(r.incomplete)} "
                f"| {_cell(top)} | {_cell(r.error or '')[:300]} |"
            )
    findings = [(z.zone_code, r) for z in summary.zones for r in z.releases if r.findings]
    if findings:
        out += ["", "## 审核发现 / Findings (first of each release)", ""]
        for zone, r in findings:
            out.append(f"### {zone} {r.key.dataset} {r.key.period} r{r.key.revision}")
            out += [f"- {_cell(f)}" for f in r.findings]
            out.append("")
    if dq_rows is not None:
        failed = [d for d in dq_rows if not d.get("success")]
        out += [
            "",
            "## 数据质量检查点 / Data-quality checkpoint (Great Expectations)",
            "",
            f"{len(dq_rows)} expectations, {len(failed)} failed."
            + (f" Data Docs: {summary.data_docs}" if summary.data_docs else ""),
            "",
        ]
        if failed:
            out += ["| table | expectation | observed |", "|---|---|---|"]
            out += [
                f"| {d.get('table_name')} | {d.get('expectation')} "
                f"| {_cell(d.get('observed_value', ''))[:200]} |"
                for d in failed
            ]
    return "\n".join(out) + "\n"


def report_path(data_dir: Path, run_name: str) -> Path:
    """Where a run's quality report goes: by date, then run name."""
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in run_name)[:80] or "run"
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return data_dir / "quality" / "reports" / f"{stamp}-{safe}.md"


def write_quality_report(path: Path, text: str) -> Path:
    """Write a report under a temp name and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
