"""The evaluation method as data: pillars, metrics, weights, grades and subsidy rates (method.toml)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from zonestats.catalog import Catalog, shipped_catalog
from zonestats.declared import checked_table

#: The pillars of item 20; the evaluation mart's score_<code> columns are a public contract,
#: so a method may weigh them differently but not add, drop or rename one.
PILLARS = ("mujun", "jiju", "zengliang", "jiantan")
KINDS = ("ratio", "growth", "reported")
BETTER = ("higher", "lower")

_TOP_KEYS = {
    "method_version", "pillars", "metrics", "inputs", "grading", "transition", "rd_subsidy",
}  # fmt: skip
_PILLAR_KEYS = {"code", "name_zh"}
_METRIC_KEYS = {
    "code", "pillar", "name_zh", "unit", "kind", "numerator", "denominator", "multiplier",
    "indicator", "better", "weight",
}  # fmt: skip
_GRADING_KEYS = {"bands", "otherwise"}
_BAND_KEYS = {"grade", "min"}
_TRANSITION_KEYS = {"numerator", "denominator", "below_pct"}
_INPUTS_KEYS = {"year_end"}
FREQUENCIES = ("M", "Q", "A")
_RD_KEYS = {"indicator", "threshold", "stock_rate_pct", "increment_rate_pct"}


class MethodError(ValueError):
    """A method.toml that cannot be used; the message names the offending key."""


@dataclass(frozen=True)
class Pillar:
    """One pillar of the evaluation."""

    code: str
    name_zh: str


@dataclass(frozen=True)
class Metric:
    """One metric: how it is computed from zone indicators, which way is better, its weight."""

    code: str
    pillar: str
    name_zh: str
    unit: str
    kind: str  # ratio | growth | reported
    better: str  # higher | lower
    weight: float
    numerator: str | None = None  # ratio
    denominator: str | None = None  # ratio
    multiplier: float = 1.0  # ratio: 100 for a percentage
    indicator: str | None = None  # growth, reported


@dataclass(frozen=True)
class GradeBand:
    """A composite at or above ``min`` earns ``grade`` (bands are tried from the top)."""

    grade: str
    min: float


@dataclass(frozen=True)
class Grading:
    """The grade bands, highest first, and the grade below the last band."""

    bands: tuple[GradeBand, ...]
    otherwise: str


@dataclass(frozen=True)
class Transition:
    """Item 10: numerator / denominator × 100 below ``below_pct`` makes a transition candidate."""

    numerator: str
    denominator: str
    below_pct: float


@dataclass(frozen=True)
class RdSubsidy:
    """Item 7: the provincial R&D subsidy parameters (amounts in 万元, rates in percent)."""

    indicator: str
    threshold: float
    stock_rate_pct: float
    increment_rate_pct: float


@dataclass(frozen=True)
class Inputs:
    """What must be loaded before a year is graded: the year-end period of each frequency listed.

    ``year_end``: frequencies (M → Y-12, Q → Y-Q4, A → Y) of which at least one zone must have
    loaded the year's last period; a year without them is not evaluated.
    """

    year_end: tuple[str, ...]


@dataclass(frozen=True)
class Method:
    """The whole evaluation method in force, recorded with each result by its version."""

    version: str
    pillars: tuple[Pillar, ...]
    metrics: tuple[Metric, ...]
    inputs: Inputs
    grading: Grading
    transition: Transition
    rd_subsidy: RdSubsidy

    def metrics_of(self, pillar: str) -> tuple[Metric, ...]:
        """The metrics of one pillar, in method order."""
        return tuple(m for m in self.metrics if m.pillar == pillar)


def _table(value: Any, where: str, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    return checked_table(value, where, allowed, required, MethodError)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MethodError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _number(value: Any, where: str, minimum: float | None = None) -> float:
    # bool is an int in Python; `weight = true` is a typo, not 1
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MethodError(f"{where}: expected a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise MethodError(f"{where}: {value!r} is below {minimum:g}")
    return float(value)


def _indicator(value: Any, where: str, catalog: Catalog, dataset: str = "zone") -> str:
    code = _text(value, where)
    if catalog.indicator(dataset, code) is None:
        raise MethodError(f"{where}: {code!r} is not an indicator of the {dataset} catalog")
    return code


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise MethodError(f"{where}: expected a non-empty array")
    return value


def _pillars(doc: Mapping[str, Any]) -> tuple[Pillar, ...]:
    pillars: list[Pillar] = []
    for n, raw in enumerate(_list(doc["pillars"], "pillars")):
        where = f"pillars[{n}]"
        decl = _table(raw, where, _PILLAR_KEYS, _PILLAR_KEYS)
        code = _text(decl["code"], f"{where}.code")
        if code not in PILLARS:
            raise MethodError(
                f"{where}.code: unknown pillar {code!r} (known: {', '.join(PILLARS)})"
            )
        if any(p.code == code for p in pillars):
            raise MethodError(f"{where}.code: pillar {code!r} is declared twice")
        pillars.append(Pillar(code=code, name_zh=_text(decl["name_zh"], f"{where}.name_zh")))
    absent = [p for p in PILLARS if p not in {q.code for q in pillars}]
    if absent:
        raise MethodError(f"pillars: pillar {absent[0]!r} is not declared")
    return tuple(pillars)


def _metric(n: int, raw: Any, pillars: set[str], catalog: Catalog) -> Metric:
    where = f"metrics[{n}]"
    decl = _table(
        raw, where, _METRIC_KEYS, {"code", "pillar", "name_zh", "unit", "kind", "better", "weight"}
    )
    code = _text(decl["code"], f"{where}.code")
    where = f"metrics[{n}] ({code})"
    pillar = _text(decl["pillar"], f"{where}.pillar")
    if pillar not in pillars:
        raise MethodError(f"{where}.pillar: unknown pillar {pillar!r}")
    better = decl["better"]
    if better not in BETTER:
        raise MethodError(f"{where}.better: {better!r} is not higher or lower")
    kind = decl["kind"]
    if kind not in KINDS:
        raise MethodError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    # each kind reads exactly its own keys, so a half-edited metric cannot pass silently
    wanted = {"numerator", "denominator"} if kind == "ratio" else {"indicator"}
    optional = {"multiplier"} if kind == "ratio" else set()
    for key in sorted({"numerator", "denominator", "multiplier", "indicator"} - wanted - optional):
        if key in decl:
            raise MethodError(f"{where}.{key}: not used by kind {kind!r}")
    for key in sorted(wanted):
        if key not in decl:
            raise MethodError(f"{where}.{key}: missing (kind {kind!r} needs it)")
    return Metric(
        code=code,
        pillar=pillar,
        name_zh=_text(decl["name_zh"], f"{where}.name_zh"),
        unit=_text(decl["unit"], f"{where}.unit"),
        kind=kind,
        better=better,
        weight=_number(decl["weight"], f"{where}.weight", minimum=0),
        numerator=(
            _indicator(decl["numerator"], f"{where}.numerator", catalog)
            if kind == "ratio"
            else None
        ),
        denominator=(
            _indicator(decl["denominator"], f"{where}.denominator", catalog)
            if kind == "ratio"
            else None
        ),
        multiplier=_number(decl.get("multiplier", 1), f"{where}.multiplier"),
        indicator=(
            _indicator(decl["indicator"], f"{where}.indicator", catalog)
            if kind != "ratio"
            else None
        ),
    )


def _metrics(
    doc: Mapping[str, Any], pillars: tuple[Pillar, ...], catalog: Catalog
) -> tuple[Metric, ...]:
    codes = {p.code for p in pillars}
    metrics: list[Metric] = []
    for n, raw in enumerate(_list(doc["metrics"], "metrics")):
        metric = _metric(n, raw, codes, catalog)
        if any(m.code == metric.code for m in metrics):
            raise MethodError(f"metrics[{n}].code: metric {metric.code!r} is declared twice")
        metrics.append(metric)
    total = sum(m.weight for m in metrics)
    if not math.isclose(total, 100.0, abs_tol=1e-9):
        raise MethodError(f"metrics.weight: the weights sum to {total:g}, not 100")
    for p in pillars:
        # a pillar's score is a weighted mean; without weight it would divide by zero
        if sum(m.weight for m in metrics if m.pillar == p.code) <= 0:
            raise MethodError(f"pillars ({p.code}): no metric with a positive weight")
    return tuple(metrics)


def _grading(doc: Mapping[str, Any]) -> Grading:
    decl = _table(doc["grading"], "grading", _GRADING_KEYS, _GRADING_KEYS)
    bands: list[GradeBand] = []
    for n, raw in enumerate(_list(decl["bands"], "grading.bands")):
        where = f"grading.bands[{n}]"
        band = _table(raw, where, _BAND_KEYS, _BAND_KEYS)
        grade = _text(band["grade"], f"{where}.grade")
        low = _number(band["min"], f"{where}.min")
        if bands and low >= bands[-1].min:
            raise MethodError(
                f"{where}.min: {low:g} must be below the band above ({bands[-1].min:g})"
            )
        if any(b.grade == grade for b in bands):
            raise MethodError(f"{where}.grade: grade {grade!r} is declared twice")
        bands.append(GradeBand(grade=grade, min=low))
    otherwise = _text(decl["otherwise"], "grading.otherwise")
    if any(b.grade == otherwise for b in bands):
        raise MethodError(f"grading.otherwise: grade {otherwise!r} is also a band")
    return Grading(bands=tuple(bands), otherwise=otherwise)


def _transition(doc: Mapping[str, Any], catalog: Catalog) -> Transition:
    decl = _table(doc["transition"], "transition", _TRANSITION_KEYS, _TRANSITION_KEYS)
    return Transition(
        numerator=_indicator(decl["numerator"], "transition.numerator", catalog),
        denominator=_indicator(decl["denominator"], "transition.denominator", catalog),
        below_pct=_number(decl["below_pct"], "transition.below_pct", minimum=0),
    )


def _inputs(doc: Mapping[str, Any]) -> Inputs:
    decl = _table(doc["inputs"], "inputs", _INPUTS_KEYS, _INPUTS_KEYS)
    year_end = _list(decl["year_end"], "inputs.year_end")
    for n, f in enumerate(year_end):
        if f not in FREQUENCIES:
            raise MethodError(f"inputs.year_end[{n}]: expected one of {', '.join(FREQUENCIES)}")
    return Inputs(year_end=tuple(year_end))


def _rd_subsidy(doc: Mapping[str, Any], catalog: Catalog) -> RdSubsidy:
    decl = _table(doc["rd_subsidy"], "rd_subsidy", _RD_KEYS, _RD_KEYS)
    return RdSubsidy(
        indicator=_indicator(decl["indicator"], "rd_subsidy.indicator", catalog, "enterprise"),
        threshold=_number(decl["threshold"], "rd_subsidy.threshold", minimum=0),
        stock_rate_pct=_number(decl["stock_rate_pct"], "rd_subsidy.stock_rate_pct", minimum=0),
        increment_rate_pct=_number(
            decl["increment_rate_pct"], "rd_subsidy.increment_rate_pct", minimum=0
        ),
    )


def parse_method(doc: Mapping[str, Any], catalog: Catalog) -> Method:
    """Build and validate a Method from a parsed method.toml document."""
    _table(doc, "method", _TOP_KEYS, _TOP_KEYS)
    pillars = _pillars(doc)
    return Method(
        version=_text(doc["method_version"], "method_version"),
        pillars=pillars,
        metrics=_metrics(doc, pillars, catalog),
        inputs=_inputs(doc),
        grading=_grading(doc),
        transition=_transition(doc, catalog),
        rd_subsidy=_rd_subsidy(doc, catalog),
    )


def load_method(path: Path | None = None, catalog: Catalog | None = None) -> Method:
    """Load and validate method.toml from a path, by default the copy shipped in the package."""
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("marts").joinpath("method.toml").read_text(encoding="utf-8")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(f"method.toml: {exc}") from None
    return parse_method(doc, catalog if catalog is not None else shipped_catalog())
