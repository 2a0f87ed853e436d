"""A zone-month of enterprises as numpy columns (a block), cut from the year's series, and the
caches that keep the recent years and blocks (bounded by count and by enterprises)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from zonesim.enterprise_population import (
    DATASET,
    SEASON_NOISE,
    SIZE_SIGMA,
    flow_codes,
    window,
    zone_coverage,
    zone_mix,
    zone_targets,
)
from zonesim.industry import CLUSTERS
from zonesim.rng import normals, stream_key, uniforms

# How many enterprise blocks (one zone-month each) stay cached: at most BLOCK_CACHE, and no more
# than BLOCK_CACHE_ENTERPRISES enterprises in all (a 50,000-enterprise block holds ~30 MB).
BLOCK_CACHE = 16
BLOCK_CACHE_ENTERPRISES = 200_000
# The years the blocks are cut from (all twelve months of a zone's enterprises, ~800 bytes an
# enterprise): one per zone walking its releases in order, and no more than ~50 MB.
YEAR_CACHE = 12
YEAR_CACHE_ENTERPRISES = 60_000
K = TypeVar("K")
V = TypeVar("V")
# How often a zone writes an indicator in one of its alternative units (per enterprise and year).
ALT_UNITS: dict[str, tuple[tuple[str, float], ...]] = {
    "revenue": (("元", 0.04), ("千元", 0.02)),
    "industrial_output": (("元", 0.02), ("亿元", 0.01)),
    "tax_revenue": (("元", 0.03),),
    "rd_expenditure": (("千元", 0.02),),
    "energy_consumption": (("万吨标准煤", 0.02),),
    "electricity_consumption": (("千瓦时", 0.05),),
    "land_area": (("公顷", 0.08), ("平方米", 0.02)),
}


# Wire styles of values, per enterprise and year: JSON number, plain string, thousands
# separators, surrounding spaces (cumulative probabilities).
STYLES = ("number", "plain", "thousands", "spaces")
_STYLE_CDF = (0.30, 0.75, 0.95)
_SERVICES = next(n for n, c in enumerate(CLUSTERS) if c.name == "services")


@dataclass
class Block:
    """Every enterprise of one zone and month (revision 1, no faults), as numpy columns indexed
    by position; the wire view is built once, when a page is first served."""

    seed: int
    zone_code: str
    lo: int
    count: int
    cluster: npt.NDArray[np.int64]
    above: list[bool]
    style: npt.NDArray[np.int64]  # index into STYLES
    mantissa: dict[str, npt.NDArray[np.int64]]  # at the code's exponent
    present: dict[str, npt.NDArray[np.bool_]]  # optional indicators only
    alt: dict[str, npt.NDArray[np.int64]]  # index into ALT_UNITS[code], -1: catalog unit
    biggest: int  # position of the enterprise with the largest revenue

    # chunk number -> its wire view, built when a page first needs it (enterprise_wire.wire_chunk)
    wire_chunks: dict[int, Wire] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Wire:
    """The wire view of a run of positions: each record's JSON text as a page carries it
    (UTF-8, json.dumps(render(row), ensure_ascii=False) of the clean revision-1 row)."""

    records: list[bytes]


def _intensity(code: str) -> npt.NDArray[np.float64]:
    return np.array([c.intensity.get(code, 1.0) for c in CLUSTERS])


def _alt_choices(u: npt.NDArray[np.float64], code: str) -> npt.NDArray[np.int64]:
    cdf = np.cumsum([rate for _, rate in ALT_UNITS[code]])
    picked = np.searchsorted(cdf, u, side="right")
    return np.where(picked < len(cdf), picked, -1).astype(np.int64)


@dataclass(frozen=True)
class _Year:
    """Every enterprise of one zone and year: what a month's Block takes its columns from
    (each mantissa matrix holds months 1..12, one column each)."""

    lo: int
    count: int
    cluster: npt.NDArray[np.int64]
    above: list[bool]
    style: npt.NDArray[np.int64]
    mantissa: dict[str, npt.NDArray[np.int64]]  # count × 12
    present: dict[str, npt.NDArray[np.bool_]]
    alt: dict[str, npt.NDArray[np.int64]]


def _compute_year(seed: int, zone_code: str, year: int, scale: float) -> _Year:
    # Every figure of a month depends on the year's draws only (the seasonal noise of all twelve
    # months goes into each ytd), so the twelve months are computed together, each month's
    # column with exactly the arithmetic of a month computed alone.
    mix = zone_mix(seed, zone_code)
    lo, hi = window(seed, zone_code, year, scale)
    idx = np.arange(lo, hi, dtype=np.int64)

    def static(name: str) -> int:
        return stream_key(seed, zone_code, DATASET, name)

    def yearly(name: str) -> int:
        return stream_key(seed, zone_code, DATASET, year, name)

    score = normals(static("size"), idx)
    cdf = np.array(mix.cluster_cdf)
    cluster = np.minimum(
        np.searchsorted(cdf, uniforms(static("cluster"), idx), side="right"), len(CLUSTERS) - 1
    ).astype(np.int64)
    size = np.exp(SIZE_SIGMA * score + 0.15 * normals(yearly("size"), idx))
    above = score > mix.above_cut
    rd_share = np.array([c.rd_share for c in CLUSTERS])[cluster]
    energy_share = np.array([c.energy_share for c in CLUSTERS])[cluster]
    reports = {
        "industrial_output": (cluster != _SERVICES) & (uniforms(yearly("output"), idx) >= 0.05),
        "energy_consumption": above | (uniforms(yearly("energy"), idx) < energy_share),
        # Mandatory, but most small firms spend nothing on R&D: they report 0.
        "rd_expenditure": uniforms(yearly("rd"), idx) < rd_share,
    }
    targets = zone_targets(seed, zone_code, year)
    coverage = zone_coverage(seed, zone_code, year)
    counters = idx[:, None] * 12 + np.arange(12, dtype=np.int64)[None, :]

    def shares(code: str) -> npt.NDArray[np.float64]:
        w = size * _intensity(code)[cluster] * np.exp(0.3 * normals(yearly("w:" + code), idx))
        mask = reports.get(code)
        if mask is not None:
            w = np.where(mask, w, 0.0)
        total = float(w.sum())
        result: npt.NDArray[np.float64] = w / total if total > 0 else w
        return result

    mantissa: dict[str, npt.NDArray[np.int64]] = {}
    for code in flow_codes():
        increments = np.diff(np.concatenate(([0.0], np.array(targets[code]))))
        noise = 1 - SEASON_NOISE + 2 * SEASON_NOISE * uniforms(yearly("season:" + code), counters)
        # The full-year cumsum, whatever the month: month m's figure is then computed exactly
        # as it is when month m+1 is asked for, and float addition of non-negative terms never
        # decreases, so the ytd series stays monotone after rounding too.
        cum = np.cumsum(noise * increments[None, :], axis=1)
        ytd = (coverage[code] * shares(code))[:, None] * cum
        mantissa[code] = np.floor(ytd * 100 + 0.5).astype(np.int64)
    drift = 1 + 0.04 * (uniforms(yearly("staff"), counters) - 0.5)
    employees = shares("employees")
    staff = np.empty((hi - lo, 12), dtype=np.float64)
    for m in range(12):  # the order of a month's own product: (coverage × target) × share × drift
        staff[:, m] = coverage["employees"] * targets["employees"][m] * employees * drift[:, m]
    mantissa["employees"] = np.maximum(1, np.floor(staff + 0.5)).astype(np.int64)
    hectares = coverage["land_area"] * targets["land_area"][0] / 15 * shares("land_area")
    # Whole hundredths of a hectare, so that 公顷 and 平方米 render the 亩 value exactly.
    land = np.maximum(1, np.floor(hectares * 100 + 0.5)).astype(np.int64) * 15
    mantissa["land_area"] = np.repeat(land[:, None], 12, axis=1)
    return _Year(
        lo=lo,
        count=hi - lo,
        cluster=cluster,
        above=above.tolist(),
        style=np.searchsorted(
            np.array(_STYLE_CDF), uniforms(yearly("style"), idx), side="right"
        ).astype(np.int64),
        mantissa=mantissa,
        present={c: reports[c] for c in ("industrial_output", "energy_consumption")},
        alt={c: _alt_choices(uniforms(yearly("unit:" + c), idx), c) for c in ALT_UNITS},
    )


def _compute_block(seed: int, zone_code: str, year: int, month: int, scale: float) -> Block:
    whole = _YEARS.get((seed, zone_code, year, scale))
    mantissa = {c: np.ascontiguousarray(m[:, month - 1]) for c, m in whole.mantissa.items()}
    return Block(
        seed=seed,
        zone_code=zone_code,
        lo=whole.lo,
        count=whole.count,
        cluster=whole.cluster,
        above=whole.above,
        style=whole.style,
        mantissa=mantissa,
        present=whole.present,
        alt=whole.alt,
        biggest=int(np.argmax(mantissa["revenue"])),
    )


class _Cache(Generic[K, V]):
    """A small LRU: a release is paged many times, but a benchmark walks many zones, so only
    the last few entries stay in memory (at most ``size``, and at most ``enterprises`` in all,
    the last one whatever its size)."""

    def __init__(self, compute: Callable[[K], V], size: int, enterprises: int) -> None:
        self._compute = compute
        self._size = size
        self._enterprises = enterprises
        self._lock = threading.Lock()
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V:
        """Return the entry of a key, computed when not cached (a race at worst computes it
        twice, identically)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = self._compute(key)
        with self._lock:
            self._items[key] = value
            while len(self._items) > 1 and (
                len(self._items) > self._size
                or sum(getattr(v, "count", 0) for v in self._items.values()) > self._enterprises
            ):
                self._items.popitem(last=False)
        return value


class _BlockCache:
    """The months' blocks, each computed from its year (both cached)."""

    def __init__(self, size: int, enterprises: int) -> None:
        self._months: _Cache[tuple[int, str, int, int, float], Block] = _Cache(
            lambda key: _compute_block(*key), size, enterprises
        )

    def get(self, seed: int, zone_code: str, year: int, month: int, scale: float) -> Block:
        """Return the block of one zone and month."""
        return self._months.get((seed, zone_code, year, month, scale))


_YEARS: _Cache[tuple[int, str, int, float], _Year] = _Cache(
    lambda key: _compute_year(*key), YEAR_CACHE, YEAR_CACHE_ENTERPRISES
)
BLOCKS = _BlockCache(BLOCK_CACHE, BLOCK_CACHE_ENTERPRISES)
