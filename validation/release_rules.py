"""The rules that look at a release as a whole: release, cross-period and cross-dataset levels.

They run after the record rules, over the records those let through, and compare with what is
already loaded (the current revisions). Each check is registered under its rule id, like the
record checks, and returns its findings as a frame: ``record_no`` (0 when the finding is about
the release rather than one record), ``record_key`` and the fields its message names. A zone
release holds one record per indicator, so these frames are small; the enterprise dataset is
compared through its per-indicator sums, accumulated batch by batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from validation.engine import QUARANTINE_COLUMNS
from validation.registry import Rule, RuleSet
from zonestats.catalog import Catalog
from zonestats.periods import parse_period

# the columns of the loaded observations a release is compared with (rows of obs_zone_current)
HISTORY_COLUMNS = ["indicator_code", "period", "frequency", "value", "status"]
FINDING_KEYS = ["record_no", "record_key"]


@dataclass(frozen=True)
class ReleaseContext:
    """A release's good records and what is loaded around it, as the release checks see them."""

    zone: str
    dataset: str
    period: str
    frequency: str
    revision: int
    catalog: Catalog
    # zone dataset: one row per good record (record_no, record_key, indicator, value, status,
    # canonical_unit, basis, min, ind_frequency); enterprise dataset: empty
    rows: pd.DataFrame
    # indicator codes whose records an error held out of this release
    held_out: frozenset[str]
    # the zone dataset's current observations of this zone (other periods, and for an enterprise
    # release the same period): HISTORY_COLUMNS
    history: pd.DataFrame
    # enterprise dataset: the sum of each indicator over the release's good enterprises
    enterprise_sums: Mapping[str, float] = field(default_factory=dict)

    @property
    def year(self) -> int:
        """The calendar year of the release."""
        return int(self.period[:4])


ReleaseCheck = Callable[[ReleaseContext, Rule], pd.DataFrame]
RELEASE_CHECKS: dict[str, ReleaseCheck] = {}


def release_check(rule_id: str) -> Callable[[ReleaseCheck], ReleaseCheck]:
    """Register the check of a release-, cross-period- or cross-dataset-level rule."""

    def register(fn: ReleaseCheck) -> ReleaseCheck:
        RELEASE_CHECKS[rule_id] = fn
        return fn

    return register


def _num(x: Any) -> str:
    """A figure as people read it: up to 4 decimals, no trailing zeros."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    text = f"{float(x):.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=FINDING_KEYS)


def _reported(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["value"].notna() & (rows["status"] != "M")]


def _map_float(codes: pd.Series, values: pd.Series) -> pd.Series:
    # an empty lookup would keep the codes' string dtype; figures are always floats
    return codes.map(values).astype("float64")


def _loaded(history: pd.DataFrame, period: str) -> pd.DataFrame:
    h = history[(history["period"] == period) & history["value"].notna()]
    return h[h["status"] != "M"]


# --- release level ---------------------------------------------------------------------------


@release_check("mandatory_missing")
def mandatory_missing(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """Every mandatory indicator of the release's frequency is there and was not held out."""
    # a figure reported as missing (status M) leaves a mandatory indicator without a figure too
    present = set(_reported(ctx.rows)["indicator"]) if not ctx.rows.empty else set()
    declared_m = set(ctx.rows["indicator"]) - present if not ctx.rows.empty else set()
    missing = [c for c in ctx.catalog.mandatory("zone", ctx.frequency) if c not in present]

    def how(code: str) -> tuple[str, str]:
        if code in ctx.held_out:
            return "未通过审核被剔除", "held out by an error"
        if code in declared_m:
            return "报送为缺失值（M）", "reported as missing (status M)"
        return "缺报", "absent"

    return pd.DataFrame(
        {
            "record_no": 0,
            "record_key": missing,
            "indicator": missing,
            "how": [how(c)[0] for c in missing],
            "how_en": [how(c)[1] for c in missing],
        },
        columns=["record_no", "record_key", "indicator", "how", "how_en"],
    )


def _part_whole(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    part, whole = str(rule.params["part"]), str(rule.params["whole"])
    rows = _reported(ctx.rows)
    p = rows[rows["indicator"] == part]
    if p.empty:
        return _none()
    if rule.params.get("whole_period", "same") == "same":
        w = rows.loc[rows["indicator"] == whole, "value"]
        whole_period = ctx.period
    else:  # the monthly cumulative at the quarter's last month, as loaded
        end = parse_period(ctx.period, ctx.frequency).end_month
        whole_period = f"{ctx.year}-{end:02d}"
        h = _loaded(ctx.history, whole_period)
        w = h.loc[h["indicator_code"] == whole, "value"]
    if w.empty:
        return _none()  # nothing to compare with: the rule cannot fail
    whole_value = float(w.iloc[0])
    bad = p[p["value"] > whole_value * (1 + 1e-9) + 1e-9]
    return pd.DataFrame(
        {
            "record_no": bad["record_no"].astype("int64"),
            "record_key": bad["record_key"],
            "indicator": part,
            "value": bad["value"].map(_num),
            "whole_value": _num(whole_value),
            "whole_period": whole_period,
            "unit": bad["canonical_unit"],
        }
    )


for _rule_id in (
    "green_exceeds_electricity",
    "industrial_land_exceeds_developed",
    "developed_exceeds_planned",
    "leading_exceeds_revenue",
):
    release_check(_rule_id)(_part_whole)


# --- cross-period -----------------------------------------------------------------------------


def _same_frequency_year(ctx: ReleaseContext) -> pd.DataFrame:
    h = ctx.history
    h = h[(h["frequency"] == ctx.frequency) & h["period"].str.startswith(f"{ctx.year}")]
    h = h[h["value"].notna() & (h["status"] != "M") & (h["period"] != ctx.period)]
    return h


@release_check("ytd_decreased")
def ytd_never_decreases(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """A non-negative cumulative is at least the year's earlier ones and at most its later ones."""
    rows = _reported(ctx.rows)
    rows = rows[(rows["basis"] == "ytd") & (rows["min"] >= 0)]
    h = _same_frequency_year(ctx)
    if rows.empty or h.empty:
        return _none()
    # the nearest loaded neighbour on each side is the one the cumulative must respect
    earlier = h[h["period"] < ctx.period].sort_values("period").groupby("indicator_code").last()
    later = h[h["period"] > ctx.period].sort_values("period").groupby("indicator_code").first()
    m = rows.join(earlier[["period", "value"]].add_prefix("e_"), on="indicator")
    m = m.join(later[["period", "value"]].add_prefix("l_"), on="indicator")
    tol = 1e-9 * m["value"].abs() + 1e-9
    below = m["e_value"].notna() & (m["value"] < m["e_value"] - tol)
    above = m["l_value"].notna() & (m["value"] > m["l_value"] + tol)
    bad = m[below | above]
    if bad.empty:
        return _none()
    use_e = below[bad.index]
    return pd.DataFrame(
        {
            "record_no": bad["record_no"].astype("int64"),
            "record_key": bad["record_key"],
            "indicator": bad["indicator"],
            "value": bad["value"].map(_num),
            "other_period": np.where(use_e, bad["e_period"], bad["l_period"]),
            "other_value": np.where(use_e, bad["e_value"], bad["l_value"]),
        }
    ).assign(other_value=lambda d: d["other_value"].map(_num))


@release_check("quarter_month_mismatch")
def quarter_matches_month(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """A monthly cumulative repeated in a quarterly or annual release matches the month's."""
    if ctx.frequency == "M":
        return _none()
    rows = _reported(ctx.rows)
    rows = rows[(rows["ind_frequency"] == "M") & (rows["basis"] == "ytd")]
    end = parse_period(ctx.period, ctx.frequency).end_month
    month = f"{ctx.year}-{end:02d}"
    h = _loaded(ctx.history, month)
    h = h[h["frequency"] == "M"].set_index("indicator_code")["value"]
    m = rows.assign(other=_map_float(rows["indicator"], h)).dropna(subset=["other"])
    tolerance = float(rule.params.get("tolerance_pct", 1.0))
    diff = (m["value"] - m["other"]).abs() / m["other"].abs().where(m["other"] != 0) * 100
    bad = m[(diff > tolerance) | ((m["other"] == 0) & (m["value"] != 0))]
    return pd.DataFrame(
        {
            "record_no": bad["record_no"].astype("int64"),
            "record_key": bad["record_key"],
            "indicator": bad["indicator"],
            "value": bad["value"].map(_num),
            "other_period": month,
            "other_value": bad["other"].map(_num),
            "diff_pct": diff[bad.index].map(_num),
            "tolerance_pct": _num(tolerance),
        }
    )


@release_check("yoy_out_of_range")
def yoy_in_range(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """A level grows on the same period a year earlier within the plausible band."""
    rows = _reported(ctx.rows)
    rows = rows[rows["basis"].isin(["ytd", "stock"])]
    base_period = str(ctx.year - 1) + ctx.period[4:]
    h = _loaded(ctx.history, base_period)
    h = h[h["frequency"] == ctx.frequency].set_index("indicator_code")["value"]
    m = rows.assign(base=_map_float(rows["indicator"], h))
    m = m[m["base"] > 0]  # no base, or a zero or negative base: no growth to speak of
    growth = m["value"] / m["base"] * 100 - 100
    lo, hi = float(rule.params.get("min_pct", -50)), float(rule.params.get("max_pct", 100))
    bad = m[(growth < lo) | (growth > hi)]
    return pd.DataFrame(
        {
            "record_no": bad["record_no"].astype("int64"),
            "record_key": bad["record_key"],
            "indicator": bad["indicator"],
            "value": bad["value"].map(_num),
            "other_period": base_period,
            "other_value": bad["base"].map(_num),
            "growth_pct": growth[bad.index].map(lambda g: f"{g:.1f}"),
            "min_pct": _num(lo),
            "max_pct": _num(hi),
        }
    )


# --- cross-dataset ---------------------------------------------------------------------------


def _sums_vs_totals(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    codes = [str(c) for c in rule.params.get("indicators", [])]
    totals = _loaded(ctx.history, ctx.period)
    totals = totals[totals["indicator_code"].isin(codes)].set_index("indicator_code")["value"]
    frame = pd.DataFrame(
        {
            "indicator": codes,
            "enterprise_sum": [float(ctx.enterprise_sums.get(c, 0.0)) for c in codes],
        }
    )
    frame["zone_total"] = _map_float(frame["indicator"], totals)
    return frame[frame["zone_total"] > 0]  # no zone total loaded yet: nothing to reconcile with


@release_check("enterprise_sum_exceeds_zone")
def enterprises_within_zone(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """The enterprises' sum does not exceed the zone total by more than the tolerance."""
    f = _sums_vs_totals(ctx, rule)
    tolerance = float(rule.params.get("tolerance_pct", 0.5))
    excess = (f["enterprise_sum"] / f["zone_total"] - 1) * 100
    bad = f[excess > tolerance]
    return pd.DataFrame(
        {
            "record_no": 0,
            "record_key": bad["indicator"],
            "indicator": bad["indicator"],
            "enterprise_sum": bad["enterprise_sum"].map(_num),
            "zone_total": bad["zone_total"].map(_num),
            "excess_pct": excess[bad.index].map(lambda x: f"{x:.2f}"),
            "tolerance_pct": _num(tolerance),
        }
    )


@release_check("enterprise_coverage_low")
def enterprises_cover_zone(ctx: ReleaseContext, rule: Rule) -> pd.DataFrame:
    """The enterprises reported cover at least the expected share of the zone total."""
    f = _sums_vs_totals(ctx, rule)
    least = float(rule.params.get("min_coverage_pct", 50))
    coverage = f["enterprise_sum"] / f["zone_total"] * 100
    bad = f[coverage < least]
    return pd.DataFrame(
        {
            "record_no": 0,
            "record_key": bad["indicator"],
            "indicator": bad["indicator"],
            "enterprise_sum": bad["enterprise_sum"].map(_num),
            "zone_total": bad["zone_total"].map(_num),
            "coverage_pct": coverage[bad.index].map(lambda x: f"{x:.1f}"),
            "min_coverage_pct": _num(least),
        }
    )


# --- running them ----------------------------------------------------------------------------

WHOLE_RELEASE_LEVELS = ("release", "cross-period", "cross-dataset")


@dataclass(frozen=True)
class ReleaseFindings:
    """What the release rules found: quarantine rows, and the records an error holds out."""

    quarantine: pd.DataFrame  # QUARANTINE_COLUMNS
    held_records: frozenset[int]  # record numbers newly held out by an error
    release_errors: tuple[str, ...]  # release-level errors (record_no 0): the release is rejected
    incomplete: tuple[str, ...]  # the mandatory indicators missing or held out


# rules about what a release ends up holding: they run after the others have held records out
_RUN_LAST = ("mandatory_missing",)


def run_release_rules(ctx: ReleaseContext, rules: RuleSet) -> ReleaseFindings:
    """Run every release-level rule of the dataset; messages name zone, period, record and rule."""
    raw = ctx.rows.set_index("record_no")["raw"] if not ctx.rows.empty else pd.Series(dtype=str)
    declared = [r for level in WHOLE_RELEASE_LEVELS for r in rules.for_dataset(ctx.dataset, level)]
    first = [r for r in declared if r.id not in _RUN_LAST]
    last = [r for r in declared if r.id in _RUN_LAST]
    out = _run(ctx, first, raw)
    held = _held(out)
    if held and not ctx.rows.empty:
        gone = ctx.rows["record_no"].isin(held)
        ctx = replace(
            ctx,
            rows=ctx.rows[~gone],
            held_out=ctx.held_out | frozenset(ctx.rows.loc[gone, "indicator"].astype(str)),
        )
    out += _run(ctx, last, raw)
    q = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=QUARANTINE_COLUMNS)
    errors = q[q["severity"] == "error"]
    release_errors = tuple(errors.loc[errors["record_no"] == 0, "message"])
    incomplete = tuple(q.loc[q["rule"] == "mandatory_missing", "record_key"])
    return ReleaseFindings(q[QUARANTINE_COLUMNS], frozenset(held), release_errors, incomplete)


def _run(ctx: ReleaseContext, rules: list[Rule], raw: pd.Series) -> list[pd.DataFrame]:
    out = []
    for rule in rules:
        check = RELEASE_CHECKS.get(rule.id)
        if check is None:
            raise KeyError(f"rule {rule.id} has no release check")
        found = check(ctx, rule)
        if not found.empty:
            out.append(_quarantine_rows(found, rule, ctx, raw))
    return out


def _held(parts: list[pd.DataFrame]) -> set[int]:
    held: set[int] = set()
    for q in parts:
        errors = q[(q["severity"] == "error") & (q["record_no"] > 0)]
        held |= {int(n) for n in errors["record_no"]}
    return held


def _quarantine_rows(
    found: pd.DataFrame, rule: Rule, ctx: ReleaseContext, raw: pd.Series
) -> pd.DataFrame:
    context = {"zone": ctx.zone, "period": ctx.period, "revision": ctx.revision}
    messages = []
    raws = []
    for fields in found.to_dict("records"):
        no = int(fields["record_no"])
        where = f"#{no} {fields['record_key']}" if no else f"{fields['record_key']}"
        prefix = f"[{ctx.zone} {ctx.period} r{ctx.revision} {where}] "
        messages.append(prefix + rule.message({**fields, **context}))
        if no and no in raw.index:
            raws.append(str(raw[no]))
        else:  # a finding about the release: the figures it is based on are its record
            raws.append(_finding_json(fields))
    return pd.DataFrame(
        {
            "record_no": found["record_no"].astype("int64").to_numpy(),
            "record_key": found["record_key"].astype(str).to_numpy(),
            "rule": rule.id,
            "severity": rule.severity,
            "message": messages,
            "raw": raws,
        }
    )


def _finding_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in fields.items() if k not in ("record_no", "how", "how_en")},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
