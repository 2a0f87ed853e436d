"""What every command module of the CLI shares (the config a command runs with, the --zone
check, plain tables): a leaf below ``zonestats.cli`` and its command modules, so that they
import it and not each other (no import circle). Issue 14 moves the CLI into its own package."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ConfigError, load_config, resolve_config_path
from zonestats.runtime import rules_for


def load_app_config(args: argparse.Namespace) -> AppConfig:
    """The config of a command's --config (else $ZONESTATS_CONFIG, else ./zonestats.toml)."""
    path = resolve_config_path(args.config, os.environ)
    config = load_config(path, shipped_catalog())
    rules_for(config)  # a severity override of an unknown rule is a config error, exit 2
    return config


def known_zone(code: str | None, flag: str = "--zone") -> str | None:
    """A --zone value checked against the zone registry (unknown: exit 2, with the known codes)."""
    if code is None:
        return None
    zones = shipped_catalog().zones
    if code not in zones:
        raise ConfigError(flag, f"{code!r} is not a zone; the zones are {', '.join(zones)}")
    return code


def table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as a plain text table of the given columns, a header and a rule first."""
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
