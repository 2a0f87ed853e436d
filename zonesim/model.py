"""What the simulator needs from a dataset, so that new datasets plug in as new modules."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from zonesim.record import Record
from zonestats.periods import Period

if TYPE_CHECKING:
    from zonesim.faults import Faults


class Release(Protocol):
    """The records of one release as served, generated on demand: a release of a large dataset
    is never built whole just to serve one page of it."""

    def __len__(self) -> int:
        """Return how many records the release has."""
        ...

    def slice(self, start: int, stop: int) -> list[Record]:
        """Return records start..stop-1 (clipped to the release), fresh copies."""
        ...

    def page_json(self, start: int, stop: int) -> bytes:
        """Return json.dumps(self.slice(start, stop), ensure_ascii=False) in UTF-8."""
        ...


class ListRelease:
    """A release small enough to be held as a list."""

    def __init__(self, records: list[Record]) -> None:
        """Wrap the records (not copied)."""
        self._records = records

    def __len__(self) -> int:
        """Return how many records the release has."""
        return len(self._records)

    def slice(self, start: int, stop: int) -> list[Record]:
        """Return records start..stop-1 as fresh copies."""
        return [dict(r) for r in self._records[start:stop]]

    def page_json(self, start: int, stop: int) -> bytes:
        """Return records start..stop-1 as a JSON array (UTF-8)."""
        return json.dumps(self._records[start:stop], ensure_ascii=False).encode("utf-8")


class DatasetModel(Protocol):
    """A dataset of zone-api.md (``zone``, ``enterprise``) and its releases."""

    name: str
    frequencies: tuple[str, ...]

    def records(self, seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
        """Return the records of one release exactly as a well-behaved zone would serve them."""
        ...

    def release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> Release:
        """Return one release as served by a zone with these faults (bad records worked in)."""
        ...

    def canonical_values(
        self, seed: int, zone_code: str, period: Period, revision: int
    ) -> dict[str, Any]:
        """Return the truth behind those records, in canonical units (keys are dataset-specific)."""
        ...
