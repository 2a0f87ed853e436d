"""What the simulator needs from a dataset, so that new datasets plug in as new modules."""

from __future__ import annotations

from typing import Any, Protocol

from zonestats.periods import Period

# One record as it goes on the wire: a JSON object.
Record = dict[str, Any]


class DatasetModel(Protocol):
    """A dataset of zone-api.md (``zone`` now, ``enterprise`` later) and its releases."""

    name: str
    frequencies: tuple[str, ...]

    def records(self, seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
        """Return the records of one release exactly as a well-behaved zone would serve them."""
        ...

    def canonical_values(
        self, seed: int, zone_code: str, period: Period, revision: int
    ) -> dict[str, Any]:
        """Return the truth behind those records, in canonical units (keys are dataset-specific)."""
        ...
