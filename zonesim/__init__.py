"""zonesim: a simulator of the zones' online statistics systems (api-v1 of zone-api.md).

>>> with Simulator(seed=2026) as sim:  # doctest: +SKIP
...     sim.base_url("TY01"), sim.token("TY01")
"""

from zonesim.faults import BAD_RECORDS, BadRecordCase, Faults
from zonesim.simulator import RequestRecord, Simulator

__all__ = ["BAD_RECORDS", "BadRecordCase", "Faults", "RequestRecord", "Simulator"]
