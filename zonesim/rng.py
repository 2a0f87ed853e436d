"""Stable randomness: the same names give the same draws in every process and on every platform."""

from __future__ import annotations

import hashlib
import random


def _key(parts: tuple[object, ...]) -> str:
    return ":".join(str(p) for p in parts)


def stable_rng(*parts: object) -> random.Random:
    """Return a Random seeded from the parts' text (not hash(): it is salted per process)."""
    return random.Random(_key(parts))


def stable_unit(*parts: object) -> float:
    """Return a number in [0, 1) derived from the parts alone (cheaper than a Random)."""
    digest = hashlib.sha256(_key(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
