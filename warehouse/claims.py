"""Claims that follow the life of a run: on a zone (one run at a time) and on the releases it loads.

A run takes a claim token and starts a heartbeat; every claim it makes carries the token, and the
heartbeat moves the lease of all of them forward. When the run dies (SIGKILL, OOM, a reboot, a
lost machine) the heartbeat stops and its claims expire within one lease, on any host: liveness
is the lease alone, never a PID. A successor that finds an expired claim takes it over and says
so. Machines that share a warehouse keep their clocks in sync (NTP): a skew of a few seconds
shortens or lengthens a lease by as much.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from warehouse import schema
from warehouse.store import engine_for
from zonestats.config import WarehouseSettings
from zonestats.models import utc, utcnow
from zonestats.secrets import redact

log = logging.getLogger("zonestats.claims")


class ZoneBusy(RuntimeError):
    """Another live run holds the zone; the message names it."""

    def __init__(self, zone_code: str, holder: str, waited_s: float) -> None:
        super().__init__(
            f"{zone_code}: busy, held by {holder}; gave up after waiting {waited_s:.0f}s"
        )
        self.zone_code = zone_code
        self.holder = holder


@dataclass(frozen=True)
class ZoneHolder:
    """Who holds a zone claim, as an operator reads it."""

    zone_code: str
    holder: str
    flow_run_id: str | None
    run_kind: str
    host: str
    pid: int
    claimed_at: datetime
    heartbeat_at: datetime
    lease_until: datetime

    def describe(self, now: datetime | None = None) -> str:
        """One line: which run, where, since when, how fresh its heartbeat is."""
        now = now or utcnow()
        age = (now - self.heartbeat_at).total_seconds()
        run = (
            f"{self.run_kind} run {self.flow_run_id}"
            if self.flow_run_id
            else f"{self.run_kind} run"
        )
        return (
            f"{run} (pid {self.pid} on {self.host}, since {self.claimed_at:%Y-%m-%d %H:%M:%S}Z, "
            f"heartbeat {age:.0f}s ago)"
        )


def _holder_of(row: Any) -> ZoneHolder:
    return ZoneHolder(
        zone_code=row.zone_code,
        holder=row.holder,
        flow_run_id=row.flow_run_id,
        run_kind=row.run_kind,
        host=row.host,
        pid=int(row.pid),
        claimed_at=utc(row.claimed_at),
        heartbeat_at=utc(row.heartbeat_at),
        lease_until=utc(row.lease_until),
    )


class RunClaims:
    """The claims of one run: its token, its zones, and the heartbeat that keeps them alive.

    One per run process (the threads of its zones share it). ``heartbeat_s`` must be well below
    ``lease_s`` so that one late beat does not lose a claim.
    """

    def __init__(
        self,
        settings: WarehouseSettings,
        run_kind: str,
        flow_run_id: str | None = None,
        lease_s: float = 60.0,
        heartbeat_s: float = 15.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine_for(settings)
        self.token = str(uuid.uuid4())
        self.run_kind = run_kind
        self.flow_run_id = flow_run_id
        self.lease = timedelta(seconds=lease_s)
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.beats = 0  # heartbeats that reached the warehouse (for tests and the log)

    # -- the heartbeat -----------------------------------------------------------------------

    def beat(self) -> None:
        """Move the lease of every claim of this run forward by one lease from now."""
        now = self.clock()
        until = now + self.lease
        with self.engine.begin() as conn:
            conn.execute(
                update(schema.zone_claim)
                .where(schema.zone_claim.c.holder == self.token)
                .values(heartbeat_at=now, lease_until=until)
            )
            led = schema.load_ledger.c
            conn.execute(
                update(schema.load_ledger)
                .where(led.claim_holder == self.token, led.status == "running")
                .values(lease_until=until)
            )
        self.beats += 1

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except Exception as exc:  # the warehouse away for a moment: the next beat may reach it
                log.warning("heartbeat of run %s missed: %s", self.token, redact(str(exc))[:300])

    def start(self) -> RunClaims:
        """Start the heartbeat thread (a daemon: it dies with the process, as the claims must)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"zonestats-heartbeat-{self.token[:8]}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat and give back every zone this run still holds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_s + 5)
            self._thread = None
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(schema.zone_claim).where(schema.zone_claim.c.holder == self.token)
                )
        except SQLAlchemyError as exc:  # not given back: it expires with its lease
            log.warning(
                "zone claims of run %s not released: %s", self.token, redact(str(exc))[:300]
            )

    def __enter__(self) -> RunClaims:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- zones -------------------------------------------------------------------------------

    def try_zone(self, zone_code: str) -> tuple[bool, ZoneHolder | None]:
        """Take the zone if it is free or its holder is dead.

        (True, None) taken fresh or held already; (True, dead) taken over from a dead run;
        (False, live) another live run holds it.
        """
        t = schema.zone_claim
        for _ in range(3):
            now = self.clock()
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(
                        select(t).where(t.c.zone_code == zone_code).with_for_update()
                    ).first()
                    mine = {
                        "holder": self.token,
                        "flow_run_id": self.flow_run_id,
                        "run_kind": self.run_kind,
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "claimed_at": now,
                        "heartbeat_at": now,
                        "lease_until": now + self.lease,
                    }
                    if row is None:
                        conn.execute(insert(t).values(zone_code=zone_code, **mine))
                        return True, None
                    current = _holder_of(row)
                    if current.holder == self.token:
                        return True, None
                    if current.lease_until > now:
                        return False, current
                    conn.execute(update(t).where(t.c.zone_code == zone_code).values(**mine))
                    # the dead run's release claims in this zone are dead with it, even those
                    # made after its last beat (their lease reaches a little further)
                    led = schema.load_ledger.c
                    conn.execute(
                        update(schema.load_ledger)
                        .where(
                            led.zone_code == zone_code,
                            led.status == "running",
                            led.claim_holder == current.holder,
                        )
                        .values(lease_until=now)
                    )
                    return True, current
            except IntegrityError:
                continue  # another run inserted the row between our select and insert
        raise RuntimeError(f"{zone_code}: could not claim the zone in the warehouse")

    def acquire_zone(self, zone_code: str, wait_s: float) -> str | None:
        """Take a zone, waiting at most ``wait_s`` for a live holder (then ZoneBusy).

        Returns a line naming the dead run it was taken over from, or None.
        """
        started = time.monotonic()
        while True:
            try:
                ok, other = self.try_zone(zone_code)
            except OperationalError:
                # the warehouse away for a moment (a restart): try again within the wait
                if time.monotonic() - started >= max(wait_s, 10.0):
                    raise
                time.sleep(1.0)
                continue
            if ok:
                break
            waited = time.monotonic() - started
            if waited >= wait_s:
                assert other is not None
                raise ZoneBusy(zone_code, other.describe(self.clock()), waited)
            time.sleep(min(1.0, max(0.05, wait_s - waited)))
        if other is None:
            return None
        return (
            f"{zone_code}: taken over from {other.describe(self.clock())}, "
            f"whose lease ran out at {other.lease_until:%Y-%m-%d %H:%M:%S}Z"
        )

    def release_zone(self, zone_code: str) -> None:
        """Give a zone back (only if this run holds it); if the warehouse is away, it expires."""
        t = schema.zone_claim
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(t).where(t.c.zone_code == zone_code, t.c.holder == self.token))
        except SQLAlchemyError as exc:
            log.warning("zone %s not released: %s", zone_code, redact(str(exc))[:300])


def zone_holders(settings: WarehouseSettings) -> list[ZoneHolder]:
    """Every zone claim in the warehouse, live or expired (for status)."""
    t = schema.zone_claim
    with engine_for(settings).connect() as conn:
        return [_holder_of(r) for r in conn.execute(select(t).order_by(t.c.zone_code))]


__all__ = ["RunClaims", "ZoneBusy", "ZoneHolder", "zone_holders"]
