"""Deterministic data of the ``zone`` dataset (园区综合统计), and how each zone's system writes it.

Everything here is a pure function of (seed, zone, period, revision). Results are cached because
one release is asked for many times (listing, paging, ground truth) and never changes.

Two layers:

- the *values*: canonical figures (catalog units, rounded to the precision published) that obey
  the relations the province audits: ytd series never decrease within a year, green electricity
  ≤ electricity, industrial land ≤ developed ≤ planned area, leading-industry revenue (Q) ≤ the
  revenue of the quarter's last month (M), catalog bounds, integers where the catalog says so;
- the *wire layout*: how a zone writes each value (JSON number or string, thousands separators,
  padding spaces, an alternative unit, status P/E/A/omitted, optional indicators absent or not
  reported). The layout of an indicator is the same in every revision of a release, so a
  revision differs from the previous one only in the values it changes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from functools import cache
from typing import Any

from zonesim.bad_data import apply_audit_breaks, apply_bad_records
from zonesim.faults import Faults
from zonesim.model import ListRelease, Release
from zonesim.record import Record
from zonesim.rng import stable_rng, stable_unit
from zonestats.catalog import Catalog, Indicator, load_catalog
from zonestats.periods import Period, parse_period

DATASET = "zone"
# Levels are anchored on a fixed year rather than on start_year, so that a value never depends on
# how many years a simulator happens to serve.
BASE_YEAR = 2024
# Weight of each calendar month in a year's total: the Spring Festival dents Jan–Feb, December
# carries the year-end push. The smallest month still holds > 5% of the year, which keeps ytd
# series increasing even after a revision nudges one month by up to 1%.
SEASON = (0.75, 0.70, 0.95, 0.98, 1.00, 1.05, 0.97, 0.97, 1.02, 1.03, 1.08, 1.30)
# How many zones get an industrial land share under 30% of the developed area.
LOW_LAND_ZONES = 3

# Series that grow on their own each year: the annual total of a ytd series, or the year-end
# level of a stock. The other indicators are derived from these through ratios.
_GROWTH: dict[str, tuple[float, float]] = {
    "revenue": (-0.05, 0.15),
    "fixed_asset_investment": (-0.05, 0.15),
    "tax_revenue": (-0.05, 0.15),
    "profit_total": (-0.05, 0.15),
    "foreign_capital_used": (-0.05, 0.15),
    "import_export": (-0.05, 0.15),
    "energy_consumption": (-0.05, 0.15),
    "electricity_consumption": (-0.05, 0.15),
    "rd_expenditure": (-0.05, 0.15),
    "cod_emissions": (-0.08, 0.05),
    "above_scale_enterprises": (-0.03, 0.08),
    "employees": (-0.03, 0.06),
    "high_tech_enterprises": (0.0, 0.15),
    "specialized_smes": (0.0, 0.2),
    "rd_platforms": (0.0, 0.1),
}
_MU_PER_HECTARE = 15
_HECTARE = Decimal("0.01")


@cache
def catalog() -> Catalog:
    """Return the shipped catalog (loaded once per process)."""
    return load_catalog()


@cache
def indicators(frequency: str) -> tuple[Indicator, ...]:
    """Return the zone indicators of one frequency in catalog order."""
    return tuple(i for i in catalog().for_dataset(DATASET) if i.frequency == frequency)


def _indicator(code: str) -> Indicator:
    ind = catalog().indicator(DATASET, code)
    if ind is None:
        raise KeyError(code)
    return ind


def _dec(value: float, places: int) -> Decimal:
    return Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _area(hectares: Decimal) -> Decimal:
    # Areas are whole hundredths of a hectare, so that 公顷, 平方公里 and 平方米 renderings of a
    # value in 亩 are exact decimals (1 公顷 = 15 亩 is not a power of ten).
    return hectares.quantize(_HECTARE, rounding=ROUND_HALF_UP) * _MU_PER_HECTARE


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


@dataclass(frozen=True)
class _Profile:
    """The character of one zone: its size in BASE_YEAR and its structural ratios."""

    levels: dict[str, float]
    ratios: dict[str, float]
    planned_ha: Decimal
    developed_share: float
    land_share: float


@cache
def _low_land_zones(seed: int) -> frozenset[str]:
    ranked = sorted(catalog().zones, key=lambda z: stable_unit(seed, z, "land"))
    return frozenset(ranked[:LOW_LAND_ZONES])


@cache
def _profile(seed: int, zone_code: str) -> _Profile:
    r = stable_rng(seed, zone_code, "profile")
    # Log-uniform so that small zones are as common as large ones; with growth this keeps annual
    # revenue within roughly 300,000–8,000,000 万元 (3–80 billion yuan).
    revenue = math.exp(r.uniform(math.log(5e5), math.log(5e6)))
    energy = revenue * r.uniform(0.15, 0.8)
    high_tech = 15 + revenue / r.uniform(15_000, 40_000)
    levels = {
        "revenue": revenue,
        "fixed_asset_investment": revenue * r.uniform(0.12, 0.45),
        "tax_revenue": revenue * r.uniform(0.025, 0.06),
        "profit_total": revenue * r.uniform(0.03, 0.09),
        "foreign_capital_used": revenue * r.uniform(0.001, 0.006),
        "import_export": revenue * r.uniform(0.03, 0.25),
        "energy_consumption": energy,
        "electricity_consumption": revenue * r.uniform(0.03, 0.12),
        "rd_expenditure": revenue * r.uniform(0.012, 0.03),
        "cod_emissions": energy * r.uniform(0.0008, 0.003),
        "above_scale_enterprises": 25 + revenue / r.uniform(18_000, 30_000),
        "employees": revenue / r.uniform(70, 160),
        "high_tech_enterprises": high_tech,
        "specialized_smes": high_tech * r.uniform(0.3, 0.7),
        "rd_platforms": 5 + revenue / r.uniform(80_000, 200_000),
    }
    ratios = {
        "industrial_output": r.uniform(0.55, 0.9),
        "green_electricity": r.uniform(0.05, 0.3),
        "industrial_value_added": r.uniform(0.2, 0.32),
        "co2_emissions": r.uniform(2.2, 2.7),
        "leading_industry_revenue": r.uniform(0.45, 0.75),
    }
    # Inside 10,000–150,000 亩 with a margin for the 1% a revision may move it.
    planned_mu = _clip(revenue / r.uniform(35, 70), 10_200, 148_000)
    developed_share = r.uniform(0.45, 0.85)
    low, high = (0.15, 0.28) if zone_code in _low_land_zones(seed) else (0.32, 0.7)
    land_share = r.uniform(low, high)
    return _Profile(
        levels=levels,
        ratios=ratios,
        planned_ha=Decimal(planned_mu / _MU_PER_HECTARE).quantize(_HECTARE),
        developed_share=developed_share,
        land_share=land_share,
    )


@cache
def _growth(seed: int, zone_code: str, year: int) -> dict[str, float]:
    r = stable_rng(seed, zone_code, year, "growth")
    return {code: r.uniform(low, high) for code, (low, high) in _GROWTH.items()}


@cache
def _levels(seed: int, zone_code: str, year: int) -> dict[str, float]:
    """Annual totals (ytd series) or year-end levels (stocks) of the driving series of a year."""
    if year == BASE_YEAR:
        return dict(_profile(seed, zone_code).levels)
    if year > BASE_YEAR:
        prev = _levels(seed, zone_code, year - 1)
        growth = _growth(seed, zone_code, year)
        return {code: v * (1 + growth[code]) for code, v in prev.items()}
    following = _levels(seed, zone_code, year + 1)
    growth = _growth(seed, zone_code, year + 1)
    return {code: v / (1 + growth[code]) for code, v in following.items()}


@cache
def _year_ratios(seed: int, zone_code: str, year: int) -> dict[str, float]:
    p = _profile(seed, zone_code)
    r = stable_rng(seed, zone_code, year, "ratios")
    since_base = year - BASE_YEAR
    return {
        "industrial_output": p.ratios["industrial_output"] * r.uniform(0.97, 1.03),
        # Green power gains share year after year; capped far below 1 so that a revision can
        # never push it above electricity consumption.
        "green_electricity": _clip(
            p.ratios["green_electricity"] + 0.015 * since_base + r.uniform(-0.01, 0.01), 0.02, 0.45
        ),
        "industrial_value_added": p.ratios["industrial_value_added"] * r.uniform(0.97, 1.03),
        "co2_emissions": p.ratios["co2_emissions"] * r.uniform(0.98, 1.02),
        "leading_industry_revenue": min(
            0.8, p.ratios["leading_industry_revenue"] * r.uniform(0.97, 1.03)
        ),
        "va_growth": r.uniform(3.0, 10.0),
        "developed_share": _clip(p.developed_share + 0.012 * since_base, 0.3, 0.93),
        "land_share": p.land_share * r.uniform(0.98, 1.02),
    }


@cache
def _cumulative(seed: int, zone_code: str, year: int, code: str) -> tuple[float, ...]:
    """Share of the year's total reached at the end of each month (12 entries, last is 1)."""
    r = stable_rng(seed, zone_code, year, code, "season")
    weights = [s * r.uniform(0.92, 1.08) for s in SEASON]
    total = sum(weights)
    shares: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w
        shares.append(acc / total)
    shares[-1] = 1.0
    return tuple(shares)


def _interp(seed: int, zone_code: str, year: int, code: str, month: int) -> float:
    # A stock moves from last year's year-end level to this year's through the months.
    prev = _levels(seed, zone_code, year - 1)[code]
    cur = _levels(seed, zone_code, year)[code]
    return prev + (cur - prev) * month / 12


@cache
def _month(seed: int, zone_code: str, year: int, month: int) -> dict[str, Decimal]:
    """Monthly indicators at the end of a month (ytd from January), revision 1."""
    levels = _levels(seed, zone_code, year)
    ratios = _year_ratios(seed, zone_code, year)
    r = stable_rng(seed, zone_code, year, month, "month")

    def ytd(code: str) -> Decimal:
        return _dec(levels[code] * _cumulative(seed, zone_code, year, code)[month - 1], 1)

    revenue = ytd("revenue")
    electricity = ytd("electricity_consumption")
    enterprises = _interp(seed, zone_code, year, "above_scale_enterprises", month)
    return {
        "revenue": revenue,
        # Derived series use one ratio for the whole year, so they inherit the monotonicity of
        # their base series (rounding half-up is monotone too).
        "industrial_output": _dec(float(revenue) * ratios["industrial_output"], 1),
        "industrial_va_growth": _dec(_clip(ratios["va_growth"] + r.uniform(-1.2, 1.2), 2, 12), 1),
        "fixed_asset_investment": ytd("fixed_asset_investment"),
        "tax_revenue": ytd("tax_revenue"),
        "profit_total": ytd("profit_total"),
        "foreign_capital_used": ytd("foreign_capital_used"),
        "import_export": ytd("import_export"),
        "energy_consumption": ytd("energy_consumption"),
        "electricity_consumption": electricity,
        "green_electricity": _dec(float(electricity) * ratios["green_electricity"], 1),
        "above_scale_enterprises": _dec(max(1.0, enterprises + r.uniform(-1.5, 1.5)), 0),
    }


@cache
def _quarter(seed: int, zone_code: str, year: int, quarter: int) -> dict[str, Decimal]:
    """Quarterly indicators (ytd to the quarter's end), revision 1."""
    month = 3 * quarter
    m = _month(seed, zone_code, year, month)
    levels = _levels(seed, zone_code, year)
    ratios = _year_ratios(seed, zone_code, year)
    r = stable_rng(seed, zone_code, year, quarter, "quarter")
    rd_share = _cumulative(seed, zone_code, year, "rd_expenditure")[month - 1]
    employees = _interp(seed, zone_code, year, "employees", month) * r.uniform(0.99, 1.01)
    return {
        "industrial_value_added": _dec(
            float(m["industrial_output"]) * ratios["industrial_value_added"], 1
        ),
        "rd_expenditure": _dec(levels["rd_expenditure"] * rd_share, 1),
        "employees": _dec(employees, 0),
        "co2_emissions": _dec(float(m["energy_consumption"]) * ratios["co2_emissions"], 1),
        # Derived from the revenue of the quarter's last month, with a share ≤ 0.8.
        "leading_industry_revenue": _dec(
            float(m["revenue"]) * ratios["leading_industry_revenue"], 1
        ),
    }


@cache
def _annual(seed: int, zone_code: str, year: int) -> dict[str, Decimal]:
    """Annual indicators (year-end state, or the year's total), revision 1."""
    p = _profile(seed, zone_code)
    levels = _levels(seed, zone_code, year)
    ratios = _year_ratios(seed, zone_code, year)
    developed_ha = (p.planned_ha * Decimal(ratios["developed_share"])).quantize(
        _HECTARE, rounding=ROUND_HALF_UP
    )
    land_ha = (developed_ha * Decimal(ratios["land_share"])).quantize(
        _HECTARE, rounding=ROUND_HALF_UP
    )
    return {
        "planned_area": _area(p.planned_ha),
        "developed_area": _area(developed_ha),
        "industrial_land_area": _area(land_ha),
        "high_tech_enterprises": _dec(levels["high_tech_enterprises"], 0),
        "specialized_smes": _dec(levels["specialized_smes"], 0),
        "rd_platforms": _dec(levels["rd_platforms"], 0),
        "cod_emissions": _dec(levels["cod_emissions"], 1),
    }


def base_values(seed: int, zone_code: str, period: Period) -> dict[str, Decimal]:
    """Return revision 1 of every indicator of a period, in canonical units."""
    if period.frequency == "M":
        return _month(seed, zone_code, period.year, period.end_month)
    if period.frequency == "Q":
        return _quarter(seed, zone_code, period.year, period.end_month // 3)
    return _annual(seed, zone_code, period.year)


def _nudge(code: str, value: Decimal, r: random.Random) -> Decimal:
    """Change one value slightly, as a revision does."""
    ind = _indicator(code)
    sign = r.choice((-1, 1))
    if ind.integer:
        return max(Decimal(0), value + sign * r.randint(1, 3))
    if ind.basis == "ytd_rate":
        delta = _dec(r.uniform(0.1, 0.3), 1)
        # Stay within the published 2–12% band: move the other way at its edge.
        moved = value + sign * delta
        return moved if 2 <= moved <= 12 else value - sign * delta
    # At most 1% (never compounding across revisions: each revision starts from revision 1),
    # well under the smallest monthly increment of a ytd series.
    factor = Decimal(1 + sign * r.uniform(0.002, 0.01))
    if ind.unit == "亩":
        return _area(value / _MU_PER_HECTARE * factor)
    changed = (value * factor).quantize(value, rounding=ROUND_HALF_UP)
    if changed == value:
        # Small values may not move at the published precision: move them by one unit of it.
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # finite by construction
        changed = value + sign * Decimal(1).scaleb(exponent)
    return max(Decimal(0), changed)


def _reconcile(values: dict[str, Decimal]) -> None:
    # A revision must not break the relations the province audits within one release.
    pairs = (
        ("green_electricity", "electricity_consumption"),
        ("developed_area", "planned_area"),
        ("industrial_land_area", "developed_area"),
    )
    for small, big in pairs:
        if small in values and big in values and values[small] > values[big]:
            values[small] = values[big]


@cache
def release_values(seed: int, zone_code: str, period: Period, revision: int) -> dict[str, Decimal]:
    """Return every indicator of a release at a revision: revision 1 with a few values nudged."""
    base = base_values(seed, zone_code, period)
    if revision <= 1:
        return base
    r = stable_rng(seed, zone_code, DATASET, period.text, revision, "revision")
    codes = sorted(base)
    values = dict(base)
    for code in r.sample(codes, k=r.randint(1, min(3, len(codes)))):
        values[code] = _nudge(code, base[code], r)
    _reconcile(values)
    return values


@dataclass(frozen=True)
class _Wire:
    """How a zone writes one indicator in one release (the same in every revision)."""

    presence: str  # "value", "null" (not reported) or "absent" (no record at all)
    blank: str | None  # a not-reported value: None (JSON null), "-" or ""
    status: str | None  # None: the key is left out (= A)
    unit: str
    style: str  # "number", "plain", "thousands" or "spaces"
    pad: tuple[str, str]


_PADS = ((" ", " "), ("", "  "), ("  ", ""), (" ", ""))


@cache
def _layout(seed: int, zone_code: str, period: Period) -> dict[str, _Wire]:
    r = stable_rng(seed, zone_code, DATASET, period.text, "wire")
    layout: dict[str, _Wire] = {}
    for ind in indicators(period.frequency):
        # A fixed number of draws per indicator keeps every indicator's layout independent of
        # the branches taken for the others.
        u = [r.random() for _ in range(7)]
        optional_gap = not ind.mandatory and u[0] < 0.11
        presence = ("absent" if u[0] < 0.06 else "null") if optional_gap else "value"
        blank = None if u[1] < 0.7 else ("-" if u[1] < 0.85 else "")
        status = "P" if u[2] < 0.08 else "E" if u[2] < 0.11 else None if u[2] < 0.45 else "A"
        alt = [unit for unit in ind.unit_factors if unit != ind.unit]
        unit = alt[int(u[4] * len(alt))] if alt and u[3] < 0.2 else ind.unit
        style = (
            "number"
            if u[5] < 0.35
            else "plain"
            if u[5] < 0.55
            else "thousands"
            if u[5] < 0.85
            else "spaces"
        )
        layout[ind.code] = _Wire(presence, blank, status, unit, style, _PADS[int(u[6] * 4)])
    return layout


def to_unit(value: Decimal, factor: Fraction) -> Decimal:
    """Express a canonical value in a unit whose factor (unit → canonical) is given.

    Exact whenever the quotient is a finite decimal, which holds for every catalog factor given
    how values are quantized; anything else is rounded to 6 decimals.
    """
    if factor == 1:
        return value
    exact = Fraction(value) / factor
    with localcontext() as ctx:
        ctx.prec = 50
        shown = Decimal(exact.numerator) / Decimal(exact.denominator)
    if Fraction(shown) != exact:
        shown = shown.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    return shown.normalize()


def _write(value: Decimal, wire: _Wire) -> Any:
    if wire.style == "number":
        return int(value) if value == value.to_integral_value() else float(value)
    if wire.style == "thousands":
        return format(value, ",f")
    text = format(value, "f")
    return wire.pad[0] + text + wire.pad[1] if wire.style == "spaces" else text


def _render(ind: Indicator, wire: _Wire, value: Decimal | None, revision: int) -> Record:
    if value is None:
        return {"indicator": ind.code, "value": wire.blank, "unit": ind.unit, "status": "M"}
    shown = to_unit(value, ind.unit_factors[wire.unit])
    record: Record = {"indicator": ind.code, "value": _write(shown, wire), "unit": wire.unit}
    # A revision is when provisional figures become final.
    status = "A" if wire.status == "P" and revision > 1 else wire.status
    if status is not None:
        record["status"] = status
    return record


@cache
def _records(seed: int, zone_code: str, period: Period, revision: int) -> tuple[Record, ...]:
    values = release_values(seed, zone_code, period, revision)
    layout = _layout(seed, zone_code, period)
    out: list[Record] = []
    for ind in indicators(period.frequency):
        wire = layout[ind.code]
        if wire.presence == "absent":
            continue
        value = values[ind.code] if wire.presence == "value" else None
        out.append(_render(ind, wire, value, revision))
    return tuple(out)


def zone_records(seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
    """Return the wire records of a release, in catalog order (fresh copies: safe to mutate)."""
    return [dict(r) for r in _records(seed, zone_code, period, revision)]


def zone_canonical_values(
    seed: int, zone_code: str, period: Period, revision: int
) -> dict[str, Decimal | None]:
    """Return indicator → canonical value of a release (None: not reported; absent: no record)."""
    values = release_values(seed, zone_code, period, revision)
    layout = _layout(seed, zone_code, period)
    return {
        ind.code: values[ind.code] if layout[ind.code].presence == "value" else None
        for ind in indicators(period.frequency)
        if layout[ind.code].presence != "absent"
    }


class ZoneDataset:
    """The ``zone`` dataset: one value per indicator and period for the whole zone."""

    name: str = DATASET
    frequencies: tuple[str, ...] = ("M", "Q", "A")

    def records(self, seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
        """Return the records of one release as a well-behaved zone serves them."""
        return zone_records(seed, zone_code, period, revision)

    def release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> Release:
        """Return the release as served, with the BAD_RECORDS cases under ``bad_records``."""
        out = zone_records(seed, zone_code, period, revision)
        units = {i.code: i.unit for i in catalog().for_dataset(DATASET)}
        if faults.audit_breaks:

            def monthly(code: str, month: int) -> Decimal | None:
                p = parse_period(f"{period.year}-{month:02d}", "M")
                return zone_canonical_values(seed, zone_code, p, 1).get(code)

            out = apply_audit_breaks(
                period.frequency,
                period.year,
                period.end_month,
                out,
                zone_canonical_values(seed, zone_code, period, revision),
                units,
                monthly,
            )
        if faults.bad_records and period.text in (faults.bad_records_periods or (period.text,)):
            out = apply_bad_records(DATASET, period.frequency, out, units)
        return ListRelease(out)

    def canonical_values(
        self, seed: int, zone_code: str, period: Period, revision: int
    ) -> dict[str, Any]:
        """Return indicator → canonical value (Decimal, or None when not reported)."""
        return dict(zone_canonical_values(seed, zone_code, period, revision))
