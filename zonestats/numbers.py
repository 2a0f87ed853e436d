"""Figures as people read them in plain text (tables, CSV, run summaries)."""

from __future__ import annotations

import math
from typing import Any


def plain_number(value: Any) -> str:
    """A figure as plain text: the shortest form that reads back the same, '' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        number = float(value)
    except (TypeError, ValueError):  # pandas' NA, and anything else that is no figure
        return ""
    if math.isnan(number):
        return ""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)
