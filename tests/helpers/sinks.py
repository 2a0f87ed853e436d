"""A PageSink for tests: keeps the pages in memory and counts restarts."""

from __future__ import annotations

from typing import Any

from zonestats.sources.base import Page


class Collect:
    """A PageSink that keeps pages in memory, counting restarts."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.resets = 0

    def reset(self) -> None:
        self.pages = []
        self.resets += 1

    def write(self, page: Page) -> None:
        self.pages.append(page)

    @property
    def records(self) -> list[Any]:
        return [r for p in self.pages for r in p.records]
