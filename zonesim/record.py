"""One record as it goes on the wire: a JSON object (a leaf every zonesim module may import)."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
