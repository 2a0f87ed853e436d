"""Stable randomness: the same names give the same draws in every process and on every platform."""

from __future__ import annotations

import hashlib
import math
import random
from hashlib import sha256

import numpy as np
import numpy.typing as npt


def _key(parts: tuple[object, ...]) -> str:
    return ":".join(str(p) for p in parts)


def stable_rng(*parts: object) -> random.Random:
    """Return a Random seeded from the parts' text (not hash(): it is salted per process)."""
    return random.Random(_key(parts))


def stable_unit(*parts: object) -> float:
    """Return a number in [0, 1) derived from the parts alone (cheaper than a Random)."""
    digest = hashlib.sha256(_key(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# ---- vectorized: one draw per counter of a stream (numpy) -----------------------------------

_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB


def stream_key(*parts: object) -> int:
    """A 64-bit stream key from the parts' text (stable across processes and platforms)."""
    digest = sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def uniforms(stream: int, counters: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Return numbers in [0, 1), one per counter of a stream (splitmix64 of stream + counter × γ):
    the same counter always gives the same number."""
    # uint64 arithmetic wraps modulo 2^64, as splitmix64 means it to.
    z = counters.astype(np.uint64) * np.uint64(_GOLDEN) + np.uint64(stream)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_C1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_C2)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def normals(stream: int, counters: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    # Box–Muller from two uniforms per counter (numpy's own normals may change between versions).
    u1 = uniforms(stream, counters * 2)
    u2 = uniforms(stream, counters * 2 + 1)
    result: npt.NDArray[np.float64] = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * math.pi * u2)
    return result
