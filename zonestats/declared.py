"""Checks shared by the TOML declarations the project ships (the evaluation method, the calendar)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def checked_table(
    value: Any, where: str, allowed: set[str], required: set[str], error: type[Exception]
) -> Mapping[str, Any]:
    """A declaration's table with only ``allowed`` keys and every ``required`` one, else ``error``.

    The message names the first offending key by its dotted path, so the file's author finds it.
    """
    if not isinstance(value, Mapping):
        raise error(f"{where}: expected a table")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise error(f"{where}.{unknown[0]}: unknown key")
    absent = sorted(required - set(value))
    if absent:
        raise error(f"{where}.{absent[0]}: missing")
    return value
