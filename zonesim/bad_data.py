"""The bad data a faulty zone serves: echoed tokens, bad records and enterprises, audit breaks.

Which of them a zone serves is switched by its ``Faults`` (zonesim.faults); what each one is, and
what the pipeline is expected to make of it, is here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from zonesim.record import Record
from zonestats.periods import PeriodError, infer_frequency, parse_period


@dataclass(frozen=True)
class EchoCase:
    """How the ``echo_token`` fault answers the data requests of one kind of release."""

    dataset: str
    frequency: str
    period_end: int  # the month the period ends (M: the month, Q: 3/6/9/12, A: 12)
    # 200: the release is served with the Authorization header in a record field; otherwise
    # the status every data request of the release answers, its body quoting the header
    status: int
    # an error body: "json", "text" or "html"; a 200: the record field of the first record of
    # the first page that carries the header ("value" of a zone record, "name" of an enterprise)
    where: str
    problem: str


# Where the echo_token fault puts the header beyond the headers and the "request" field. Each
# error case fails its release on a different path of a client: an unexpected status whose body
# it quotes, the same with the header where a 200-character excerpt would cut it, a 5xx retried
# until it gives up. The 200 cases carry it into what is stored: a value the audit quarantines
# (raw and message quote it) and an enterprise name that is valid and loads (dim_enterprise keeps
# the name of the latest period: a March release is the latest in spring).
ECHO_CASES: tuple[EchoCase, ...] = (
    EchoCase("zone", "M", 4, 400, "json", "400, a JSON body quoting the header"),
    EchoCase("zone", "M", 6, 403, "text",
             "403, a text body with the header from its 175th character on"),
    EchoCase("zone", "M", 8, 502, "html", "502 on every attempt, an HTML body quoting the header"),
    EchoCase("zone", "M", 10, 200, "value",
             "the first record's value is the header: value_unparsable"),
    EchoCase("enterprise", "M", 3, 200, "name",
             "the first enterprise's name ends with the header: a valid record, and in the year's"
             " last release the name the enterprise is known by"),
    EchoCase("enterprise", "M", 7, 400, "json", "400, a JSON body quoting the header"),
)  # fmt: skip
# Where the text body of an echo case starts quoting the header: a client that keeps the first
# 200 characters of a body cuts it inside the token.
ECHO_TEXT_AT = 175


def echo_case(dataset: str, period: str) -> EchoCase | None:
    """Return the ECHO_CASES entry for a release of a dataset, or None."""
    frequency = infer_frequency(period)
    if frequency is None:
        return None
    try:
        end = parse_period(period, frequency).end_month
    except PeriodError:
        return None
    return next(
        (
            c
            for c in ECHO_CASES
            if (c.dataset, c.frequency, c.period_end) == (dataset, frequency, end)
        ),
        None,
    )


@dataclass(frozen=True)
class BadRecordCase:
    """One bad (or tricky) record a release carries when the ``bad_records`` fault is on."""

    indicator: str
    # The rule id a validator should raise; None for a record that is not an error.
    rule: str | None
    problem: str
    # "replace": the indicator's record is rewritten in place (added at the end when the zone
    # did not report it); "append": a new record at the end; "conflict": a second copy of the
    # record, with another value, at the end; "repeat": a word-for-word copy at the end.
    action: str
    value: str | None = None
    unit: str | None = None
    status: str | None = None


# A replaced record that must keep a value but whose indicator was not reported gets this one.
FALLBACK_VALUE = "100"

# The documented bad records per dataset and frequency. Each case is built so that it breaks only
# its own rule (a value override also resets the unit to the canonical one, so that "12.5" 万人
# cannot turn into a valid integer). Validators may of course add consequences of their own,
# e.g. a mandatory indicator left without a valid value, or a ytd series that goes down.
# The appended records go at the end, the word-for-word repeat last, so that with a page size
# smaller than the release the repeat lands on another page than its original.
_DUPLICATE = "repeated word for word: not an error, counts once"
_UNKNOWN = BadRecordCase(
    "revenue_total_typo",
    "indicator_unknown",
    "an indicator code the catalog does not know",
    "append",
    value="1234.5",
    unit="万元",
)


def _unit(code: str, unit: str) -> BadRecordCase:
    return BadRecordCase(
        code, "unit_not_allowed", f"unit {unit} is not a unit of {code}", "replace", unit=unit
    )


def _value(code: str, rule: str, value: str, why: str) -> BadRecordCase:
    return BadRecordCase(code, rule, f"value {value!r} {why}", "replace", value=value)


def _status(code: str, rule: str, status: str, why: str) -> BadRecordCase:
    return BadRecordCase(code, rule, f"status {status!r} {why}", "replace", status=status)


def _conflict(code: str, unit: str) -> BadRecordCase:
    why = f"{code} a second time with value 999.9 {unit}: every copy is an error"
    return BadRecordCase(code, "duplicate_conflict", why, "conflict", value="999.9", unit=unit)


_NOT_NUMBER = "is not a number"
_BELOW_MIN = "is below the catalog minimum 0"
_NOT_INTEGER = "for an integer indicator"
_M_WITH_VALUE = "(missing) with a value"
_NOT_A_STATUS = "is not one of A, P, E, M"

BAD_RECORDS: dict[str, dict[str, tuple[BadRecordCase, ...]]] = {
    "zone": {
        "M": (
            _unit("tax_revenue", "美元"),
            _value("profit_total", "value_unparsable", "12,3a", _NOT_NUMBER),
            _value("energy_consumption", "value_below_min", "-5", _BELOW_MIN),
            _value("above_scale_enterprises", "value_not_integer", "12.5", _NOT_INTEGER),
            _status("green_electricity", "status_value_mismatch", "M", _M_WITH_VALUE),
            _status("import_export", "status_invalid", "X", _NOT_A_STATUS),
            _UNKNOWN,
            _conflict("revenue", "万元"),
            BadRecordCase("fixed_asset_investment", None, _DUPLICATE, "repeat"),
        ),
        "Q": (
            _unit("rd_expenditure", "美元"),
            _value("employees", "value_not_integer", "12.5", _NOT_INTEGER),
            _value("co2_emissions", "value_below_min", "-5", _BELOW_MIN),
            _UNKNOWN,
            _conflict("leading_industry_revenue", "万元"),
            BadRecordCase("industrial_value_added", None, _DUPLICATE, "repeat"),
        ),
        "A": (
            _unit("planned_area", "英亩"),
            _value("high_tech_enterprises", "value_not_integer", "12.5", _NOT_INTEGER),
            _value("cod_emissions", "value_below_min", "-5", _BELOW_MIN),
            _status("specialized_smes", "status_value_mismatch", "M", _M_WITH_VALUE),
            _status("rd_platforms", "status_invalid", "X", _NOT_A_STATUS),
            _UNKNOWN,
            _conflict("industrial_land_area", "亩"),
            BadRecordCase("developed_area", None, _DUPLICATE, "repeat"),
        ),
    }
}


def _not_reported(record: Record) -> bool:
    value = record.get("value")
    return value is None or (isinstance(value, str) and value.strip() in ("", "-"))


def _replaced(case: BadRecordCase, original: Record | None, canonical_unit: str) -> Record:
    record: Record = (
        dict(original)
        if original is not None
        else {"indicator": case.indicator, "value": None, "unit": canonical_unit}
    )
    if case.value is not None:
        record["value"] = case.value
        record["unit"] = canonical_unit
    elif _not_reported(record):
        record["value"] = FALLBACK_VALUE
        record["unit"] = canonical_unit
    if case.unit is not None:
        record["unit"] = case.unit
    if case.status is not None:
        record["status"] = case.status
    elif record.get("status") == "M":
        # The record now carries a value: keeping "M" would add a status_value_mismatch.
        del record["status"]
    return record


def apply_bad_records(
    dataset: str, frequency: str, records: list[Record], canonical_units: Mapping[str, str]
) -> list[Record]:
    """Return the records of a release with the BAD_RECORDS cases of its frequency worked in."""
    out = [dict(r) for r in records]
    tail: list[Record] = []

    def find(code: str) -> int | None:
        return next((i for i, r in enumerate(out) if r.get("indicator") == code), None)

    for case in BAD_RECORDS.get(dataset, {}).get(frequency, ()):
        at = find(case.indicator)
        if case.action == "replace":
            unit = canonical_units[case.indicator]
            if at is None:
                tail.append(_replaced(case, None, unit))
            else:
                out[at] = _replaced(case, out[at], unit)
        elif case.action == "append":
            tail.append({"indicator": case.indicator, "value": case.value, "unit": case.unit})
        elif at is not None and case.action == "conflict":
            twin = dict(out[at])
            twin["value"] = case.value
            twin["unit"] = case.unit
            tail.append(twin)
        elif at is not None and case.action == "repeat":
            tail.append(dict(out[at]))
    return out + tail


@dataclass(frozen=True)
class BadEnterpriseCase:
    """One bad (or tricky) enterprise record a release carries under the ``bad_enterprises``
    fault. Each breaks only its own rule: the other fields of the record are valid."""

    key: str
    # The rule id a validator should raise; None for a record that is not an error.
    rule: str | None
    problem: str
    # "append": a new enterprise after the release's own ones; "replace": one of the release's
    # enterprises is changed in place; "conflict": a second copy of one of them with another
    # revenue, appended; "repeat": a word-for-word copy of one of them, appended last.
    action: str
    # For "append": how the new enterprise's credit code is spoilt ("check_digit",
    # "forbidden_letter", "short") or which industry code it carries.
    uscc_defect: str | None = None
    industry_code: str | None = None
    # For "replace": values (strings, in the catalog unit) and units put into the record, and
    # keys added to its values that the catalog does not know.
    values: tuple[tuple[str, str], ...] = ()
    units: tuple[tuple[str, str], ...] = ()
    extra: tuple[tuple[str, str], ...] = ()
    # Whether a QY1 form can carry the case (a form has one unit per column and no column for
    # an unknown indicator); the others are left out of forms.
    in_form: bool = True


# The documented bad enterprises, in the order they appear: "replace" cases in place at the
# positions bad_enterprise_positions() gives (spread over the release), then the "append" cases
# after the release's own enterprises, the conflicting copy, and the word-for-word repeat last
# (so that with pages smaller than the release it lands on another page than its original).
BAD_ENTERPRISES: tuple[BadEnterpriseCase, ...] = (
    BadEnterpriseCase(
        "uscc_check_digit",
        "uscc_invalid",
        "the 18th character is not the check character of the first 17",
        "append",
        uscc_defect="check_digit",
    ),
    BadEnterpriseCase(
        "uscc_forbidden_letter",
        "uscc_invalid",
        "the organization code contains O, a letter GB 32100 does not use",
        "append",
        uscc_defect="forbidden_letter",
    ),
    BadEnterpriseCase(
        "uscc_wrong_length",
        "uscc_invalid",
        "17 characters instead of 18",
        "append",
        uscc_defect="short",
    ),
    BadEnterpriseCase(
        "industry_division_outside_section",
        "industry_code_invalid",
        "A10: division 10 belongs to section B (采矿业), not A (01–05)",
        "append",
        industry_code="A10",
    ),
    BadEnterpriseCase(
        "industry_no_section_letter",
        "industry_code_invalid",
        "3011: no section letter",
        "append",
        industry_code="3011",
    ),
    BadEnterpriseCase(
        "industry_too_short",
        "industry_code_invalid",
        "C3: one digit after the section letter",
        "append",
        industry_code="C3",
    ),
    BadEnterpriseCase(
        "unit_not_allowed",
        "unit_not_allowed",
        "revenue in 美元, not a unit of revenue",
        "replace",
        units=(("revenue", "美元"),),
        in_form=False,
    ),
    BadEnterpriseCase(
        "revenue_negative",
        "value_below_min",
        "revenue -5 is below the catalog minimum 0",
        "replace",
        values=(("revenue", "-5"),),
    ),
    BadEnterpriseCase(
        "employees_not_integer",
        "value_not_integer",
        "employees 12.5 for an integer indicator",
        "replace",
        values=(("employees", "12.5"),),
    ),
    BadEnterpriseCase(
        "indicator_unknown",
        "indicator_unknown",
        "values carries revenue_total_typo, a code the catalog does not know",
        "replace",
        extra=(("revenue_total_typo", "1234.5"),),
        in_form=False,
    ),
    BadEnterpriseCase(
        "duplicate_conflict",
        "duplicate_conflict",
        "the same enterprise a second time with another revenue: every copy is an error",
        "conflict",
    ),
    BadEnterpriseCase(
        "duplicate_verbatim",
        None,
        "the same enterprise repeated word for word: not an error, counts once",
        "repeat",
    ),
)


def bad_enterprise_positions(count: int) -> dict[str, int]:
    """Return case key -> position (0-based, in a release of ``count`` enterprises) of the
    enterprise each replace/conflict/repeat case works on: spread evenly, the repeated one first
    (at 0, as far as possible from its copy at the end), then the conflicting one, then the
    replaced ones in BAD_ENTERPRISES order."""
    rank = {"repeat": 0, "conflict": 1, "replace": 2}
    worked_on = [c for c in BAD_ENTERPRISES if c.action != "append"]
    keyed = [c.key for c in sorted(worked_on, key=lambda c: rank[c.action])]
    return {key: n * count // len(keyed) for n, key in enumerate(keyed)}


@dataclass(frozen=True)
class AuditBreak:
    """A release whose figures, each valid on its own, break a release-level audit rule."""

    frequency: str
    period_end: int  # the month the period ends (M: the month, Q: 3/6/9/12, A: 12)
    indicator: str
    rule: str  # the rule a validator should raise
    # "scale": the figure × factor; "scale_of": factor × another indicator's figure of the same
    # release; "drop": the record is left out; "repeat_month": the monthly figure of the same
    # indicator at the period's end month (revision 1), × factor, added to the release.
    action: str
    factor: str = "1"
    other: str | None = None
    even_years_only: bool = False  # so that the year before is untouched (growth on the year)


# Where the audit_breaks fault breaks the release-level rules; each case leaves every other rule
# alone in a run that loads the releases in publication order (M on the 15th, Q on the 20th).
AUDIT_BREAKS: tuple[AuditBreak, ...] = (
    AuditBreak("M", 3, "green_electricity", "green_exceeds_electricity", "scale_of", "1.5",
               other="electricity_consumption"),
    AuditBreak("M", 5, "fixed_asset_investment", "mandatory_missing", "drop"),
    AuditBreak("M", 7, "revenue", "ytd_decreased", "scale", "0.5"),
    AuditBreak("M", 2, "tax_revenue", "enterprise_sum_exceeds_zone", "scale", "0.3"),
    AuditBreak("M", 12, "energy_consumption", "enterprise_coverage_low", "scale", "2"),
    AuditBreak("M", 3, "industrial_output", "yoy_out_of_range", "scale", "3",
               even_years_only=True),
    AuditBreak("Q", 6, "leading_industry_revenue", "leading_exceeds_revenue", "scale", "3"),
    AuditBreak("Q", 9, "revenue", "quarter_month_mismatch", "repeat_month", "1.05"),
    AuditBreak("A", 12, "developed_area", "developed_exceeds_planned", "scale_of", "1.2",
               other="planned_area"),
)  # fmt: skip


def apply_audit_breaks(
    frequency: str,
    year: int,
    end_month: int,
    records: list[Record],
    canonical: Mapping[str, Any],
    canonical_units: Mapping[str, str],
    monthly: Callable[[str, int], Any],
) -> list[Record]:
    """Return the records of a release with the AUDIT_BREAKS of its period worked in.

    ``canonical`` holds the release's figures in the catalog unit; ``monthly(code, month)`` the
    figure of a monthly indicator at a month of the same year (revision 1). A changed figure is
    written in the catalog unit.
    """
    out = [dict(r) for r in records]
    for case in AUDIT_BREAKS:
        if (case.frequency, case.period_end) != (frequency, end_month):
            continue
        if case.even_years_only and year % 2:
            continue
        factor = Decimal(case.factor)
        if case.action == "drop":
            out = [r for r in out if r.get("indicator") != case.indicator]
            continue
        if case.action == "repeat_month":
            value = monthly(case.indicator, end_month)
            if value is not None:
                out.append(
                    {
                        "indicator": case.indicator,
                        "value": format(Decimal(value) * factor, "f"),
                        "unit": canonical_units[case.indicator],
                    }
                )
            continue
        source = case.other if case.action == "scale_of" and case.other else case.indicator
        base = canonical.get(source)
        if base is None:
            continue
        for r in out:
            if r.get("indicator") == case.indicator:
                r["value"] = format(Decimal(base) * factor, "f")
                r["unit"] = canonical_units[case.indicator]
                r.pop("status", None)
    return out
