"""The one interface every way of handing in data implements: list releases, read one in pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeGuard

from zonestats.errors import (
    ReleaseFetchError,
    ReleaseRejected,
    SourceError,
    ZoneAuthError,
    ZoneUnavailable,
)

__all__ = [
    "MAX_REVISION",
    "Page",
    "PageSink",
    "ReleaseFetchError",
    "ReleaseRejected",
    "SourceAdapter",
    "SourceError",
    "ZoneAuthError",
    "ZoneUnavailable",
]


# The ledger keeps revisions in a 32-bit INTEGER (PostgreSQL's integer, SQLite takes up to 64
# bits): a zone's revision number beyond it would make the claim itself fail, outside of any
# error handling, so no adapter lets one through.
MAX_REVISION = 2**31 - 1


def is_revision(value: object) -> TypeGuard[int]:
    """A revision number as a zone may state it: an int (not a bool) in 1..MAX_REVISION."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_REVISION


@dataclass(frozen=True)
class Page:
    """One page of one release, as received (records untouched)."""

    number: int
    zone_code: str
    dataset: str
    period: str
    revision: int
    records: list[Any]
    nbytes: int


class PageSink(Protocol):
    """Where an adapter puts the pages of a release as they arrive."""

    def reset(self) -> None:
        """Forget the pages written so far: the release is being read again from its first page."""

    def write(self, page: Page) -> None:
        """Keep one page."""


def listed_time(entry: dict[str, Any], field: str, where: str) -> datetime:
    """A listing's ISO 8601 time with its UTC offset; anything else fails the listing."""
    try:
        moment = datetime.fromisoformat(str(entry.get(field)))
    except ValueError:
        raise ReleaseFetchError(f"{where}: {field} is not ISO 8601") from None
    if moment.tzinfo is None:
        raise ReleaseFetchError(f"{where}: {field} has no UTC offset")
    try:
        # 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00 parse but have no UTC time: the
        # ledger and the watermark (stored in UTC) would raise OverflowError on them later
        moment.astimezone(UTC)
    except OverflowError:
        raise ReleaseFetchError(f"{where}: {field} {moment.isoformat()} is out of range") from None
    return moment


class SourceAdapter(Protocol):
    """How the product reads one zone's releases, whatever the vendor's system."""

    zone_code: str

    def list_releases(self, dataset: str, since: datetime | None) -> list[Any]:
        """Return the releases (ReleaseRef) published at or after ``since`` (all when None)."""

    def read_release(self, ref: Any, sink: PageSink) -> Any:
        """Stream every page of a release into ``sink``; return the ReleaseRef actually read."""

    def close(self) -> None:
        """Release connections."""
