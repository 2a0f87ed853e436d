"""What bounds a run: one run per zone, a circuit breaker per zone, a deadline for the night.

One run at a time against a zone's system is a claim in the warehouse (warehouse.claims), kept
alive by the run's heartbeat, so it holds across processes and machines and dies with its holder.
It replaced a Prefect global concurrency slot, which a killed process never gave back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tasks.load import defer_release, open_parquet_batch
from warehouse.claims import RunClaims, ZoneBusy
from warehouse.parquet import ParquetBatch
from zonestats.config import AppConfig
from zonestats.models import ReleaseOutcome, ReleaseRef, ZoneOutcome, utcnow
from zonestats.steps import current_run_id, run_logger

__all__ = ["RunDeadline", "ZoneBreaker", "ZoneBusy", "ZoneGuard", "run_claims", "zone_guard"]

NOT_ATTEMPTED_DEADLINE = "not attempted: run deadline"


def run_claims(
    config: AppConfig,
    run_kind: str,
    flow_run_id: str | None,
    clock: Callable[[], datetime] = utcnow,
) -> RunClaims:
    """The claims and heartbeat of one run, as the config's ``[run]`` sets them (not started)."""
    return RunClaims(
        config.warehouse,
        run_kind,
        flow_run_id,
        lease_s=config.run.lease_s,
        heartbeat_s=config.run.heartbeat_s,
        clock=clock,
    )


@dataclass
class ZoneBreaker:
    """Opens after ``limit`` consecutive releases of a zone failed on server or network errors.

    A data rejection (4xx, a bad page) says nothing about the server and resets the count, as
    does any release that got through.
    """

    zone_code: str
    limit: int
    consecutive: int = 0
    last: str = ""

    def record(self, outcome: ReleaseOutcome) -> None:
        """Count one attempted release."""
        if outcome.status == "skipped":
            return
        if outcome.unavailable is not None:
            self.consecutive += 1
            self.last = outcome.unavailable
        else:
            self.consecutive = 0

    @property
    def open(self) -> bool:
        """True when the zone's remaining releases are not to be attempted in this run."""
        return self.consecutive >= self.limit

    def reason(self) -> str:
        """The ledger's message for a release the open breaker held back."""
        return (
            f"not attempted: {self.zone_code} unavailable after {self.consecutive} consecutive "
            f"failures (last: {self.last or 'unknown'})"
        )


@dataclass(frozen=True)
class RunDeadline:
    """No release starts once the run's deadline has passed."""

    at: datetime
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], datetime] = utcnow) -> RunDeadline:
        """The deadline ``seconds`` from now."""
        return cls(clock() + timedelta(seconds=seconds), clock)

    @property
    def passed(self) -> bool:
        """True once no new release may start."""
        return self.clock() >= self.at


@dataclass
class ZoneGuard:
    """What a zone's releases run under: the run's claim token, the zone's breaker, the deadline,
    and the Parquet batch their rows go to."""

    config: AppConfig
    holder: str
    flow_run_id: str | None
    breaker: ZoneBreaker
    deadline: RunDeadline
    deferred: dict[str, int] = field(default_factory=dict)  # reason -> releases held back
    # the zone's releases append their Parquet rows to one file per partition, published at the end
    batch: ParquetBatch | None = None

    def held_back(self) -> str | None:
        """Why the next release must not start (deadline, open breaker), or None."""
        if self.deadline.passed:
            return NOT_ATTEMPTED_DEADLINE
        if self.breaker.open:
            return self.breaker.reason()
        return None

    def defer(self, ref: ReleaseRef, reason: str, validate_only: bool = False) -> ReleaseOutcome:
        """Leave a release for the next run: ``failed`` in the ledger with the reason."""
        if not validate_only:
            defer_release(self.config.warehouse, ref, self.flow_run_id, reason)
        self.deferred[reason] = self.deferred.get(reason, 0) + 1
        return ReleaseOutcome(key=ref.key, status="failed", error=reason, attempted=False)

    def summarise(self, outcome: ZoneOutcome) -> None:
        """One line per reason releases were held back, for the run summary."""
        for reason, count in self.deferred.items():
            what = reason.removeprefix("not attempted: ")
            line = f"{count} release{'s' if count != 1 else ''} not attempted: {what}"
            outcome.held_back.append(line)
            run_logger().error("%s: %s", outcome.zone_code, line)


@contextmanager
def zone_guard(
    config: AppConfig,
    zone_code: str,
    run_kind: str,
    outcome: ZoneOutcome,
    deadline_at: datetime | None = None,
) -> Iterator[ZoneGuard | None]:
    """Claim the zone for the block under a heartbeat, or yield None with the zone reported busy."""
    log = run_logger()
    run_id = current_run_id()
    deadline = (
        RunDeadline(deadline_at)
        if deadline_at is not None
        else RunDeadline.after(config.run.deadline_s)
    )

    with run_claims(config, run_kind, run_id) as claims:
        try:
            takeover = claims.acquire_zone(zone_code, config.run.zone_wait_s)
        except ZoneBusy as exc:
            outcome.error = str(exc)
            log.error("%s", exc)
            yield None
            return
        if takeover is not None:
            outcome.notes.append(takeover)
            log.warning("%s", takeover)
        try:
            # published before the zone is let go: the next holder finds this run's files whole
            with open_parquet_batch(config.warehouse) as batch:
                yield ZoneGuard(
                    config,
                    claims.token,
                    run_id,
                    ZoneBreaker(zone_code, config.run.zone_breaker_failures),
                    deadline,
                    batch=batch,
                )
        finally:
            claims.release_zone(zone_code)
