"""The identities that travel between the steps: a release, its staged forms, the result of a load."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

# \Z, not $: a trailing newline must not pass; these values become parts of file paths.
ZONE_CODE = re.compile(r"^[A-Z]{2}[0-9]{2}\Z")
# Period strings of any frequency; the frequency-specific check is in zonestats.periods.
PERIOD_TEXT = re.compile(r"^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?\Z")


def utc(dt: datetime) -> datetime:
    """Return an aware datetime in UTC; naive values are taken as UTC (how SQLite returns them)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# what utcnow() reads: the system's clock unless set_clock put another in (a test that travels
# in time: loads, claims and audit rows then carry the moments it chose)
_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The current time, aware, in UTC (by the clock set with ``set_clock``, if any)."""
    return utc(_clock()) if _clock is not None else datetime.now(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Make ``utcnow`` read another clock, process-wide (None: the system's clock again)."""
    global _clock
    _clock = clock


@dataclass(frozen=True, order=True)
class ReleaseKey:
    """A release at one revision: the unit of work, of retry, of the ledger and of idempotency."""

    zone_code: str
    dataset: str
    period: str
    revision: int

    def __str__(self) -> str:
        return f"{self.zone_code} {self.dataset} {self.period} r{self.revision}"


@dataclass(frozen=True)
class ReleaseRef:
    """A release as a zone lists it."""

    zone_code: str
    dataset: str
    period: str
    frequency: str
    revision: int
    published_at: datetime
    record_count: int | None = None
    problem: str | None = None  # why the listing entry itself is unusable (the release is rejected)
    origin: str = "api-v1"  # the adapter it came through, or "manual" for an operator's file
    source_sha256: str | None = None  # the file's hash, where the source hands in files
    form: str | None = None  # the report form (表号) of a file source

    @property
    def key(self) -> ReleaseKey:
        """The ledger key of this release."""
        return ReleaseKey(self.zone_code, self.dataset, self.period, self.revision)

    @property
    def year(self) -> int:
        """The calendar year the period belongs to."""
        return int(self.period[:4])

    def at_revision(self, revision: int) -> ReleaseRef:
        """The same release at another revision (after a 409 or a revision change mid-paging)."""
        return replace(self, revision=revision)


@dataclass(frozen=True)
class FetchedRelease:
    """A release whose pages were received and spooled as they came, ready to be validated."""

    ref: ReleaseRef
    spool: Path
    pages: int
    records_raw: int
    sha256: str
    restarts: int = 0


@dataclass(frozen=True)
class ValidatedRelease:
    """A release split into rows to load and quarantine rows, both staged as Parquet."""

    ref: ReleaseRef
    load_id: str
    obs: Path
    quarantine: Path
    records_received: int
    records_loaded: int
    records_quarantined: int
    records_warned: int
    sha256: str
    rules_broken: dict[str, int] = field(default_factory=dict)
    dims: Path | None = None  # enterprise dataset: the enterprises' reference rows, staged
    # mandatory indicators absent or held out: the release loads what is valid, marked incomplete
    incomplete: tuple[str, ...] = ()
    # a release-level error (e.g. enterprise sums above the zone total): nothing loads
    rejection: str | None = None


@dataclass(frozen=True)
class ReleaseOutcome:
    """What happened to one release in a run; the run summary is made of these."""

    key: ReleaseKey
    status: str  # loaded | failed | rejected | skipped | validated (checked only, --validate-only)
    records_received: int = 0
    records_loaded: int = 0
    records_quarantined: int = 0
    records_warned: int = 0
    error: str | None = None
    rules_broken: dict[str, int] = field(default_factory=dict)
    incomplete: tuple[str, ...] = ()
    # validate-only: the first findings, as messages, for the zone that checks before publishing
    findings: tuple[str, ...] = ()
    # failed because the zone's server or the network was down (its last failure, e.g. HTTP 500)
    unavailable: str | None = None
    # False: recorded failed without an attempt (an open breaker, the run's deadline)
    attempted: bool = True


@dataclass
class ZoneOutcome:
    """What happened to one zone in a run."""

    zone_code: str
    releases: list[ReleaseOutcome] = field(default_factory=list)
    error: str | None = None  # the zone as a whole failed (bad token, unreachable, busy)
    # a takeover of the zone from a dead run, and the like: worth a line, not a failure
    notes: list[str] = field(default_factory=list)
    # one line per reason releases were not attempted (the zone's breaker, the run's deadline)
    held_back: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many releases ended in a status."""
        return sum(1 for r in self.releases if r.status == status)

    @property
    def ok(self) -> bool:
        """True when the zone was reached and no release failed or was rejected."""
        return self.error is None and not any(
            r.status in ("failed", "rejected") for r in self.releases
        )
