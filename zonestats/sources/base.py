"""The one interface every way of handing in data implements: list releases, read one in pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


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


class SourceError(Exception):
    """A zone's system did not deliver; the message names the zone and never holds a token."""

    #: the ledger status a release ends in when this is raised while reading it
    ledger_status = "failed"


class ZoneAuthError(SourceError):
    """401: the zone's token is wrong or expired; nothing of this zone can be read."""


class ZoneUnavailable(SourceError):
    """The zone's system kept failing (5xx, 429, timeouts, dropped connections) past the retries."""


class ReleaseFetchError(SourceError):
    """One release could not be read (404, body too large, endless paging, malformed JSON)."""


class ReleaseRejected(SourceError):
    """The release was received but is unusable as a whole (another zone's, another period's)."""

    ledger_status = "rejected"


class SourceAdapter(Protocol):
    """How the product reads one zone's releases, whatever the vendor's system."""

    zone_code: str

    def list_releases(self, dataset: str, since: datetime | None) -> list[Any]:
        """Return the releases (ReleaseRef) published at or after ``since`` (all when None)."""

    def read_release(self, ref: Any, sink: PageSink) -> Any:
        """Stream every page of a release into ``sink``; return the ReleaseRef actually read."""

    def close(self) -> None:
        """Release connections."""
