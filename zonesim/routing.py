"""The small vocabulary shared by the HTTP server and the modules that implement endpoints."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zonesim.simulator import Simulator

JSON = "application/json; charset=utf-8"


@dataclass
class Response:
    """What to answer: a JSON payload or raw bytes, plus how faults deform the transfer."""

    status: int
    payload: Any = None
    body: bytes | None = None
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    # Pad a JSON object with an extra string field up to this many bytes (0: no padding).
    pad_to: int = 0
    # Send the full Content-Length but only half the body, then close the connection.
    truncate: bool = False


def error(status: int, message: str, **extra: Any) -> Response:
    """Return a JSON error body {"error": message, ...}."""
    return Response(status, {"error": message, **extra})


NOT_FOUND_MESSAGE = "not found"


def not_found() -> Response:
    """The 404 of zone-api.md."""
    return error(404, NOT_FOUND_MESSAGE)


@dataclass(frozen=True)
class ZoneRequest:
    """An authenticated request to one zone, routed to an endpoint."""

    sim: Simulator
    zone: str
    method: str
    params: dict[str, str]
    groups: dict[str, str]
    body: bytes = b""


ZoneHandler = Callable[[ZoneRequest], Response]
# (method, pattern matched in full against the path after "/{zone}/", handler)
ZoneRoute = tuple[str, re.Pattern[str], ZoneHandler]
