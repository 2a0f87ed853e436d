"""The rules that look at a release as a whole: release, cross-period and cross-dataset levels.

They run after the record rules, over the records those let through, and compare with what is
already loaded (the current revisions). Each check is registered under its rule id, like the
record checks, and returns its findings as a list of fields: ``record_no`` (0 when the finding is
about the release rather than one record), ``record_key`` and the fields its message names. A zone
release holds one record per indicator and a zone's loaded observations around it are a few
hundred, so these run in plain Python; the enterprise dataset is compared through its
per-indicator sums, accumulated batch by batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from validation.checks import Frame
from validation.engine import quarantine_frame
from validation.registry import Rule, RuleSet
from warehouse.staging import canonical_text
from zonestats.catalog import Catalog
from zonestats.periods import parse_period

# the columns of the loaded observations a release is compared with (rows of obs_zone_current)
HISTORY_COLUMNS = ["indicator_code", "period", "frequency", "value", "status"]
FINDING_KEYS = ["record_no", "record_key"]


@dataclass(frozen=True)
class ReleaseRow:
    """One good record of a zone release, as the release checks see it."""

    record_no: int
    record_key: str
    indicator: str
    value: float  # in the canonical unit; NaN when not reported
    status: str
    canonical_unit: str
    basis: str | None
    min: float  # NaN: no minimum
    ind_frequency: str | None
    record: Any  # as received: its canonical JSON is the raw of a finding about it


class Loaded(NamedTuple):
    """One loaded observation of the zone (a row of obs_zone_current)."""

    indicator_code: str
    period: str
    frequency: str
    value: float  # NaN: no figure
    status: str


def release_rows(frame: Frame) -> list[ReleaseRow]:
    """The rows of a frame of good zone records (tasks.normalize) as the release checks read them."""
    cols = [
        frame[c].tolist()
        for c in (
            "record_no", "record_key", "indicator", "value", "status", "canonical_unit",
            "basis", "min", "ind_frequency", "records",
        )
    ]  # fmt: skip
    return [ReleaseRow(*r) for r in zip(*cols, strict=True)]


def loaded_rows(history: pd.DataFrame | Sequence[Loaded] | None) -> list[Loaded]:
    """The zone's loaded observations (HISTORY_COLUMNS) as Loaded rows."""
    if history is None:
        return []
    if not isinstance(history, pd.DataFrame):
        return list(history)
    if history.empty:
        return []
    code, period, frequency, status = (
        history[c].tolist() for c in ("indicator_code", "period", "frequency", "status")
    )
    values = history["value"].to_numpy(dtype=np.float64, na_value=np.nan).tolist()
    return list(map(Loaded._make, zip(code, period, frequency, values, status, strict=True)))


@dataclass(frozen=True)
class ReleaseContext:
    """A release's good records and what is loaded around it, as the release checks see them."""

    zone: str
    dataset: str
    period: str
    frequency: str
    revision: int
    catalog: Catalog
    # zone dataset: one row per good record; enterprise dataset: none
    rows: Sequence[ReleaseRow]
    # indicator codes whose records an error held out of this release
    held_out: frozenset[str]
    # the zone dataset's current observations of this zone (other periods, and for an enterprise
    # release the same period)
    history: Sequence[Loaded]
    # enterprise dataset: the sum of each indicator over the release's good enterprises
    enterprise_sums: Mapping[str, float] = field(default_factory=dict)

    @property
    def year(self) -> int:
        """The calendar year of the release."""
        return int(self.period[:4])


Finding = dict[str, Any]
ReleaseCheck = Callable[[ReleaseContext, Rule], list[Finding]]
RELEASE_CHECKS: dict[str, ReleaseCheck] = {}


def release_check(rule_id: str) -> Callable[[ReleaseCheck], ReleaseCheck]:
    """Register the check of a release-, cross-period- or cross-dataset-level rule."""

    def register(fn: ReleaseCheck) -> ReleaseCheck:
        RELEASE_CHECKS[rule_id] = fn
        return fn

    return register


def _num(x: Any) -> str:
    """A figure as people read it: up to 4 decimals, no trailing zeros."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{float(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _reported(rows: Iterable[ReleaseRow]) -> list[ReleaseRow]:
    return [r for r in rows if not math.isnan(r.value) and r.status != "M"]


def _loaded(history: Iterable[Loaded], period: str) -> list[Loaded]:
    return [
        h for h in history if h.period == period and not math.isnan(h.value) and h.status != "M"
    ]


def _by_code(obs: Iterable[Loaded]) -> dict[str, float]:
    # one current observation per indicator and period; were there two, the last would win
    return {h.indicator_code: h.value for h in obs}


# --- release level ---------------------------------------------------------------------------


@release_check("mandatory_missing")
def mandatory_missing(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """Every mandatory indicator of the release's frequency is there and was not held out."""
    # a figure reported as missing (status M) leaves a mandatory indicator without a figure too
    present = {r.indicator for r in _reported(ctx.rows)}
    declared_m = {r.indicator for r in ctx.rows} - present
    out = []
    for code in ctx.catalog.mandatory("zone", ctx.frequency):
        if code in present:
            continue
        if code in ctx.held_out:
            how = ("未通过审核被剔除", "held out by an error")
        elif code in declared_m:
            how = ("报送为缺失值（M）", "reported as missing (status M)")
        else:
            how = ("缺报", "absent")
        out.append(
            {"record_no": 0, "record_key": code, "indicator": code, "how": how[0], "how_en": how[1]}
        )
    return out


def _part_whole(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    part, whole = str(rule.params["part"]), str(rule.params["whole"])
    rows = _reported(ctx.rows)
    parts = [r for r in rows if r.indicator == part]
    if not parts:
        return []
    if rule.params.get("whole_period", "same") == "same":
        wholes = [r.value for r in rows if r.indicator == whole]
        whole_period = ctx.period
    else:  # the monthly cumulative at the quarter's last month, as loaded
        end = parse_period(ctx.period, ctx.frequency).end_month
        whole_period = f"{ctx.year}-{end:02d}"
        wholes = [h.value for h in _loaded(ctx.history, whole_period) if h.indicator_code == whole]
    if not wholes:
        return []  # nothing to compare with: the rule cannot fail
    whole_value = float(wholes[0])
    return [
        {
            "record_no": r.record_no,
            "record_key": r.record_key,
            "indicator": part,
            "value": _num(r.value),
            "whole_value": _num(whole_value),
            "whole_period": whole_period,
            "unit": r.canonical_unit,
        }
        for r in parts
        if r.value > whole_value * (1 + 1e-9) + 1e-9
    ]


for _rule_id in (
    "green_exceeds_electricity",
    "industrial_land_exceeds_developed",
    "developed_exceeds_planned",
    "leading_exceeds_revenue",
):
    release_check(_rule_id)(_part_whole)


# --- cross-period -----------------------------------------------------------------------------


def _same_frequency_year(ctx: ReleaseContext) -> list[Loaded]:
    year = f"{ctx.year}"
    return [
        h
        for h in ctx.history
        if h.frequency == ctx.frequency
        and h.period.startswith(year)
        and not math.isnan(h.value)
        and h.status != "M"
        and h.period != ctx.period
    ]


@release_check("ytd_decreased")
def ytd_never_decreases(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """A non-negative cumulative is at least the year's earlier ones and at most its later ones."""
    rows = [r for r in _reported(ctx.rows) if r.basis == "ytd" and r.min >= 0]
    h = _same_frequency_year(ctx)
    if not rows or not h:
        return []
    # the nearest loaded neighbour on each side is the one the cumulative must respect
    earlier: dict[str, Loaded] = {}
    later: dict[str, Loaded] = {}
    for o in h:
        if o.period < ctx.period:
            e = earlier.get(o.indicator_code)
            if e is None or o.period >= e.period:
                earlier[o.indicator_code] = o
        elif o.period > ctx.period:
            lt = later.get(o.indicator_code)
            if lt is None or o.period < lt.period:
                later[o.indicator_code] = o
    out = []
    for r in rows:
        tol = 1e-9 * abs(r.value) + 1e-9
        e, lt = earlier.get(r.indicator), later.get(r.indicator)
        below = e is not None and r.value < e.value - tol
        above = lt is not None and r.value > lt.value + tol
        if not (below or above):
            continue
        other = e if below else lt
        assert other is not None
        out.append(
            {
                "record_no": r.record_no,
                "record_key": r.record_key,
                "indicator": r.indicator,
                "value": _num(r.value),
                "other_period": other.period,
                "other_value": _num(other.value),
            }
        )
    return out


@release_check("quarter_month_mismatch")
def quarter_matches_month(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """A monthly cumulative repeated in a quarterly or annual release matches the month's."""
    if ctx.frequency == "M":
        return []
    rows = [r for r in _reported(ctx.rows) if r.ind_frequency == "M" and r.basis == "ytd"]
    end = parse_period(ctx.period, ctx.frequency).end_month
    month = f"{ctx.year}-{end:02d}"
    months = _by_code(h for h in _loaded(ctx.history, month) if h.frequency == "M")
    tolerance = float(rule.params.get("tolerance_pct", 1.0))
    out = []
    for r in rows:
        other = months.get(r.indicator)
        if other is None or math.isnan(other):
            continue
        diff = abs(r.value - other) / abs(other) * 100 if other != 0 else math.nan
        if not (diff > tolerance or (other == 0 and r.value != 0)):
            continue
        out.append(
            {
                "record_no": r.record_no,
                "record_key": r.record_key,
                "indicator": r.indicator,
                "value": _num(r.value),
                "other_period": month,
                "other_value": _num(other),
                "diff_pct": _num(diff),
                "tolerance_pct": _num(tolerance),
            }
        )
    return out


@release_check("yoy_out_of_range")
def yoy_in_range(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """A level grows on the same period a year earlier within the plausible band."""
    rows = [r for r in _reported(ctx.rows) if r.basis in ("ytd", "stock")]
    base_period = str(ctx.year - 1) + ctx.period[4:]
    bases = _by_code(h for h in _loaded(ctx.history, base_period) if h.frequency == ctx.frequency)
    lo, hi = float(rule.params.get("min_pct", -50)), float(rule.params.get("max_pct", 100))
    out = []
    for r in rows:
        base = bases.get(r.indicator)
        if base is None or not base > 0:  # no base, or a zero or negative one: no growth
            continue
        growth = r.value / base * 100 - 100
        if not (growth < lo or growth > hi):
            continue
        out.append(
            {
                "record_no": r.record_no,
                "record_key": r.record_key,
                "indicator": r.indicator,
                "value": _num(r.value),
                "other_period": base_period,
                "other_value": _num(base),
                "growth_pct": f"{growth:.1f}",
                "min_pct": _num(lo),
                "max_pct": _num(hi),
            }
        )
    return out


# --- cross-dataset ---------------------------------------------------------------------------


def _sums_vs_totals(ctx: ReleaseContext, rule: Rule) -> list[tuple[str, float, float]]:
    codes = [str(c) for c in rule.params.get("indicators", [])]
    totals = _by_code(h for h in _loaded(ctx.history, ctx.period) if h.indicator_code in codes)
    out = []
    for code in codes:
        total = totals.get(code, math.nan)
        if total > 0:  # no zone total loaded yet: nothing to reconcile with
            out.append((code, float(ctx.enterprise_sums.get(code, 0.0)), total))
    return out


@release_check("enterprise_sum_exceeds_zone")
def enterprises_within_zone(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """The enterprises' sum does not exceed the zone total by more than the tolerance."""
    tolerance = float(rule.params.get("tolerance_pct", 0.5))
    out = []
    for code, total_sum, zone_total in _sums_vs_totals(ctx, rule):
        excess = (total_sum / zone_total - 1) * 100
        if excess > tolerance:
            out.append(
                {
                    "record_no": 0,
                    "record_key": code,
                    "indicator": code,
                    "enterprise_sum": _num(total_sum),
                    "zone_total": _num(zone_total),
                    "excess_pct": f"{excess:.2f}",
                    "tolerance_pct": _num(tolerance),
                }
            )
    return out


@release_check("enterprise_coverage_low")
def enterprises_cover_zone(ctx: ReleaseContext, rule: Rule) -> list[Finding]:
    """The enterprises reported cover at least the expected share of the zone total."""
    least = float(rule.params.get("min_coverage_pct", 50))
    out = []
    for code, total_sum, zone_total in _sums_vs_totals(ctx, rule):
        coverage = total_sum / zone_total * 100
        if coverage < least:
            out.append(
                {
                    "record_no": 0,
                    "record_key": code,
                    "indicator": code,
                    "enterprise_sum": _num(total_sum),
                    "zone_total": _num(zone_total),
                    "coverage_pct": f"{coverage:.1f}",
                    "min_coverage_pct": _num(least),
                }
            )
    return out


# --- running them ----------------------------------------------------------------------------

WHOLE_RELEASE_LEVELS = ("release", "cross-period", "cross-dataset")


@dataclass(frozen=True)
class ReleaseFindings:
    """What the release rules found: quarantine rows, and the records an error holds out."""

    quarantine: Frame  # QUARANTINE_COLUMNS
    held_records: frozenset[int]  # record numbers newly held out by an error
    release_errors: tuple[str, ...]  # release-level errors (record_no 0): the release is rejected
    incomplete: tuple[str, ...]  # the mandatory indicators missing or held out


# rules about what a release ends up holding: they run after the others have held records out
_RUN_LAST = ("mandatory_missing",)
Row = tuple[int, str, str, str, str, str]  # validation.engine.QUARANTINE_COLUMNS


def run_release_rules(ctx: ReleaseContext, rules: RuleSet) -> ReleaseFindings:
    """Run every release-level rule of the dataset; messages name zone, period, record and rule."""
    records = {r.record_no: r.record for r in ctx.rows}
    declared = [r for level in WHOLE_RELEASE_LEVELS for r in rules.for_dataset(ctx.dataset, level)]
    first = [r for r in declared if r.id not in _RUN_LAST]
    last = [r for r in declared if r.id in _RUN_LAST]
    out = _run(ctx, first, records)
    held = {no for no, _, _, severity, _, _ in out if severity == "error" and no > 0}
    if held and ctx.rows:
        gone = [r for r in ctx.rows if r.record_no in held]
        ctx = replace(
            ctx,
            rows=[r for r in ctx.rows if r.record_no not in held],
            held_out=ctx.held_out | frozenset(str(r.indicator) for r in gone),
        )
    out += _run(ctx, last, records)
    release_errors = tuple(m for no, _, _, sev, m, _ in out if sev == "error" and no == 0)
    incomplete = tuple(key for _, key, rule, _, _, _ in out if rule == "mandatory_missing")
    return ReleaseFindings(quarantine_frame(out), frozenset(held), release_errors, incomplete)


def _run(ctx: ReleaseContext, rules: list[Rule], records: Mapping[int, Any]) -> list[Row]:
    out: list[Row] = []
    for rule in rules:
        check = RELEASE_CHECKS.get(rule.id)
        if check is None:
            raise KeyError(f"rule {rule.id} has no release check")
        out.extend(_quarantine_rows(check(ctx, rule), rule, ctx, records))
    return out


def _quarantine_rows(
    found: list[Finding], rule: Rule, ctx: ReleaseContext, records: Mapping[int, Any]
) -> list[Row]:
    context = {"zone": ctx.zone, "period": ctx.period, "revision": ctx.revision}
    rows: list[Row] = []
    for fields in found:
        no = int(fields["record_no"])
        where = f"#{no} {fields['record_key']}" if no else f"{fields['record_key']}"
        prefix = f"[{ctx.zone} {ctx.period} r{ctx.revision} {where}] "
        message = prefix + rule.message({**fields, **context})
        # a finding about the release: the figures it is based on are its record
        raw = canonical_text(records[no]) if no and no in records else _finding_json(fields)
        rows.append((no, str(fields["record_key"]), rule.id, rule.severity, message, raw))
    return rows


def _finding_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in fields.items() if k not in ("record_no", "how", "how_en")},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
