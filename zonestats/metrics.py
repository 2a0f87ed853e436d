"""Stage timings for the benchmark: off unless a StageTimer is active in the current context."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

STAGES = ("fetch", "normalize", "validate", "load_sql", "write_parquet")


class StageTimer:
    """Seconds spent per pipeline stage while it is active."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def active(self) -> Iterator[StageTimer]:
        """Make this timer the one `timed` blocks report to."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


_current: ContextVar[StageTimer | None] = ContextVar("zonestats_stage_timer", default=None)


@contextmanager
def timed(stage: str) -> Iterator[None]:
    """Add the block's wall time to the active timer's stage (nothing when none is active)."""
    timer = _current.get()
    if timer is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        timer.seconds[stage] += time.perf_counter() - start
