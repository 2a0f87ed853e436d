"""Tables for people and for scripts: boxed and coloured on a terminal, plain text in a pipe.

A pipe (``| grep``, ``| head``, a test capturing stdout) gets the plain table of
``cli.common.table``, unchanged from before: scripts that read it keep working. ``--json`` stays
the format for programs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from cli.common import table as text_table

#: status words an operator should see at a glance
_STYLES: Mapping[str, str] = {
    "loaded": "green",
    "fixed": "green",
    "accepted": "green",
    "skipped": "dim",
    "running": "cyan",
    "deferred": "yellow",
    "warning": "yellow",
    "open": "yellow",
    "failed": "bold red",
    "rejected": "bold red",
    "error": "red",
}


def rich_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None
) -> Table:
    """The rows as a rich Table; numbers right-aligned, status words coloured."""
    grid = Table(title=title, header_style="bold", show_lines=False)
    for c in columns:
        numeric = bool(rows) and all(isinstance(r.get(c), int | float) for r in rows)
        grid.add_column(c, justify="right" if numeric else "left", overflow="fold")
    for r in rows:
        cells = []
        for c in columns:
            text = "" if r.get(c) is None else str(r.get(c))
            style = _STYLES.get(text)
            cells.append(f"[{style}]{text}[/]" if style else text.replace("[", "\\["))
        grid.add_row(*cells)
    return grid


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    empty: str,
    file: TextIO | None = None,
) -> None:
    """Print rows as a table (rich on a terminal, plain in a pipe), or ``empty`` when none."""
    out = file or sys.stdout
    if not rows:
        print(empty, file=out)
        return
    if not out.isatty():
        print(text_table([dict(r) for r in rows], columns), file=out)
        return
    Console(file=out, highlight=False).print(rich_table(rows, columns))
