"""A live line per zone while a run works: releases done of those to do, records, failures.

Shown on stderr when stderr is a terminal; in a pipe or a log file the run's log lines say the
same, one release a line, and nothing is redrawn. The lines are drawn from the run's progress
events (``zonestats.progress``), so they follow zones in this process (threads, or Prefect
subflow runs here); zones fanned out to deployments report in the Prefect UI.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from zonestats.progress import Progress, listening

_FAILED = ("failed", "rejected")


@dataclass
class ZoneLine:
    """What one zone has done so far in this run."""

    zone: str
    total: int = 0
    done: int = 0
    loaded: int = 0
    failed: int = 0
    received: int = 0
    quarantined: int = 0
    state: str = "waiting"
    error: str | None = None
    datasets: dict[str, int] = field(default_factory=dict)


class Board:
    """The zones of one run and what each has done; fed by progress events from any thread."""

    def __init__(self, zones: Sequence[str], title: str) -> None:
        self.title = title
        self.lines = {z: ZoneLine(z) for z in zones}
        self.phase = ""
        self._lock = threading.Lock()

    def update(self, event: Progress) -> None:
        """Apply one progress event."""
        with self._lock:
            if event.kind == "phase":
                self.phase = event.phase
                return
            line = self.lines.setdefault(event.zone, ZoneLine(event.zone))
            if event.kind == "zone":
                line.state = "listing"
            elif event.kind == "listed":
                # a dataset listed again (a rerun zone by zone) replaces its own count only
                line.total += event.total - line.datasets.get(event.dataset, 0)
                line.datasets[event.dataset] = event.total
                line.state = f"{event.dataset} releases"
            elif event.kind == "release":
                line.done += 1
                line.received += event.received
                line.quarantined += event.quarantined
                if event.status in _FAILED:
                    line.failed += 1
                elif event.status in ("loaded", "validated"):
                    line.loaded += 1
            elif event.kind == "done":
                line.error = event.error
                line.state = "failed" if event.error else "done"

    def render(self) -> RenderableType:
        """The board as a table, one row per zone, and the run's phase under it."""
        with self._lock:
            grid = Table(title=self.title, title_justify="left", header_style="bold", box=None)
            grid.add_column("zone")
            grid.add_column("releases", min_width=22)
            grid.add_column("records", justify="right")
            grid.add_column("quarantined", justify="right")
            grid.add_column("failed", justify="right")
            grid.add_column("state", overflow="ellipsis", no_wrap=True, max_width=60)
            for line in self.lines.values():
                bar = Table.grid(padding=(0, 1))
                bar.add_row(
                    ProgressBar(total=max(line.total, 1), completed=line.done, width=12),
                    Text(f"{line.done}/{line.total}"),
                )
                state = Text(line.state)
                if line.error:
                    state = Text(f"failed: {line.error}", style="red")
                elif line.state == "done":
                    state.stylize("green")
                grid.add_row(
                    line.zone,
                    bar,
                    f"{line.received:,}",
                    Text(f"{line.quarantined:,}", style="yellow" if line.quarantined else ""),
                    Text(str(line.failed), style="bold red" if line.failed else ""),
                    state,
                )
            if not self.phase:
                return grid
            return Group(grid, Text(f"now: {self.phase}", style="cyan"))


def _zonestats_stream_handlers() -> list[logging.StreamHandler[TextIO]]:
    """The stderr handlers ``zonestats.steps.log_to_stderr`` put on the zonestats logger."""
    return [
        h
        for h in logging.getLogger("zonestats").handlers
        if isinstance(h, logging.StreamHandler) and getattr(h, "_zonestats", False)
    ]


@contextmanager
def zone_progress(
    zones: Sequence[str], title: str, console: Console | None = None
) -> Iterator[Board]:
    """Show the live board on ``console`` (default: stderr, only when it is a terminal)."""
    board = Board(zones, title)
    if console is None:
        if not sys.stderr.isatty():
            with listening(board.update):
                yield board
            return
        console = Console(stderr=True)
    handlers = _zonestats_stream_handlers()
    levels = [h.level for h in handlers]
    streams: list[TextIO] = []
    with (
        listening(board.update),
        Live(get_renderable=board.render, console=console, refresh_per_second=4, transient=False),
    ):
        # one line per release would scroll the board away: while it shows, the log on the
        # terminal keeps its warnings and errors, printed above the board
        for h in handlers:
            h.setLevel(logging.WARNING)
            # Live's proxy of stderr: a log line goes above the board, not through it
            streams.append(h.setStream(sys.stderr) or sys.stderr)
        try:
            yield board
        finally:
            for h, level, stream in zip(handlers, levels, streams, strict=True):
                h.setLevel(level)
                h.setStream(stream)
