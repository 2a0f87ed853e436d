"""The console script: the process's environment is settled before anything loads pyarrow."""

from __future__ import annotations

import os
from collections.abc import Sequence

from zonestats.allocator import prefer_run_pool


def main(argv: Sequence[str] | None = None) -> int:
    """Choose Arrow's allocator for this process and its children, then run the CLI."""
    prefer_run_pool(os.environ)
    # imported only now: the CLI's imports load pyarrow, which reads the variable once
    from cli.app import main as cli_main

    return cli_main(argv)
