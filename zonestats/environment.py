"""Prefect's offline-safe defaults, set in an entry point before Prefect is imported."""

from __future__ import annotations

import os

PREFECT_DEFAULTS = {
    # telemetry would try the internet and print ERROR tracebacks offline
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    # a fresh ephemeral server takes ~12 s here, over half of Prefect's default 20 s
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def prefect_environment() -> None:
    """Set Prefect's offline-safe defaults unless the operator set them (call before importing prefect)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
