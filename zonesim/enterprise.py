"""Deterministic data of the ``enterprise`` dataset (企业月报), generated page by page.

Population: a zone's enterprises are numbered by an integer index. The enterprises of a year are
the window [lo, hi) of indices: newcomers take the next numbers at the start of a year and the
lowest numbers leave, so an enterprise keeps its credit code, name and industry from year to
year, and a position in a release maps straight to an index. Every draw about enterprise i comes
from a counter-based hash of (seed, zone, stream, i[, month]) (splitmix64, vectorized with
numpy), so no figure depends on how many enterprises there are or on which page is asked for,
and a release of 50,000 enterprises is a few numpy passes plus one dict per record served.

Figures: the ytd series of an enterprise is a share of the zone's own series of ``data`` (the
same unrounded ytd level the zone dataset publishes): in month j it adds
c × ΔZ(j) × w_i / Σw × u_ij, where c (coverage, 0.70–0.76) is per zone and year, w_i the
enterprise's weight (size × industry intensity × noise, 0 for an enterprise that does not report
the indicator) and u_ij ∈ [0.75, 1.25] its own seasonal noise. So an enterprise's ytd never
decreases within a year, and the sum over the enterprises that report an indicator lies within
[0.75 c, 1.25 c] ⊂ [52.5%, 95%] of the zone's figure, whatever the weights. Values are whole
hundredths of the catalog unit (areas whole hundredths of a hectare, employees whole people), so
every alternative unit renders them exactly.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from functools import cache
from hashlib import sha256
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from zonesim import data
from zonesim.faults import BAD_ENTERPRISES, BadEnterpriseCase, Faults, bad_enterprise_positions
from zonesim.industry import BASE_MIX, CLUSTERS
from zonesim.model import Record
from zonesim.rng import stable_rng
from zonesim.uscc import ALPHABET, VALUES, make_uscc, org_check_char
from zonestats.catalog import Indicator
from zonestats.periods import Period

DATASET = "enterprise"
# A zone never has fewer (the bad-enterprise cases need distinct positions to work on).
MIN_ENTERPRISES = 12
# Spread of enterprise sizes (log-normal): the largest firms carry much of a zone's revenue.
SIZE_SIGMA = 1.1
# Share of a zone's figure its reporting enterprises carry, before seasonal noise.
FLOW_COVERAGE = (0.70, 0.76)
# Each enterprise's monthly increment is its share times u, u uniform in 1 ± SEASON_NOISE.
SEASON_NOISE = 0.25
# How many enterprise blocks (one zone-month each) stay cached.
BLOCK_CACHE = 8

Mantissa = tuple[int, int]  # (m, e): the value m × 10^e in the catalog unit

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_C1 = 0xBF58476D1CE4E5B9
_C2 = 0x94D049BB133111EB

# How often a zone writes an indicator in one of its alternative units (per enterprise and year).
_ALT_UNITS: dict[str, tuple[tuple[str, float], ...]] = {
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
_NAME_CHARS = (
    "华晋泰宏鑫瑞恒通源丰盛达兴昌远建新立正德佳博安中嘉隆润凯信祥亿联诚汇腾龙宇金海天科光明"
    "利和荣富晟弘益创智云峰煜骏磊鼎卓"
)
_SUFFIXES = (("有限公司", 0.7), ("股份有限公司", 0.15), ("有限责任公司", 0.15))
_SERVICES = next(n for n, c in enumerate(CLUSTERS) if c.name == "services")


@cache
def indicators() -> tuple[Indicator, ...]:
    """Return the enterprise indicators in catalog order."""
    return tuple(data.catalog().for_dataset(DATASET))


@cache
def _codes() -> tuple[str, ...]:
    return tuple(i.code for i in indicators())


@cache
def _flows() -> tuple[str, ...]:
    return tuple(i.code for i in indicators() if i.basis == "ytd")


@cache
def _factors(code: str) -> dict[str, Fraction]:
    return indicators()[_codes().index(code)].unit_factors


# ---- stable randomness, vectorized -------------------------------------------------------------


def _stream(*parts: object) -> int:
    """A 64-bit stream key from the parts' text (stable across processes and platforms)."""
    digest = sha256(":".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _C1) & _MASK
    z = ((z ^ (z >> 27)) * _C2) & _MASK
    return z ^ (z >> 31)


def uniform(stream: int, counter: int) -> float:
    """Return a number in [0, 1) for one counter of a stream (splitmix64)."""
    return (_mix((stream + counter * _GOLDEN) & _MASK) >> 11) * 2.0**-53


def uniforms(stream: int, counters: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Vectorized uniform(): the same numbers for the same counters."""
    # uint64 arithmetic wraps, which is exactly the & _MASK of the scalar version.
    z = counters.astype(np.uint64) * np.uint64(_GOLDEN) + np.uint64(stream)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_C1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_C2)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normals(stream: int, counters: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    # Box–Muller from two uniforms per counter (numpy's own normals may change between versions).
    u1 = uniforms(stream, counters * 2)
    u2 = uniforms(stream, counters * 2 + 1)
    result: npt.NDArray[np.float64] = np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2 * math.pi * u2)
    return result


# ---- the zone's population -----------------------------------------------------------------------


@dataclass(frozen=True)
class _ZoneMix:
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
def _zone_mix(seed: int, zone_code: str) -> _ZoneMix:
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
    return _ZoneMix(
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
    mix = _zone_mix(seed, zone_code)
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
def _targets(seed: int, zone_code: str, year: int) -> dict[str, tuple[float, ...]]:
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
def _coverage(seed: int, zone_code: str, year: int) -> dict[str, float]:
    r = stable_rng(seed, zone_code, DATASET, year, "coverage")
    out = {code: r.uniform(*FLOW_COVERAGE) for code in _flows()}
    out["employees"] = r.uniform(0.6, 0.85)
    out["land_area"] = r.uniform(0.5, 0.85)
    return out


@dataclass(frozen=True)
class _Block:
    """Every enterprise of one zone and month, as plain lists indexed by position."""

    lo: int
    count: int
    cluster: list[int]
    above: list[bool]
    style: list[int]
    values: dict[str, list[int | None]]  # mantissa at the code's exponent; None: not reported
    units: dict[str, list[str | None]]  # the alternative unit written on the wire, or None
    biggest: int  # position of the enterprise with the largest revenue


# Canonical exponent of each indicator's mantissa (land: hundredths of a hectare × 15 = 亩).
_EXPONENT = {"employees": 0}


def _exponent(code: str) -> int:
    return _EXPONENT.get(code, -2)


def _intensity(code: str) -> npt.NDArray[np.float64]:
    return np.array([c.intensity.get(code, 1.0) for c in CLUSTERS])


def _compute_block(seed: int, zone_code: str, year: int, month: int, scale: float) -> _Block:
    mix = _zone_mix(seed, zone_code)
    lo, hi = window(seed, zone_code, year, scale)
    idx = np.arange(lo, hi, dtype=np.int64)

    def static(name: str) -> int:
        return _stream(seed, zone_code, DATASET, name)

    def yearly(name: str) -> int:
        return _stream(seed, zone_code, DATASET, year, name)

    score = _normals(static("size"), idx)
    cdf = np.array(mix.cluster_cdf)
    cluster = np.minimum(
        np.searchsorted(cdf, uniforms(static("cluster"), idx), side="right"), len(CLUSTERS) - 1
    )
    above = score > mix.above_cut
    size = np.exp(SIZE_SIGMA * score + 0.15 * _normals(yearly("size"), idx))
    industrial = cluster != _SERVICES
    rd_share = np.array([c.rd_share for c in CLUSTERS])[cluster]
    energy_share = np.array([c.energy_share for c in CLUSTERS])[cluster]
    reports = {
        "industrial_output": industrial & (uniforms(yearly("output"), idx) >= 0.05),
        "energy_consumption": above | (uniforms(yearly("energy"), idx) < energy_share),
        # Mandatory, but most small firms spend nothing on R&D: they report 0.
        "rd_expenditure": uniforms(yearly("rd"), idx) < rd_share,
    }
    targets = _targets(seed, zone_code, year)
    coverage = _coverage(seed, zone_code, year)
    counters = idx[:, None] * 12 + np.arange(12, dtype=np.int64)[None, :]

    def weights(code: str) -> npt.NDArray[np.float64]:
        w = size * _intensity(code)[cluster] * np.exp(0.3 * _normals(yearly("w:" + code), idx))
        mask = reports.get(code)
        return w if mask is None else np.where(mask, w, 0.0)

    values: dict[str, list[int | None]] = {}
    for code in _flows():
        w = weights(code)
        total = float(w.sum())
        increments = np.diff(np.concatenate(([0.0], np.array(targets[code]))))
        noise = 1 - SEASON_NOISE + 2 * SEASON_NOISE * uniforms(yearly("season:" + code), counters)
        # The full-year cumsum, whatever the month: month m's figure is then computed exactly
        # as it is when month m+1 is asked for, and float addition of non-negative terms never
        # decreases, so the ytd series stays monotone after rounding too.
        cum = np.cumsum(noise * increments[None, :], axis=1)[:, month - 1]
        share = w / total if total > 0 else w
        mantissa = np.floor(coverage[code] * share * cum * 100 + 0.5).astype(np.int64).tolist()
        present = (
            reports[code].tolist() if code in ("industrial_output", "energy_consumption") else None
        )
        values[code] = (
            mantissa
            if present is None
            else [m if p else None for m, p in zip(mantissa, present, strict=True)]
        )
    w = weights("employees")
    drift = 1 + 0.04 * (uniforms(yearly("staff"), idx * 12 + month - 1) - 0.5)
    staff = coverage["employees"] * targets["employees"][month - 1] * w / w.sum() * drift
    values["employees"] = np.maximum(1, np.floor(staff + 0.5)).astype(np.int64).tolist()
    w = weights("land_area")
    hectares = coverage["land_area"] * targets["land_area"][0] / 15 * w / w.sum()
    hundredths = np.maximum(1, np.floor(hectares * 100 + 0.5)).astype(np.int64)
    values["land_area"] = (hundredths * 15).tolist()

    units: dict[str, list[str | None]] = {}
    for code, choices in _ALT_UNITS.items():
        u = uniforms(yearly("unit:" + code), idx).tolist()
        picked: list[str | None] = []
        for x in u:
            unit: str | None = None
            acc = 0.0
            for name, rate in choices:
                acc += rate
                if x < acc:
                    unit = name
                    break
            picked.append(unit)
        units[code] = picked
    style = np.searchsorted(np.array(_STYLE_CDF), uniforms(yearly("style"), idx), side="right")
    revenue = np.array(values["revenue"], dtype=np.int64)
    return _Block(
        lo=lo,
        count=hi - lo,
        cluster=cluster.tolist(),
        above=above.tolist(),
        style=style.tolist(),
        values=values,
        units=units,
        biggest=int(np.argmax(revenue)),
    )


class _BlockCache:
    """A small LRU of blocks: a release is paged many times, but a benchmark walks many zones,
    so only the last few stay in memory."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, str, int, int, float], _Block] = OrderedDict()

    def get(self, seed: int, zone_code: str, year: int, month: int, scale: float) -> _Block:
        key = (seed, zone_code, year, month, scale)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        block = _compute_block(seed, zone_code, year, month, scale)
        with self._lock:
            self._items[key] = block
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return block


_BLOCKS = _BlockCache(BLOCK_CACHE)


# ---- one enterprise ----------------------------------------------------------------------------


@dataclass
class EnterpriseRow:
    """One enterprise of a release before it is written out (on the wire or in a form)."""

    uscc: str
    name: str
    industry_code: str
    above_scale: bool
    style: str
    values: dict[str, Mantissa]  # canonical values of the indicators reported
    units: dict[str, str] = field(default_factory=dict)  # alternative units on the wire
    # Bad-enterprise overrides: values written as given (catalog unit), units not allowed,
    # keys the catalog does not know.
    forced: dict[str, str] = field(default_factory=dict)
    bad_units: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def canonical(self) -> dict[str, Decimal]:
        """Return indicator -> value in the catalog unit (forced values as given)."""
        out: dict[str, Decimal] = {}
        for code in _codes():
            if code in self.forced:
                out[code] = Decimal(self.forced[code])
            elif code in self.values:
                m, e = self.values[code]
                out[code] = Decimal(m).scaleb(e)
        return out


def _org_code(mix: _ZoneMix, index: int, old_style: bool) -> str:
    a6, b6, a8, b8 = mix.org
    if old_style:
        # A pre-2015 organization code: 8 digits.
        body = f"{(a8 * index + b8) % 10**8:08d}"
    else:
        # Codes assigned since 2015 start with MA.
        v = (a6 * index + b6) % 31**6
        chars = []
        for _ in range(6):
            v, rest = divmod(v, 31)
            chars.append(ALPHABET[rest])
        body = "MA" + "".join(reversed(chars))
    return body + org_check_char(body)


def _identity(seed: int, zone_code: str, index: int, cluster: int) -> tuple[str, str, str]:
    """Return (uscc, name, industry_code) of enterprise ``index`` (the same in every year)."""
    mix = _zone_mix(seed, zone_code)
    stream = _stream(seed, zone_code, DATASET, "identity")
    u = [uniform(stream, index * 8 + k) for k in range(7)]
    uscc = make_uscc(mix.region, _org_code(mix, index, u[0] < 0.25))
    group = CLUSTERS[cluster]
    prefix = "山西" if u[1] < 0.6 else mix.city
    brand = _NAME_CHARS[int(u[2] * len(_NAME_CHARS))] + _NAME_CHARS[int(u[3] * len(_NAME_CHARS))]
    word = group.name_words[int(u[4] * len(group.name_words))]
    acc, suffix = 0.0, _SUFFIXES[0][0]
    for text, rate in _SUFFIXES:
        acc += rate
        if u[5] < acc:
            suffix = text
            break
    code = group.codes[int(u[6] * len(group.codes))]
    # A few systems record the 3-digit group (中类) or only the division (大类).
    coarse = uniform(stream, index * 8 + 7)
    if coarse < 0.02:
        code = code[:3]
    elif coarse < 0.07:
        code = code[:4]
    return uscc, f"{prefix}{brand}{word}{suffix}", code


def _body_row(seed: int, zone_code: str, block: _Block, position: int) -> EnterpriseRow:
    index = block.lo + position
    uscc, name, industry = _identity(seed, zone_code, index, block.cluster[position])
    values: dict[str, Mantissa] = {}
    units: dict[str, str] = {}
    for code in _codes():
        m = block.values[code][position]
        if m is None:
            continue
        values[code] = (m, _exponent(code))
        unit = block.units[code][position] if code in block.units else None
        if unit is not None:
            units[code] = unit
    return EnterpriseRow(
        uscc=uscc,
        name=name,
        industry_code=industry,
        above_scale=block.above[position],
        style=STYLES[block.style[position]],
        values=values,
        units=units,
    )


# ---- rendering ---------------------------------------------------------------------------------


def fmt(mantissa: int, exponent: int) -> str:
    """Return m × 10^e as a plain decimal string without trailing zeros ("1234.5", "-5", "0")."""
    if exponent >= 0:
        return str(mantissa * 10**exponent)
    sign = "-" if mantissa < 0 else ""
    digits = str(abs(mantissa)).rjust(-exponent + 1, "0")
    whole, frac = digits[:exponent], digits[exponent:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def convert(value: Mantissa, factor: Fraction) -> Mantissa:
    """Express a canonical value in a unit whose factor (unit -> canonical) is given, exactly."""
    if factor == 1:
        return value
    m, e = value
    exact = Fraction(m) * Fraction(10) ** e / factor
    den = exact.denominator
    for k in range(0, 24):
        if 10**k % den == 0:
            return (exact.numerator * (10**k // den), -k)
    raise ValueError(f"{exact} has no finite decimal expansion")  # not for catalog factors


def _styled(value: Mantissa, style: str) -> Any:
    text = fmt(*value)
    if style == "number":
        return float(text) if "." in text else int(text)
    if style == "thousands":
        whole, dot, frac = text.partition(".")
        return f"{int(whole):,}{dot}{frac}"
    if style == "spaces":
        return f" {text}  "
    return text


def render(row: EnterpriseRow) -> Record:
    """Write one enterprise the way the zone's system puts it on the wire."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    for code in _codes():
        if code in row.forced:
            values[code] = row.forced[code]
            continue
        value = row.values.get(code)
        if value is None:
            continue
        if code in row.bad_units:
            values[code] = fmt(*value)
            units[code] = row.bad_units[code]
            continue
        unit = row.units.get(code)
        if unit is not None:
            value = convert(value, _factors(code)[unit])
            units[code] = unit
        values[code] = _styled(value, row.style)
    values.update(row.extra)
    record: Record = {
        "uscc": row.uscc,
        "name": row.name,
        "industry_code": row.industry_code,
        "above_scale": row.above_scale,
        "values": values,
    }
    if units:
        record["units"] = units
    return record


# ---- releases ------------------------------------------------------------------------------------


@cache
def _nudges(
    seed: int, zone_code: str, period_text: str, revision: int, count: int, biggest: int
) -> dict[int, dict[str, float]]:
    """position -> indicator -> factor: what a revision changes (a few enterprises, ≤ 1%)."""
    if revision <= 1:
        return {}
    r = stable_rng(seed, zone_code, DATASET, period_text, revision, "revision")
    flows = [c for c in _flows() if c != "industrial_output"]
    picked = r.sample(range(count), k=min(count, r.randint(1, 5)))
    out: dict[int, dict[str, float]] = {}
    # The largest firm's revenue always moves, so that a revision always changes something.
    for position in [biggest, *picked]:
        changes = out.setdefault(position, {})
        codes = ["revenue"] if position == biggest and not changes else []
        codes += r.sample(flows, k=r.randint(1, 3))
        for code in codes:
            changes[code] = 1 + r.choice((-1, 1)) * r.uniform(0.002, 0.01)
    return out


def _nudged(row: EnterpriseRow, changes: dict[str, float]) -> None:
    for code, factor in changes.items():
        value = row.values.get(code)
        # Only values of at least 10 units move: 0.2% of them is then at least 2 hundredths,
        # and tiny values would move by a larger share than the monotone ytd margin allows.
        if value is not None and value[0] >= 1000:
            row.values[code] = (math.floor(value[0] * factor + 0.5), value[1])


def _spoil(uscc: str, defect: str | None) -> str:
    if defect == "check_digit":
        return uscc[:17] + ALPHABET[(VALUES[uscc[17]] + 1) % len(ALPHABET)]
    if defect == "forbidden_letter":
        return uscc[:12] + "O" + uscc[13:]
    if defect == "short":
        return uscc[:17]
    return uscc


class EnterpriseRelease:
    """One enterprise release as served: the zone's enterprises in index order, the bad cases
    worked in; rows are generated only for the positions asked for."""

    def __init__(
        self,
        seed: int,
        zone_code: str,
        period: Period,
        revision: int,
        scale: float,
        cases: tuple[BadEnterpriseCase, ...] = (),
    ) -> None:
        """Describe the release; nothing is generated until rows are asked for."""
        self.seed, self.zone_code, self.period, self.revision = seed, zone_code, period, revision
        self.scale = scale
        lo, hi = window(seed, zone_code, period.year, scale)
        self.lo, self.hi, self.count = lo, hi, hi - lo
        positions = bad_enterprise_positions(self.count)
        self._at = {positions[c.key]: c for c in cases if c.action != "append"}
        # Appended cases first, then the conflicting copy, the verbatim repeat last.
        rank = {"append": 0, "conflict": 1, "repeat": 2}
        self._tail = sorted((c for c in cases if c.action in rank), key=lambda c: rank[c.action])
        self._positions = positions

    def __len__(self) -> int:
        """Return the number of records served (the zone's enterprises plus appended cases)."""
        return self.count + len(self._tail)

    def _block(self) -> _Block:
        return _BLOCKS.get(
            self.seed, self.zone_code, self.period.year, self.period.end_month, self.scale
        )

    def _clean_row(self, block: _Block, position: int) -> EnterpriseRow:
        row = _body_row(self.seed, self.zone_code, block, position)
        changes = _nudges(
            self.seed, self.zone_code, self.period.text, self.revision, block.count, block.biggest
        ).get(position)
        if changes:
            _nudged(row, changes)
        return row

    def _row(self, block: _Block, position: int) -> EnterpriseRow:
        row = self._clean_row(block, position)
        case = self._at.get(position)
        if case is not None and case.action == "replace":
            for code, text in case.values:
                row.forced[code] = text
                row.units.pop(code, None)  # a forced value is in the catalog unit
            for code, unit in case.units:
                row.bad_units[code] = unit
                row.units.pop(code, None)
            row.extra.update(case.extra)
        return row

    def _tail_row(self, block: _Block, n: int) -> EnterpriseRow:
        case = self._tail[n]
        if case.action == "repeat":
            return self._row(block, self._positions[case.key])
        if case.action == "conflict":
            twin = self._row(block, self._positions[case.key])
            m, e = twin.values["revenue"]
            twin.values["revenue"] = (m + max(1, m // 10), e)
            return twin
        position = (2 * n + 1) * self.count // 13
        base = self._clean_row(block, position)
        index = self.hi + 1_000_000 + n  # outside every year's window: a code no one else has
        uscc, name, _ = _identity(self.seed, self.zone_code, index, block.cluster[position])
        return replace(
            base,
            uscc=_spoil(uscc, case.uscc_defect),
            name=name,
            industry_code=case.industry_code or base.industry_code,
            values=dict(base.values),
            units=dict(base.units),
        )

    def rows(self, start: int, stop: int) -> list[EnterpriseRow]:
        """Return the rows at positions start..stop-1 (clipped to the release)."""
        stop = min(stop, len(self))
        if start >= stop:
            return []
        block = self._block()
        out = [self._row(block, p) for p in range(start, min(stop, self.count))]
        out += [self._tail_row(block, p - self.count) for p in range(max(start, self.count), stop)]
        return out

    def slice(self, start: int, stop: int) -> list[Record]:
        """Return the wire records at positions start..stop-1."""
        return [render(row) for row in self.rows(start, stop)]


class EnterpriseDataset:
    """The ``enterprise`` dataset: one record per enterprise per month (monthly only)."""

    name: str = DATASET
    frequencies: tuple[str, ...] = ("M",)

    def __init__(self, scale: float = 1.0) -> None:
        """Multiply every zone's number of enterprises by ``scale``."""
        if not scale > 0 or not math.isfinite(scale):
            raise ValueError(f"enterprise_scale must be a positive number, got {scale!r}")
        self.scale = scale

    def count(self, seed: int, zone_code: str, year: int) -> int:
        """Return how many enterprises a zone has in a year."""
        return enterprise_count(seed, zone_code, year, self.scale)

    def release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> EnterpriseRelease:
        """Return the release as served, with the BAD_ENTERPRISES under ``bad_enterprises``."""
        cases = BAD_ENTERPRISES if faults.bad_enterprises else ()
        return EnterpriseRelease(seed, zone_code, period, revision, self.scale, cases)

    def form_release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> EnterpriseRelease:
        """Return the release as a QY1 form carries it (only the cases a form can express)."""
        cases = tuple(c for c in BAD_ENTERPRISES if c.in_form) if faults.bad_enterprises else ()
        return EnterpriseRelease(seed, zone_code, period, revision, self.scale, cases)

    def records(self, seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
        """Return every record of a release as a well-behaved zone serves it."""
        release = EnterpriseRelease(seed, zone_code, period, revision, self.scale)
        return release.slice(0, len(release))

    def canonical_values(
        self, seed: int, zone_code: str, period: Period, revision: int
    ) -> dict[str, Any]:
        """Return uscc -> indicator -> Decimal in the catalog unit (reported indicators only)."""
        release = EnterpriseRelease(seed, zone_code, period, revision, self.scale)
        return {row.uscc: row.canonical() for row in release.rows(0, len(release))}
