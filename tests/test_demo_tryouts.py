"""The demo shows what the product is for: a release in two revisions and what it changed, a few
quarantined records, a zone that has not reported, and commands to try that work as printed
(from any directory)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import AS_OF, START_YEAR

from zonesim import Simulator
from zonesim.scenario import (
    DEMO_LATE_ZONE,
    DEMO_QUARANTINE_ZONE,
    DEMO_REVISED_ZONE,
    apply_scenario,
    latest_due_monthly,
)
from zonestats.calendar import period_of
from zonestats.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parents[1]
DEMO = [sys.executable, "-m", "cli", "demo", "--data-dir", "var"]


def _latest_monthly(sim: Simulator, zone: str) -> str:
    return max(e["period"] for e in sim.releases(zone) if e["frequency"] == "M")


def test_the_demo_scenario_spoils_one_release_of_one_zone() -> None:
    plain = Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR)
    demo = Simulator(seed=2026, as_of=AS_OF, start_year=START_YEAR)
    apply_scenario(demo, "demo")
    # the bad records are in one release of one zone only: a few, not a flood
    spoilt = _latest_monthly(demo, DEMO_QUARANTINE_ZONE)
    for entry in demo.releases(DEMO_QUARANTINE_ZONE):
        period, rev = entry["period"], entry["revision"]
        ours = demo.records(DEMO_QUARANTINE_ZONE, "zone", period, rev)
        theirs = plain.records(DEMO_QUARANTINE_ZONE, "zone", period, rev)
        assert (ours != theirs) == (period == spoilt), period
    assert demo.releases(DEMO_REVISED_ZONE) == plain.releases(DEMO_REVISED_ZONE)
    # the late zone holds back its latest month past its deadline, of both datasets, and only it
    withheld = latest_due_monthly(plain, DEMO_LATE_ZONE)
    assert shipped_catalog().calendar.deadline(period_of(withheld)) < AS_OF
    for dataset in ("zone", "enterprise"):
        published = plain.releases(DEMO_LATE_ZONE, dataset)
        assert withheld in {e["period"] for e in published}
        assert demo.releases(DEMO_LATE_ZONE, dataset) == [
            e for e in published if e["period"] != withheld
        ]
    with pytest.raises(ValueError, match="unknown scenario"):
        apply_scenario(demo, "chaos")


@pytest.mark.slow
def test_the_demo_names_the_revised_release_and_its_commands_work_as_printed(
    tmp_path: Path,
) -> None:
    """`zonestats demo` as a user runs it, on a day and three zones so that it stays quick."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    for name in ("PREFECT_API_URL", "ZONESTATS_CONFIG"):  # the demo's own default: no Prefect API
        env.pop(name, None)
    zones = [DEMO_REVISED_ZONE, DEMO_QUARANTINE_ZONE, DEMO_LATE_ZONE]
    demo = subprocess.run(
        [*DEMO, "--as-of", AS_OF.date().isoformat(), "--zones", ",".join(zones)],
        cwd=tmp_path,  # a data dir relative to where the user is
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = demo.stdout
    assert demo.returncode == 0, (out, demo.stderr[-3000:])
    # only the zones asked for: in the config it wrote, and in the run's summary
    written = (tmp_path / "var" / "zonestats.toml").read_text(encoding="utf-8")
    assert re.findall(r'^code = "(\w+)"', written, re.M) == sorted(
        zones, key=list(shipped_catalog().zones).index
    )
    ran = {line.split()[0] for line in out.splitlines() if re.match(r"^[A-Z]{2}\d\d ", line)}
    assert ran == set(zones), out
    assert re.search(rf"{DEMO_REVISED_ZONE} zone \d{{4}}-\d\d arrived in 2 revisions", out), out
    commands = [
        line.strip()
        for line in out.splitlines()
        if line.strip().startswith(("sqlite3 -readonly", "zonestats "))
    ]
    assert [c.split()[0:3] for c in commands] == [
        ["sqlite3", "-readonly", commands[0].split()[2]],
        ["zonestats", "diff", "--zone"],
        ["zonestats", "quarantine", "list"],
        ["zonestats", "quarantine", "accept"],
        ["zonestats", "late", "--as-of"],
    ], out
    # the late table itself, printed under its command: the late zone, both datasets, overdue
    table = out[out.index("zonestats late --as-of") :]
    late = [line.split() for line in table.splitlines() if line.strip().startswith(DEMO_LATE_ZONE)]
    assert late, out
    assert late[0][:2] == [DEMO_LATE_ZONE, "enterprise"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ZONESTATS_CONFIG", None)
    results = []
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "zonestats":
            argv = [sys.executable, "-m", "cli", *argv[1:]]
        done = subprocess.run(
            argv, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        results.append(done.stdout)
    revisions = {line.split("|")[1] for line in results[0].splitlines()}
    assert revisions == {"1", "2"}  # both revisions, side by side
    # what the revision changed: revision 1 → 2 of the release named, some figure changed
    assert re.match(
        rf"{DEMO_REVISED_ZONE} zone \d{{4}}-\d\d: revision 1 .* → revision 2 ", results[1]
    )
    assert "\nchanged " in results[1], results[1]
    assert DEMO_QUARANTINE_ZONE in results[2]
    assert results[3].startswith("accepted #")
    assert f"\n{DEMO_LATE_ZONE} " in results[4], results[4]  # as printed in the demo
