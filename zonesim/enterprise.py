"""Deterministic data of the ``enterprise`` dataset (企业月报), generated page by page.

Population: a zone's enterprises are numbered by an integer index. The enterprises of a year are
the window [lo, hi) of indices: newcomers take the next numbers at the start of a year and the
lowest numbers leave, so an enterprise keeps its credit code, name and industry from year to
year, and a position in a release maps straight to an index. Every draw about enterprise i comes
from a counter-based hash of (seed, zone, stream, i[, month]) (splitmix64, vectorized with
numpy), so nothing depends on which page is asked for first, and a release of 50,000
enterprises is a few numpy passes (cached per zone and month) plus one dict per record served.

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

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cache
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt
import orjson

from zonesim import bytecols
from zonesim.enterprise_identity import (
    CODEPOINTS,
    EncodedVocabulary,
    Identities,
    IdentityParts,
    identities,
    identities_of,
    identity_parts,
    name_tables,
    zone_vocabulary,
)
from zonesim.enterprise_population import (
    DATASET,
    SEASON_NOISE,
    SIZE_SIGMA,
    code_exponents,
    codes,
    enterprise_count,
    factors,
    flow_codes,
    window,
    zone_coverage,
    zone_mix,
    zone_targets,
)
from zonesim.enterprise_population import (
    exponent as code_exponent,
)
from zonesim.faults import BAD_ENTERPRISES, BadEnterpriseCase, Faults, bad_enterprise_positions
from zonesim.figures import Mantissa, convert, fmt, scaling
from zonesim.industry import CLUSTERS
from zonesim.record import Record
from zonesim.rng import normals, stable_rng, stream_key, uniforms
from zonesim.uscc import ALPHABET, VALUES
from zonestats.periods import Period

# How many enterprise blocks (one zone-month each) stay cached: at most BLOCK_CACHE, and no more
# than BLOCK_CACHE_ENTERPRISES enterprises in all (a 50,000-enterprise block holds ~30 MB).
BLOCK_CACHE = 16
BLOCK_CACHE_ENTERPRISES = 200_000
# The years the blocks are cut from (all twelve months of a zone's enterprises, ~800 bytes an
# enterprise): one per zone walking its releases in order, and no more than ~50 MB.
YEAR_CACHE = 12
YEAR_CACHE_ENTERPRISES = 60_000
# Pages are written from a vectorized wire view built this many positions at a time.
WIRE_CHUNK = 4096

K = TypeVar("K")
V = TypeVar("V")


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
_SERVICES = next(n for n, c in enumerate(CLUSTERS) if c.name == "services")


# ---- stable randomness, vectorized -------------------------------------------------------------


# ---- the zone's population -----------------------------------------------------------------------


@dataclass
class _Block:
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
    alt: dict[str, npt.NDArray[np.int64]]  # index into _ALT_UNITS[code], -1: catalog unit
    biggest: int  # position of the enterprise with the largest revenue

    # chunk number -> its wire view, built when a page first needs it
    _wire: dict[int, _Wire] = field(default_factory=dict, repr=False)

    def wire(self, chunk: int) -> _Wire:
        """What the zone writes for positions chunk × WIRE_CHUNK onwards (a race at worst
        builds a chunk twice, identically)."""
        built = self._wire.get(chunk)
        if built is None:
            built = self._wire[chunk] = _wire(self, chunk * WIRE_CHUNK)
        return built


@dataclass(frozen=True)
class _Wire:
    """The wire view of a run of positions: each record's JSON text as a page carries it
    (UTF-8, json.dumps(render(row), ensure_ascii=False) of the clean revision-1 row)."""

    records: list[bytes]


def _json(record: Record) -> bytes:
    """A record's JSON as the server writes it (json.dumps defaults, ensure_ascii=False)."""
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


# The text around a value, per wire style (STYLES order): a JSON number, a plain string,
# a string with thousands separators, a string with spaces around.
_OPEN = bytecols.encoded(("", '"', '"', '" '))
_CLOSE = bytecols.encoded(("", '"', '"', '  "'))
_NUMBER, _THOUSANDS = STYLES.index("number"), STYLES.index("thousands")
# json prints a float in the shortest text that reads back as the same double: that is the
# decimal itself when it has at most 15 significant digits and is at least 1e-4 (smaller ones
# go to exponent notation). Other values are written by render(), one record at a time.
_FLOAT_DIGITS = 15
_FLOAT_SMALLEST_PLACES = 4


def _wire_value(
    rows: bytecols.Rows,
    code: str,
    m: npt.NDArray[np.int64],
    alt: npt.NDArray[np.int64] | None,
    style: npt.NDArray[np.int64],
    present: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.bool_]:
    """Append render()'s value of one indicator to each row; return the rows it cannot write
    exactly (render() writes those)."""
    mantissa = m.copy()
    places = np.full(len(m), -code_exponent(code), dtype=np.int64)
    slow = m < 0
    if alt is not None:
        for option, (unit, _) in enumerate(_ALT_UNITS[code]):
            at = np.flatnonzero(alt == option)
            if len(at) == 0:
                continue
            multiplier, divisor, shift = scaling(factors(code)[unit])
            value = m[at]
            overflow = value > (10**bytecols.MAX_DIGITS - 1) // multiplier
            scaled = np.where(overflow, 0, value) * multiplier
            slow[at] |= overflow | (scaled % divisor != 0)
            mantissa[at] = scaled // divisor
            places[at] += shift
    slow |= mantissa >= 10**bytecols.MAX_DIGITS
    if slow.any():
        mantissa = np.where(slow, 0, mantissa)
    default = -code_exponent(code)
    if alt is None or not (alt >= 0).any():
        # one scalar divisor: numpy divides by a scalar far faster than elementwise
        whole, frac = np.divmod(mantissa, 10**default)
    else:
        whole, frac = np.divmod(mantissa, 10**places)
    # json writes a number-style decimal as fmt() does only within the limits above
    check = np.flatnonzero((style == _NUMBER) & (frac > 0))
    if len(check):
        w, f, p = whole[check], frac[check], places[check]
        kept = p - bytecols.trailing_zeros(f, int(p.max()))
        tiny = (w == 0) & (f * 10**_FLOAT_SMALLEST_PLACES < 10**p)
        long = (w > 0) & (bytecols.digit_count(w) + kept > _FLOAT_DIGITS)
        slow[check] |= tiny | long
    rows.choice(_OPEN, style, where=present)
    rows.digits(whole, where=present, commas=style == _THOUSANDS)
    rows.fraction(frac, places, where=present)
    rows.choice(_CLOSE, style, where=present)
    return slow


def _wire(block: _Block, start: int) -> _Wire:
    """The wire view of positions start..start + WIRE_CHUNK - 1: the fields of every record
    side by side in numpy (bytecols), the few it cannot write exactly through render()."""
    stop = min(start + WIRE_CHUNK, block.count)
    run = slice(start, stop)
    indices = np.arange(block.lo + start, block.lo + stop, dtype=np.int64)
    parts = identity_parts(block.seed, block.zone_code, indices, block.cluster[run])
    names = name_tables(block.seed, block.zone_code)
    style = block.style[run]
    rows = bytecols.Rows(stop - start)
    rows.text('{"uscc": "')
    rows.raw(_ASCII[parts.uscc])
    rows.text('", "name": "')
    rows.choice(names.prefix, parts.prefix)
    rows.choice(names.chars, parts.first)
    rows.choice(names.chars, parts.second)
    rows.choice(names.words, parts.word)
    rows.choice(names.suffixes, parts.suffix)
    rows.text('", "industry_code": "')
    rows.choice(names.codes, parts.code)
    rows.text('", "above_scale": ')
    rows.choice(_BOOLEANS, np.asarray(block.above[run], dtype=np.int64))
    rows.text(', "values": {')
    slow = np.zeros(stop - start, dtype=np.bool_)
    for n, code in enumerate(codes()):
        present = block.present[code][run] if code in block.present else None
        # the first indicator is mandatory: no record starts its values with a separator
        assert n > 0 or present is None
        rows.text(f'{", " if n else ""}"{code}": ', where=present)
        alt = block.alt[code][run] if code in block.alt else None
        slow |= _wire_value(rows, code, block.mantissa[code][run], alt, style, present)
    # "units": the alternative units of the values reported, in catalog order; a quarter of
    # the records have any, so they are written for those rows only, then appended
    entries: list[tuple[tuple[bytes, ...], npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = []
    listed = np.zeros(stop - start, dtype=np.bool_)
    for code in codes():
        if code not in block.alt:
            continue
        alt = block.alt[code][run]
        chosen = alt >= 0
        if code in block.present:
            chosen &= block.present[code][run]
        options = [f'"{code}": "{unit}"' for unit, _ in _ALT_UNITS[code]]
        table = bytecols.encoded([*options, *(", " + o for o in options)])
        entries.append((table, np.where(listed, alt + len(options), alt), chosen))
        listed |= chosen
    rows.text("}}", where=~listed)
    records = rows.join()
    with_units = np.flatnonzero(listed)
    units = bytecols.Rows(len(with_units))
    units.text('}, "units": {')
    for table, index, chosen in entries:
        units.choice(table, index[with_units], where=chosen[with_units])
    units.text("}}")
    for n, text in zip(with_units.tolist(), units.join(), strict=True):
        records[n] += text
    if slow.any():
        ids = identities_of(parts, zone_vocabulary(block.seed, block.zone_code))
        for n in np.flatnonzero(slow).tolist():
            records[n] = _json(render(_body_row(block, start + n, ids, n)))
    return _Wire(records)


def _intensity(code: str) -> npt.NDArray[np.float64]:
    return np.array([c.intensity.get(code, 1.0) for c in CLUSTERS])


def _alt_choices(u: npt.NDArray[np.float64], code: str) -> npt.NDArray[np.int64]:
    cdf = np.cumsum([rate for _, rate in _ALT_UNITS[code]])
    picked = np.searchsorted(cdf, u, side="right")
    return np.where(picked < len(cdf), picked, -1).astype(np.int64)


@dataclass(frozen=True)
class _Year:
    """Every enterprise of one zone and year: what a month's _Block takes its columns from
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
        alt={c: _alt_choices(uniforms(yearly("unit:" + c), idx), c) for c in _ALT_UNITS},
    )


def _compute_block(seed: int, zone_code: str, year: int, month: int, scale: float) -> _Block:
    whole = _YEARS.get((seed, zone_code, year, scale))
    mantissa = {c: np.ascontiguousarray(m[:, month - 1]) for c, m in whole.mantissa.items()}
    return _Block(
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
        self._months: _Cache[tuple[int, str, int, int, float], _Block] = _Cache(
            lambda key: _compute_block(*key), size, enterprises
        )

    def get(self, seed: int, zone_code: str, year: int, month: int, scale: float) -> _Block:
        """Return the block of one zone and month."""
        return self._months.get((seed, zone_code, year, month, scale))


_YEARS: _Cache[tuple[int, str, int, float], _Year] = _Cache(
    lambda key: _compute_year(*key), YEAR_CACHE, YEAR_CACHE_ENTERPRISES
)
_BLOCKS = _BlockCache(BLOCK_CACHE, BLOCK_CACHE_ENTERPRISES)


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
        for code in codes():
            if code in self.forced:
                out[code] = Decimal(self.forced[code])
            elif code in self.values:
                m, e = self.values[code]
                out[code] = Decimal(m).scaleb(e)
        return out


_ASCII = CODEPOINTS.astype(np.uint8)
_BOOLEANS = (b"false", b"true")


def _body_row(block: _Block, position: int, ids: Identities, n: int) -> EnterpriseRow:
    """The row of the enterprise at ``position``, whose identity is entry n of ids."""
    values: dict[str, Mantissa] = {}
    units: dict[str, str] = {}
    for code, exponent in code_exponents():
        present = block.present.get(code)
        if present is not None and not present[position]:
            continue
        values[code] = (int(block.mantissa[code][position]), exponent)
        alt = block.alt.get(code)
        if alt is not None and alt[position] >= 0:
            units[code] = _ALT_UNITS[code][alt[position]][0]
    return EnterpriseRow(
        uscc=ids.uscc[n],
        name=ids.name[n],
        industry_code=ids.industry_code[n],
        above_scale=block.above[position],
        style=STYLES[int(block.style[position])],
        values=values,
        units=units,
    )


# ---- rendering ---------------------------------------------------------------------------------


def _styled(value: Mantissa, style: str) -> Any:
    text = fmt(*value)
    if style == "plain":
        return text
    if style == "number":
        # A float prints back as the shortest text that round-trips: the same decimal.
        return float(text) if "." in text else int(text)
    if style == "thousands":
        whole, dot, frac = text.partition(".")
        return f"{int(whole):,}{dot}{frac}"
    return f" {text}  "


def render(row: EnterpriseRow) -> Record:
    """Write one enterprise the way the zone's system puts it on the wire."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    for code in codes():
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
            value = convert(value, factors(code)[unit])
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
    flows = [c for c in flow_codes() if c != "industrial_output"]
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


@dataclass(frozen=True)
class EnterpriseColumns:
    """The enterprises of a release without bad cases as numpy columns, in release order: what
    a QY1 form lists, for writing it in bulk (bytecols) rather than row by row."""

    count: int
    uscc: npt.NDArray[np.uint8]  # count × 18, ASCII
    above: npt.NDArray[np.bool_]
    mantissa: dict[
        str, npt.NDArray[np.int64]
    ]  # canonical, at code_exponent(code), revision applied
    present: dict[str, npt.NDArray[np.bool_]]  # optional indicators only
    parts: IdentityParts
    names: EncodedVocabulary

    def name(self, rows: bytecols.Rows) -> None:
        """Append each enterprise's name (UTF-8) to the rows."""
        for table, index in (
            (self.names.prefix, self.parts.prefix),
            (self.names.chars, self.parts.first),
            (self.names.chars, self.parts.second),
            (self.names.words, self.parts.word),
            (self.names.suffixes, self.parts.suffix),
        ):
            rows.choice(table, index)

    def industry_code(self, rows: bytecols.Rows) -> None:
        """Append each enterprise's industry code to the rows."""
        rows.choice(self.names.codes, self.parts.code)


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

    def _ids(self, block: _Block, positions: range) -> Identities:
        indices = np.arange(block.lo + positions.start, block.lo + positions.stop, dtype=np.int64)
        return identities(
            self.seed, self.zone_code, indices, block.cluster[positions.start : positions.stop]
        )

    def _nudges(self, block: _Block) -> dict[int, dict[str, float]]:
        return _nudges(
            self.seed, self.zone_code, self.period.text, self.revision, block.count, block.biggest
        )

    def _clean_rows(self, block: _Block, positions: range) -> list[EnterpriseRow]:
        nudges = self._nudges(block)
        ids = self._ids(block, positions)
        rows = []
        for n, position in enumerate(positions):
            row = _body_row(block, position, ids, n)
            changes = nudges.get(position)
            if changes:
                _nudged(row, changes)
            rows.append(row)
        return rows

    def _worked(self, row: EnterpriseRow, position: int) -> EnterpriseRow:
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

    def _row(self, block: _Block, position: int) -> EnterpriseRow:
        (row,) = self._clean_rows(block, range(position, position + 1))
        return self._worked(row, position)

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
        (base,) = self._clean_rows(block, range(position, position + 1))
        # An index outside every year's window: a credit code no other enterprise has.
        index = np.array([self.hi + 1_000_000 + n], dtype=np.int64)
        ids = identities(self.seed, self.zone_code, index, block.cluster[position : position + 1])
        return replace(
            base,
            uscc=_spoil(ids.uscc[0], case.uscc_defect),
            name=ids.name[0],
            industry_code=case.industry_code or base.industry_code,
        )

    def rows(self, start: int, stop: int) -> list[EnterpriseRow]:
        """Return the rows at positions start..stop-1 (clipped to the release)."""
        start, stop = max(0, start), min(stop, len(self))
        if start >= stop:
            return []
        block = self._block()
        body = range(start, min(stop, self.count))
        out = [
            self._worked(row, p) for row, p in zip(self._clean_rows(block, body), body, strict=True)
        ]
        out += [self._tail_row(block, p - self.count) for p in range(max(start, self.count), stop)]
        return out

    def columns(self) -> EnterpriseColumns:
        """Return every enterprise of the release as columns; only for a release without bad
        cases (those only rows() and render() write)."""
        if self._at or self._tail:
            raise ValueError("a release with bad enterprises has no columns")
        block = self._block()
        mantissa = dict(block.mantissa)
        for position, changes in self._nudges(block).items():
            for code, factor in changes.items():
                present = block.present.get(code)
                m = int(block.mantissa[code][position])
                # as _nudged() moves a row: the same Python arithmetic, so the same integers
                if (present is None or present[position]) and m >= 1000:
                    if mantissa[code] is block.mantissa[code]:
                        mantissa[code] = block.mantissa[code].copy()
                    mantissa[code][position] = math.floor(m * factor + 0.5)
        indices = np.arange(block.lo, block.lo + block.count, dtype=np.int64)
        parts = identity_parts(self.seed, self.zone_code, indices, block.cluster)
        return EnterpriseColumns(
            count=block.count,
            uscc=_ASCII[parts.uscc],
            above=np.asarray(block.above, dtype=np.bool_),
            mantissa=mantissa,
            present=block.present,
            parts=parts,
            names=name_tables(self.seed, self.zone_code),
        )

    def page_json(self, start: int, stop: int) -> bytes:
        """Return the JSON array (UTF-8) of the wire records at positions start..stop-1 (clipped
        to the release), exactly as json.dumps(self.slice(start, stop), ensure_ascii=False)."""
        start, stop = max(0, start), min(stop, len(self))
        if start >= stop:
            return b"[]"
        block = self._block()
        body = range(start, min(stop, self.count))
        special = set(self._nudges(block)) | set(self._at)
        out: list[bytes] = []
        # The records come from the block's cached wire view; the few enterprises a revision
        # or a bad case changes go through EnterpriseRow and render() instead.
        for chunk in range(body.start // WIRE_CHUNK, -(-body.stop // WIRE_CHUNK)):
            base = chunk * WIRE_CHUNK
            run = range(max(body.start, base), min(body.stop, base + WIRE_CHUNK))
            records = block.wire(chunk).records[run.start - base : run.stop - base]
            hits = [p for p in special if p in run]
            if hits:
                records = list(records)
                for position in hits:
                    records[position - run.start] = _json(render(self._row(block, position)))
            out += records
        out += [
            _json(render(self._tail_row(block, p - self.count)))
            for p in range(max(start, self.count), stop)
        ]
        return b"[" + b", ".join(out) + b"]"

    def slice(self, start: int, stop: int) -> list[Record]:
        """Return the wire records at positions start..stop-1 (clipped to the release)."""
        # Read back from the very bytes a page serves: the Python API and HTTP cannot differ.
        # (orjson reads the same values as json, floats to the same double, several times faster)
        records: list[Record] = orjson.loads(self.page_json(start, stop))
        return records


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
