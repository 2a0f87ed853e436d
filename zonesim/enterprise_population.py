"""The enterprises of a zone: who they are by index (the window of a year), how big, which
indicators they report and how much of the zone's figure they carry; see ``zonesim.enterprise``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from statistics import NormalDist

from zonesim import data
from zonesim.industry import BASE_MIX
from zonesim.rng import stable_rng
from zonestats.catalog import Indicator

DATASET = "enterprise"
# A zone never has fewer (the bad-enterprise cases need distinct positions to work on).
MIN_ENTERPRISES = 12
# Spread of enterprise sizes (log-normal): the largest firms carry much of a zone's revenue.
SIZE_SIGMA = 1.1
# Share of a zone's figure its reporting enterprises carry, before seasonal noise.
FLOW_COVERAGE = (0.70, 0.76)
# Each enterprise's monthly increment is its share times u, u uniform in 1 ± SEASON_NOISE.
SEASON_NOISE = 0.25


@cache
def indicators() -> tuple[Indicator, ...]:
    """Return the enterprise indicators in catalog order."""
    return tuple(data.catalog().for_dataset(DATASET))


@cache
def codes() -> tuple[str, ...]:
    return tuple(i.code for i in indicators())


@cache
def flow_codes() -> tuple[str, ...]:
    return tuple(i.code for i in indicators() if i.basis == "ytd")


@cache
def factors(code: str) -> dict[str, Fraction]:
    return indicators()[codes().index(code)].unit_factors


@dataclass(frozen=True)
class ZoneMix:
    """What the enterprises of one zone look like, whatever the year."""

    base_count: float  # enterprises in BASE_YEAR at scale 1
    entry_rate: float  # newcomers per year, as a share of base_count
    exit_rate: float
    above_cut: float  # size score above which a firm is above designated size
    cluster_cdf: tuple[float, ...]
    region: str
    city: str
    org: tuple[int, int, int, int]  # affine permutations of indices into organization codes


@cache
def zone_mix(seed: int, zone_code: str) -> ZoneMix:
    r = stable_rng(seed, zone_code, DATASET, "mix")
    revenue = data._profile(seed, zone_code).levels["revenue"]
    # Bigger zones have more firms: 300 at 500,000 万元 of revenue, ~1,900 at 5,000,000.
    base = min(2000.0, 300 * (revenue / 5e5) ** 0.8) * r.uniform(0.9, 1.1)
    weights = [w * r.uniform(0.5, 1.5) for w in BASE_MIX]
    weights[r.randrange(4)] *= 2.5  # the zone's leading industry, one of the four industrial
    total = sum(weights)
    cdf = tuple(sum(weights[: n + 1]) / total for n in range(len(weights)))
    zone = data.catalog().zones[zone_code]
    a6 = r.randrange(1, 31**6)
    a6 += a6 % 31 == 0  # coprime to 31^6: index -> code is then one-to-one
    a8 = r.randrange(1, 10**8)
    while math.gcd(a8, 10) != 1:
        a8 += 1
    return ZoneMix(
        base_count=base,
        entry_rate=r.uniform(0.04, 0.08),
        exit_rate=r.uniform(0.02, 0.04),
        above_cut=NormalDist().inv_cdf(1 - r.uniform(0.3, 0.6)),
        cluster_cdf=cdf,
        region=zone.city_admin_code,
        city=zone.city_zh.removesuffix("市"),
        org=(a6, r.randrange(31**6), a8, r.randrange(10**8)),
    )


def window(seed: int, zone_code: str, year: int, scale: float) -> tuple[int, int]:
    """Return the indices [lo, hi) of the zone's enterprises in a year."""
    mix = zone_mix(seed, zone_code)
    n0 = max(MIN_ENTERPRISES, round(mix.base_count * scale))
    since = year - data.BASE_YEAR
    lo = round(n0 * mix.exit_rate) * since
    hi = n0 + round(n0 * mix.entry_rate) * since
    return (min(lo, hi - MIN_ENTERPRISES), hi)


def enterprise_count(seed: int, zone_code: str, year: int, scale: float) -> int:
    """Return how many enterprises a zone has in a year (the same in every month)."""
    lo, hi = window(seed, zone_code, year, scale)
    return hi - lo


@cache
def zone_targets(seed: int, zone_code: str, year: int) -> dict[str, tuple[float, ...]]:
    """The zone's series the enterprises share, months 1..12 (ytd levels, or stocks)."""
    levels = data._levels(seed, zone_code, year)
    ratios = data._year_ratios(seed, zone_code, year)

    def ytd(code: str) -> tuple[float, ...]:
        shares = data._cumulative(seed, zone_code, year, code)
        return tuple(levels[code] * s for s in shares)

    revenue = ytd("revenue")
    land = float(data._annual(seed, zone_code, year)["industrial_land_area"])
    return {
        "revenue": revenue,
        "industrial_output": tuple(v * ratios["industrial_output"] for v in revenue),
        "tax_revenue": ytd("tax_revenue"),
        "rd_expenditure": ytd("rd_expenditure"),
        "energy_consumption": ytd("energy_consumption"),
        "electricity_consumption": ytd("electricity_consumption"),
        "employees": tuple(
            data._interp(seed, zone_code, year, "employees", m) for m in range(1, 13)
        ),
        "land_area": (land,) * 12,
    }


@cache
def zone_coverage(seed: int, zone_code: str, year: int) -> dict[str, float]:
    r = stable_rng(seed, zone_code, DATASET, year, "coverage")
    out = {code: r.uniform(*FLOW_COVERAGE) for code in flow_codes()}
    out["employees"] = r.uniform(0.6, 0.85)
    out["land_area"] = r.uniform(0.5, 0.85)
    return out


# Canonical exponent of each indicator's mantissa (land: hundredths of a hectare × 15 = 亩).
_EXPONENT = {"employees": 0}


def _exponent(code: str) -> int:
    return _EXPONENT.get(code, -2)


def exponent(code: str) -> int:
    """Return the exponent of an indicator's canonical mantissas (values are m × 10^e)."""
    return _exponent(code)


@cache
def code_exponents() -> tuple[tuple[str, int], ...]:
    return tuple((code, _exponent(code)) for code in codes())
