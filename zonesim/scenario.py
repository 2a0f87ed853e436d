"""Scenarios: what a simulator shows besides well-behaved zones (``zonesim --scenario``).

``demo`` is what ``zonestats demo`` serves: every zone well-behaved, except that one zone's
latest monthly release carries a few bad records, so that the demo has a quarantine to try, and
another zone has not published its latest month that is due (both datasets), so that the demo
has a late zone to show. (Its revision to compare is published between its two runs:
``SimulatorProcess.publish_revision``.)
"""

from __future__ import annotations

from zonesim.faults import Faults
from zonesim.simulator import Simulator

SCENARIOS = ("none", "demo")
#: the zone whose latest monthly release the demo has revised between its runs
DEMO_REVISED_ZONE = "TY01"
#: the zone whose release of the month before carries the bad records in the demo
DEMO_QUARANTINE_ZONE = "DT01"
#: the zone that has not published its latest month past its deadline in the demo
DEMO_LATE_ZONE = "JZ01"


def _latest_monthly(sim: Simulator, zone: str) -> str:
    periods = [e["period"] for e in sim.releases(zone, "zone") if e["frequency"] == "M"]
    if not periods:
        raise ValueError(f"{zone} has published no monthly release yet")
    return max(periods)


def latest_due_monthly(sim: Simulator, zone: str) -> str:
    """The zone's latest monthly period whose deadline (the reporting calendar's) has passed."""
    from zonestats.calendar import load_calendar, period_of

    calendar = load_calendar()
    periods = [
        e["period"]
        for e in sim.releases(zone, "zone")
        if e["frequency"] == "M" and calendar.deadline(period_of(e["period"])) < sim.as_of
    ]
    if not periods:
        raise ValueError(f"{zone} has no monthly release past its deadline yet")
    return max(periods)


def apply_scenario(sim: Simulator, name: str) -> None:
    """Set the simulator up for the named scenario (``none``: leave it as it is)."""
    if name == "none":
        return
    if name != "demo":
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    period = _latest_monthly(sim, DEMO_QUARANTINE_ZONE)
    sim.set_faults(DEMO_QUARANTINE_ZONE, Faults(bad_records=True, bad_records_periods=(period,)))
    # chosen before any fault hides it: the month the late zone then never publishes
    withheld = latest_due_monthly(sim, DEMO_LATE_ZONE)
    sim.set_faults(DEMO_LATE_ZONE, Faults(withheld_periods=(withheld,)))
