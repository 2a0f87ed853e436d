"""Scenarios: what a simulator shows besides well-behaved zones (``zonesim --scenario``).

``demo`` is what ``zonestats demo`` serves: every zone well-behaved, except that one zone's
latest monthly release carries a few bad records, so that the demo has a quarantine to try. (Its
revision to compare is published between its two runs: ``SimulatorProcess.publish_revision``.)
"""

from __future__ import annotations

from zonesim.faults import Faults
from zonesim.simulator import Simulator

SCENARIOS = ("none", "demo")
#: the zone whose latest monthly release the demo has revised between its runs
DEMO_REVISED_ZONE = "TY01"
#: the zone whose release of the month before carries the bad records in the demo
DEMO_QUARANTINE_ZONE = "DT01"


def _latest_monthly(sim: Simulator, zone: str) -> str:
    periods = [e["period"] for e in sim.releases(zone, "zone") if e["frequency"] == "M"]
    if not periods:
        raise ValueError(f"{zone} has published no monthly release yet")
    return max(periods)


def apply_scenario(sim: Simulator, name: str) -> None:
    """Set the simulator up for the named scenario (``none``: leave it as it is)."""
    if name == "none":
        return
    if name != "demo":
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    period = _latest_monthly(sim, DEMO_QUARANTINE_ZONE)
    sim.set_faults(DEMO_QUARANTINE_ZONE, Faults(bad_records=True, bad_records_periods=(period,)))
