"""The zone registry and the indicator catalog, read from the data files shipped in the package."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from zonestats.calendar import CalendarError, ReportingCalendar, load_calendar

DATASETS = ("zone", "enterprise")
FREQUENCIES = ("M", "Q", "A")
BASES = ("ytd", "stock", "ytd_rate")


class CatalogError(ValueError):
    """The shipped registry or catalog files contradict themselves."""


@dataclass(frozen=True)
class Zone:
    """One demonstration zone of the registry."""

    zone_code: str
    name_zh: str
    name_en: str
    city_zh: str
    city_admin_code: str
    adapter: str


@dataclass(frozen=True)
class Indicator:
    """One indicator of the catalog, with its canonical unit and the units it may arrive in."""

    dataset: str
    code: str
    name_zh: str
    name_en: str
    unit: str
    frequency: str
    basis: str
    min: float | None
    max: float | None
    mandatory: bool
    integer: bool
    # unit -> factor to the canonical unit; exact fractions so that 元 -> 万元 divides by 10000
    # instead of multiplying by an inexact 0.0001.
    unit_factors: dict[str, Fraction] = field(default_factory=dict)
    # the zones' figures add up to the province's (amounts, counts); a rate or a ratio does not
    additive: bool = False


@dataclass(frozen=True)
class DatasetLookup:
    """The catalog of one dataset as plain mappings, for fast vectorized ``Series.map`` joins."""

    by_indicator: dict[str, dict[str, Any]]  # column -> {indicator code -> value}
    factor_num: dict[str, int]  # "code\x1funit" -> numerator of the factor to the canonical unit
    factor_den: dict[str, int]


@dataclass(frozen=True)
class Catalog:
    """The zones and indicators the province knows, loaded once and passed around."""

    zones: dict[str, Zone]
    indicators: dict[tuple[str, str], Indicator]
    #: when each release is due (data/calendar.toml); the shipped one unless another is given
    calendar: ReportingCalendar = field(default_factory=load_calendar)

    def indicator(self, dataset: str, code: str) -> Indicator | None:
        """Return the indicator of a dataset by code, or None when the catalog does not know it."""
        return self.indicators.get((dataset, code))

    def for_dataset(self, dataset: str) -> list[Indicator]:
        """Return the indicators of one dataset in catalog order."""
        return [ind for (ds, _), ind in self.indicators.items() if ds == dataset]

    def frequencies(self, dataset: str) -> tuple[str, ...]:
        """The frequencies a dataset is released at (its indicators'), in M, Q, A order."""
        used = {i.frequency for i in self.for_dataset(dataset)}
        return tuple(f for f in FREQUENCIES if f in used)

    def mandatory(self, dataset: str, frequency: str) -> list[str]:
        """Return the codes that a release of this dataset and frequency must contain."""
        return [
            i.code for i in self.for_dataset(dataset) if i.frequency == frequency and i.mandatory
        ]

    def lookup(self, dataset: str) -> DatasetLookup:
        """Mappings of one dataset's catalog (computed once per dataset)."""
        cache: dict[str, DatasetLookup] = self.__dict__.setdefault("_lookups", {})
        if dataset not in cache:
            inds = self.for_dataset(dataset)
            columns: dict[str, dict[str, Any]] = {
                "canonical_unit": {i.code: i.unit for i in inds},
                "ind_frequency": {i.code: i.frequency for i in inds},
                "basis": {i.code: i.basis for i in inds},
                "min": {i.code: i.min for i in inds},
                "max": {i.code: i.max for i in inds},
                "integer": {i.code: i.integer for i in inds},
                "mandatory": {i.code: i.mandatory for i in inds},
                "allowed_units": {i.code: "、".join(i.unit_factors) for i in inds},
            }
            keys = {f"{i.code}\x1f{u}": f for i in inds for u, f in i.unit_factors.items()}
            cache[dataset] = DatasetLookup(
                by_indicator=columns,
                factor_num={k: f.numerator for k, f in keys.items()},
                factor_den={k: f.denominator for k, f in keys.items()},
            )
        return cache[dataset]

    @cached_property
    def units_frame(self) -> pd.DataFrame:
        """One row per (dataset, indicator, accepted unit) with the exact factor as num/den."""
        rows = [
            (ind.dataset, ind.code, unit, f.numerator, f.denominator)
            for ind in self.indicators.values()
            for unit, f in ind.unit_factors.items()
        ]
        return pd.DataFrame(
            rows, columns=["dataset", "indicator", "unit", "factor_num", "factor_den"]
        ).astype({"factor_num": "int64", "factor_den": "int64"})

    @cached_property
    def indicators_frame(self) -> pd.DataFrame:
        """The catalog as a frame keyed by (dataset, indicator), for vectorized joins."""
        return pd.DataFrame(
            [
                {
                    "dataset": i.dataset,
                    "indicator": i.code,
                    "canonical_unit": i.unit,
                    "ind_frequency": i.frequency,
                    "basis": i.basis,
                    "min": i.min,
                    "max": i.max,
                    "integer": i.integer,
                    "mandatory": i.mandatory,
                }
                for i in self.indicators.values()
            ]
        ).astype({"min": "float64", "max": "float64"})


def _parse_factor(text: str, where: str) -> Fraction:
    try:
        factor = Fraction(text.strip())
    except (ValueError, ZeroDivisionError) as exc:
        raise CatalogError(f"{where}: factor {text!r} is not a number") from exc
    if factor <= 0:
        raise CatalogError(f"{where}: factor {text!r} must be positive")
    return factor


def _parse_alt_units(text: str, where: str) -> dict[str, Fraction]:
    units: dict[str, Fraction] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        unit, sep, factor = part.partition("=")
        if not sep or not unit.strip():
            raise CatalogError(f"{where}: alt_units entry {part!r} is not unit=factor")
        units[unit.strip()] = _parse_factor(factor, where)
    return units


def _optional_float(text: str, where: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise CatalogError(f"{where}: bound {text!r} is not a number") from None


def _flag(text: str, where: str) -> bool:
    if text not in ("Y", "N"):
        raise CatalogError(f"{where}: expected Y or N, got {text!r}")
    return text == "Y"


def parse_indicators(rows: Iterable[dict[str, str]]) -> dict[tuple[str, str], Indicator]:
    """Build the indicator catalog from rows shaped like indicators.csv."""
    indicators: dict[tuple[str, str], Indicator] = {}
    for n, row in enumerate(rows, start=2):
        where = f"indicators.csv line {n} ({row.get('code')})"
        if row["dataset"] not in DATASETS:
            raise CatalogError(f"{where}: unknown dataset {row['dataset']!r}")
        if row["frequency"] not in FREQUENCIES:
            raise CatalogError(f"{where}: unknown frequency {row['frequency']!r}")
        if row["basis"] not in BASES:
            raise CatalogError(f"{where}: unknown basis {row['basis']!r}")
        alt = _parse_alt_units(row["alt_units"], where)
        if row["unit"] in alt:
            raise CatalogError(f"{where}: alt_units redefines the canonical unit {row['unit']}")
        factors = {row["unit"]: Fraction(1), **alt}
        ind = Indicator(
            dataset=row["dataset"],
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            unit=row["unit"],
            frequency=row["frequency"],
            basis=row["basis"],
            min=_optional_float(row["min"], where),
            max=_optional_float(row["max"], where),
            mandatory=_flag(row["mandatory"], where),
            integer=_flag(row["integer"], where),
            unit_factors=factors,
            additive=_flag(row.get("additive") or "N", where),
        )
        key = (ind.dataset, ind.code)
        if key in indicators:
            raise CatalogError(f"{where}: {key} is listed twice")
        indicators[key] = ind
    return indicators


def parse_zones(rows: Iterable[dict[str, str]]) -> dict[str, Zone]:
    """Build the zone registry from rows shaped like zones.csv."""
    zones: dict[str, Zone] = {}
    for row in rows:
        zone = Zone(**{k: row[k].strip() for k in Zone.__dataclass_fields__})
        if zone.zone_code in zones:
            raise CatalogError(f"zones.csv: {zone.zone_code} is listed twice")
        zones[zone.zone_code] = zone
    return zones


def _read_csv(directory: Path | None, name: str) -> list[dict[str, str]]:
    if directory is not None:
        text = (directory / name).read_text(encoding="utf-8")
    else:
        text = resources.files("zonestats").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load zones.csv, indicators.csv and calendar.toml from a directory, by default the package's.

    A directory without calendar.toml keeps the shipped calendar.
    """
    indicators = parse_indicators(_read_csv(directory, "indicators.csv"))
    own = directory / "calendar.toml" if directory is not None else None
    try:
        # every frequency an indicator is released at needs a deadline
        calendar = load_calendar(
            own if own is not None and own.is_file() else None,
            sorted({i.frequency for i in indicators.values()}),
        )
    except CalendarError as exc:
        raise CatalogError(f"calendar.toml: {exc}") from None
    return Catalog(
        zones=parse_zones(_read_csv(directory, "zones.csv")),
        indicators=indicators,
        calendar=calendar,
    )


@lru_cache(maxsize=1)
def shipped_catalog() -> Catalog:
    """The zone registry and indicator catalog shipped in the package, read once per process."""
    return load_catalog()
