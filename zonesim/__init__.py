"""zonesim: a simulator of the zones' online statistics systems (zone-api.md): api-v1 with the
``zone`` and ``enterprise`` datasets for every zone, and the xlsx forms of the form-xlsx zones.

>>> with Simulator(seed=2026) as sim:  # doctest: +SKIP
...     sim.base_url("TY01"), sim.token("TY01")

``SimulatorProcess`` serves the same from a child process (what ``zonestats demo`` uses).
"""

from zonesim.bad_data import (
    BAD_ENTERPRISES,
    BAD_RECORDS,
    ECHO_CASES,
    BadEnterpriseCase,
    BadRecordCase,
    EchoCase,
    bad_enterprise_positions,
    echo_case,
)
from zonesim.faults import Faults
from zonesim.forms import FORMS, QUIRKS, FormDocument, FormSpec
from zonesim.process import SimulatorProcess, SimulatorProcessError
from zonesim.simulator import Simulator
from zonesim.view import RequestRecord

__all__ = [
    "BAD_ENTERPRISES",
    "BAD_RECORDS",
    "ECHO_CASES",
    "FORMS",
    "QUIRKS",
    "BadEnterpriseCase",
    "BadRecordCase",
    "EchoCase",
    "Faults",
    "FormDocument",
    "FormSpec",
    "RequestRecord",
    "Simulator",
    "SimulatorProcess",
    "SimulatorProcessError",
    "bad_enterprise_positions",
    "echo_case",
]
