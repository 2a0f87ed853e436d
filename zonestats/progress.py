"""How far a run has come, as events a front end may listen to (the CLI's live lines per zone).

The flows emit; nobody has to listen. Listeners are process-local, like logging handlers: a
run's zones that work in this process (threads, or Prefect subflow runs in this process) report
here; zones that run as deployments on other workers report to the Prefect UI instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

Kind = Literal["zone", "listed", "release", "done", "phase"]


@dataclass(frozen=True)
class Progress:
    """One step of a run: a zone started or finished, a dataset listed, a release done, a phase."""

    kind: Kind
    zone: str = ""
    dataset: str = ""
    total: int = 0  # "listed": the releases of the dataset this run will attempt
    status: str = ""  # "release": loaded, failed, rejected, validated, ...
    received: int = 0
    quarantined: int = 0
    error: str | None = None  # "done": the zone's error, if it had one
    phase: str = ""  # "phase": what the run does after the zones (marts, checkpoint, report)


Listener = Callable[[Progress], None]

_LOG = logging.getLogger("zonestats.progress")
_listeners: list[Listener] = []
_lock = threading.Lock()


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call ``listener`` with every event emitted in this process until the block ends."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def emit(event: Progress) -> None:
    """Tell every listener; a listener's failure never reaches the run that reported."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(event)
        except Exception:  # a display must not fail a load: logged at debug, and the run goes on
            _LOG.debug("a progress listener failed on %s", event, exc_info=True)
