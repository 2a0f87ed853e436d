"""The errors a zone's system can cause; each knows the ledger status it leaves a release in."""

from __future__ import annotations


class SourceError(Exception):
    """A zone's system did not deliver; the message names the zone and never holds a token."""

    #: the ledger status a release ends in when this is raised while reading it
    ledger_status = "failed"


class ZoneAuthError(SourceError):
    """401: the zone's token is wrong or expired; nothing of this zone can be read."""


class ZoneUnavailable(SourceError):
    """The zone's system kept failing (5xx, 429, timeouts, dropped connections) past the retries.

    These, and only these, count towards a zone's circuit breaker: the server or the network is
    down, so the zone's next release would most likely fail the same way.
    """

    def __init__(self, message: str, last: str = "") -> None:
        super().__init__(message)
        #: the last failure seen, e.g. "HTTP 500" or "ConnectTimeout"
        self.last = last


class ReleaseFetchError(SourceError):
    """One release could not be read (404, body too large, endless paging, malformed JSON)."""


class ReleaseRejected(SourceError):
    """The release was received but is unusable as a whole (another zone's, another period's)."""

    ledger_status = "rejected"
