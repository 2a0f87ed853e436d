"""The small vocabulary shared by the HTTP server and the modules that implement endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zonesim.view import SimulatorView

JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class RawJSON:
    """A value of a JSON payload already encoded (UTF-8, json.dumps with ensure_ascii=False):
    a page's records are written once, not rebuilt as dicts to be encoded again."""

    text: bytes

    def value(self) -> Any:
        """Return the value decoded (fresh objects each time)."""
        return json.loads(self.text)


def encode(payload: Any) -> bytes:
    """Return the body of a JSON payload, byte for byte what json.dumps(payload,
    ensure_ascii=False) writes of it with every RawJSON decoded."""
    if not isinstance(payload, dict) or not any(isinstance(v, RawJSON) for v in payload.values()):
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    # json.dumps writes an object as "{" + ", ".join(key + ": " + value) + "}"
    items = [
        json.dumps(str(key), ensure_ascii=False).encode("utf-8")
        + b": "
        + (value.text if isinstance(value, RawJSON) else encode(value))
        for key, value in payload.items()
    ]
    return b"{" + b", ".join(items) + b"}"


@dataclass
class Response:
    """What to answer: a JSON payload (RawJSON values allowed at its top level) or raw bytes,
    plus how faults deform the transfer."""

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

    sim: SimulatorView
    zone: str
    method: str
    params: dict[str, str]
    groups: dict[str, str]
    body: bytes = b""


ZoneHandler = Callable[[ZoneRequest], Response]
# (method, pattern matched in full against the path after "/{zone}/", handler)
ZoneRoute = tuple[str, re.Pattern[str], ZoneHandler]
