"""A straightforward reference of the record rules: one record at a time, in plain Python.

What ``tasks.validate.check_release`` does with columns (Arrow kernels, numpy checks, messages
for failing rows), this does record by record with the json module, ``re`` and ``float`` — to
compare the two on random releases (tests/test_columnar_reference.py). Page and record rules
only; the release-level rules have their own tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from validation.registry import Rule, RuleSet
from zonestats.catalog import Catalog, Indicator

FULL_WIDTH = str.maketrans("０１２３４５６７８９，．－＋　", "0123456789,.-+ ")
MISSING_TEXT = ("", "-", "—", "--")
NUMBER = re.compile(r"^[+-]?(\d+|\d{1,3}(,\d{3})+)(\.\d*)?([eE][+-]?\d+)?$|^[+-]?\.\d+$")
DECIMAL = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?$")
RANK = {"M": 0, "Q": 1, "A": 2}
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
SECTIONS = {
    "A": (1, 5), "B": (6, 12), "C": (13, 43), "D": (44, 46), "E": (47, 50), "F": (51, 52),
    "G": (53, 60), "H": (61, 62), "I": (63, 65), "J": (66, 69), "K": (70, 70), "L": (71, 72),
    "M": (73, 75), "N": (76, 79), "O": (80, 82), "P": (83, 83), "Q": (84, 85), "R": (86, 90),
    "S": (91, 96), "T": (97, 97),
}  # fmt: skip
# the fields a message may name, by the kind of row it is made from
ZONE_FIELDS = [
    "record_no", "record_key", "indicator", "value_text", "unit", "status", "allowed_units",
    "min", "max", "ind_frequency", "release_frequency", "page", "page_zone",
]  # fmt: skip
ENTERPRISE_FIELDS = [
    "record_no", "record_key", "indicator", "value_text", "unit", "allowed_units", "min", "max",
    "ind_frequency", "release_frequency", "page", "page_zone", "uscc", "industry_code",
    "above_scale_raw",
]  # fmt: skip


def canonical(record: Any) -> str:
    """The json module's canonical text of a record."""
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def text_of(value: Any) -> str | None:
    """A value as text: the string, or the number written out; null (and NaN) none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str) else str(value)


def stripped(value: Any, empty_is_missing: bool = True) -> str | None:
    """A string stripped (an empty one missing); anything else missing."""
    if type(value) is not str:
        return None
    out = value.strip()
    return None if empty_is_missing and not out else out


@dataclass(frozen=True)
class Number:
    """A value read as a number."""

    number: float  # NaN unless read
    missing: bool
    unparsable: bool
    plain: str | None  # the text without separators, when read


def parse(value: Any) -> Number:
    """One value, as the zones send them ("1,234.5", " 12 ", "", "-", 12, null)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Number(math.nan, True, False, None)
    if isinstance(value, bool):
        return Number(math.nan, False, True, None)
    text = str(value).translate(FULL_WIDTH).strip()
    if text in MISSING_TEXT:
        return Number(math.nan, True, False, None)
    plain = text.replace(",", "")
    if not NUMBER.match(text) or not plain.isascii():
        return Number(math.nan, False, True, None)
    number = float(plain)
    if not math.isfinite(number):
        return Number(math.nan, False, True, None)
    return Number(number, False, False, plain)


def convert(n: Number, factor: Any) -> tuple[float, bool]:
    """The value in the canonical unit (exact decimals times the factor, one final rounding),
    and whether it overflowed the doubles."""
    if factor is None or math.isnan(n.number):
        return math.nan, False
    num, den = float(factor.numerator), float(factor.denominator)
    if num == 1 and den == 1:
        value = n.number
    else:
        m = DECIMAL.match(n.plain or "")
        digits = (m.group(1) + m.group(2) + (m.group(3) or "")) if m else ""
        scale = len(m.group(3) or "") if m else 0
        if m and any(c.isdigit() for c in digits) and abs(float(digits)) < 2**53 and scale <= 15:
            value = (float(digits) * num) / (10.0**scale * den)
        else:
            value = (n.number * num) / den
    return (math.nan, True) if math.isinf(value) else (value + 0.0, False)


def uscc_ok(code: Any) -> bool:
    """GB 32100-2015: 18 characters of the alphabet, the last the check character."""
    if not isinstance(code, str) or len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(code[:17]))
    return USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


def industry_ok(code: Any) -> bool:
    """GB/T 4754-2017: a section letter and 2–4 digits, the division inside the section."""
    m = re.search(r"^([A-T])([0-9]{2})([0-9]{0,2})$", code) if isinstance(code, str) else None
    return m is not None and SECTIONS[m.group(1)][0] <= int(m.group(2)) <= SECTIONS[m.group(1)][1]


def fmt(value: Any) -> Any:
    """A field as messages show it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def storable(text: str) -> str:
    """NUL as U+FFFD, as the warehouse keeps text."""
    return text.replace("\x00", "\ufffd")


@dataclass
class Expected:
    """What check_release must stage for a release (record rules only)."""

    obs: list[tuple[Any, ...]] = field(default_factory=list)
    dims: list[tuple[Any, ...]] = field(default_factory=list)
    quarantine: list[tuple[Any, ...]] = field(default_factory=list)
    counts: tuple[int, int, int, int] = (0, 0, 0, 0)  # received, loaded, quarantined, warned


def _facts(ind: Indicator | None, unit: str | None, release_frequency: str) -> dict[str, Any]:
    return {
        "known": ind is not None,
        "allowed_units": "、".join(ind.unit_factors) if ind else None,
        "min": (math.nan if ind.min is None else float(ind.min)) if ind else math.nan,
        "max": (math.nan if ind.max is None else float(ind.max)) if ind else math.nan,
        "ind_frequency": ind.frequency if ind else None,
        "rate": bool(ind and ind.basis == "ytd_rate"),
        "integer": bool(ind and ind.integer),
        "factor": ind.unit_factors.get(unit) if ind and isinstance(unit, str) else None,
        "canonical_unit": ind.unit if ind else None,
        "release_frequency": release_frequency,
    }


def _value_rules(
    f: dict[str, Any], n: Number, value: float, overflow: bool, malformed: bool
) -> dict[str, bool]:
    """Which value rules a value (with its catalog facts) breaks."""
    usable = not malformed and f["known"]
    low = not math.isnan(value) and not math.isnan(f["min"]) and value < f["min"]
    high = not math.isnan(value) and not math.isnan(f["max"]) and value > f["max"]
    return {
        "indicator_unknown": not malformed and not f["known"],
        "unit_not_allowed": usable and f["factor"] is None,
        "value_unparsable": not malformed and (n.unparsable or overflow),
        "value_below_min": not f["rate"] and low,
        "value_above_max": not f["rate"] and high,
        "growth_rate_out_of_bounds": f["rate"] and (low or high),
        "value_not_integer": f["integer"] and not math.isnan(value) and value % 1 != 0,
    }


def reference(
    pages: list[tuple[int, str, list[Any]]],
    *,
    dataset: str,
    zone: str,
    period: str,
    frequency: str,
    revision: int,
    catalog: Catalog,
    rules: RuleSet,
    uscc_allow: frozenset[str] = frozenset(),
    batch_records: int = 1_000_000,
) -> Expected:
    """The page and record rules over a release's pages of (number, zone, records).

    Quarantine rows come batch by batch, as check_release stages them: whole pages make a batch
    once it holds ``batch_records`` records; a batch's page rows first, then its records'.
    """
    key_field = "indicator" if dataset == "zone" else "uscc"
    seen: set[str] = set()
    contents: dict[str, set[str]] = {}
    items: list[tuple[int, str, Any]] = []
    for number, page_zone, records in pages:
        for rec in records:
            if page_zone != zone:
                items.append((number, page_zone, rec))
                continue
            text = canonical(rec)
            key = rec.get(key_field) if isinstance(rec, dict) else None
            if isinstance(key, str):
                contents.setdefault(key.strip(), set()).add(text)
            if text not in seen:  # a record repeated word for word is one record
                seen.add(text)
                items.append((number, page_zone, rec))
    conflicts = {k for k, v in contents.items() if len(v) > 1}
    batch_of: dict[int, int] = {}
    batch = held_in_batch = 0
    for number, _, _ in pages:
        batch_of[number] = batch
        held_in_batch += sum(1 for p, _, _ in items if p == number)
        if held_in_batch >= batch_records:
            batch, held_in_batch = batch + 1, 0
    context = {"zone": zone, "period": period, "revision": revision}
    out = Expected()
    page_rules = rules.for_dataset(dataset, "page")
    record_rules = rules.for_dataset(dataset, "record")
    # page rules: a page of another zone is held out whole
    held_pages: set[int] = set()
    warned: set[int] = set()
    page_rows: list[tuple[int, tuple[Any, ...]]] = []
    for rule in page_rules:
        foreign = sorted({p for p, z, _ in items if z != zone and p not in held_pages})
        for p in foreign:
            recs = [(no, r) for no, (pp, _, r) in enumerate(items, 1) if pp == p]
            fields = {"page": p, "page_zone": next(z for pp, z, _ in items if pp == p),
                      "record_key": f"page:{p}", **context}  # fmt: skip
            message = (
                f"[{zone} {period} r{revision} page:{p}, {len(recs)} records] "
                + rule.message(fields)
            )
            raw = "[" + ",".join(canonical(r) for _, r in recs) + "]"
            page_rows.append((batch_of[p], (0, f"page:{p}", rule.id, rule.severity, message, raw)))
            if rule.severity == "error":
                held_pages.add(p)
            else:
                warned |= {no for no, _ in recs}
    errored = sum(1 for p, _, _ in items if p in held_pages)
    found: list[tuple[int, str, Rule, dict[str, Any], Any]] = []
    batch_of_record: dict[int, int] = {}
    good: list[tuple[int, Any, dict[str, Any], list[tuple[str, float, str]]]] = []
    for no, (page, page_zone, rec) in enumerate(items, 1):
        batch_of_record[no] = batch_of[page]
        if page in held_pages:
            continue
        obj = rec if isinstance(rec, dict) else {}
        broken: list[tuple[Rule, dict[str, Any]]] = []
        if dataset == "zone":
            indicator = stripped(obj.get("indicator"))
            key = indicator if indicator is not None else f"record:{no}"
            unit = stripped(obj.get("unit"), empty_is_missing=False)
            s = obj.get("status")
            status = (
                "A" if s is None or (isinstance(s, float) and math.isnan(s)) else str(s).strip()
            )
            n = parse(obj.get("value"))
            f = _facts(catalog.indicator("zone", indicator) if indicator else None, unit, frequency)
            value, overflow = convert(n, f["factor"])
            malformed = not isinstance(rec, dict) or indicator is None
            usable = not malformed and f["known"]
            ind_rank, rel_rank = RANK.get(f["ind_frequency"], -1), RANK.get(frequency, -1)
            valid_status = status in ("A", "P", "E", "M")
            agree = (status == "M") == n.missing
            fails = {
                "record_malformed": malformed,
                "duplicate_conflict": key in conflicts,
                "frequency_mismatch": usable and not (0 <= ind_rank <= rel_rank and rel_rank >= 0),
                "status_invalid": not malformed and not valid_status,
                "status_value_mismatch": not malformed and valid_status and not agree,
                **_value_rules(f, n, value, overflow, malformed),
            }
            fields = {"record_no": no, "record_key": key, "indicator": indicator,
                      "value_text": text_of(obj.get("value")), "unit": unit, "status": status,
                      "allowed_units": f["allowed_units"], "min": f["min"], "max": f["max"],
                      "ind_frequency": f["ind_frequency"], "release_frequency": frequency,
                      "page": page, "page_zone": page_zone}  # fmt: skip
            broken = [(r, fields) for r in record_rules if fails.get(r.id)]
            obs = [(str(indicator), value, f["canonical_unit"], status)]
        else:
            uscc = stripped(obj.get("uscc"))
            uscc = uscc.upper() if uscc else None
            key = uscc if uscc is not None else f"record:{no}"
            flag = obj.get("above_scale")
            values, units = obj.get("values"), obj.get("units")
            units_ok = (
                units is None
                or type(units) is dict
                or (isinstance(units, float) and math.isnan(units))
            )
            malformed = (
                not isinstance(rec, dict)
                or uscc is None
                or type(values) is not dict
                or not units_ok
            )
            fails = {
                "record_malformed": malformed,
                "duplicate_conflict": key in conflicts,
                "uscc_invalid": not malformed and not uscc_ok(uscc) and uscc not in uscc_allow,
                "industry_code_invalid": not malformed and not industry_ok(stripped(obj.get("industry_code"))),
                "above_scale_invalid": not malformed
                and not (type(flag) is bool or flag is None or (isinstance(flag, float) and math.isnan(flag))),
            }  # fmt: skip
            base = dict.fromkeys(ENTERPRISE_FIELDS)
            fields = {**base, "record_no": no, "record_key": key, "release_frequency": frequency,
                      "page": page, "page_zone": page_zone, "uscc": uscc,
                      "industry_code": stripped(obj.get("industry_code")),
                      "above_scale_raw": text_of(flag)}  # fmt: skip
            broken = [(r, fields) for r in record_rules if r.on == "record" and fails.get(r.id)]
            obs = []
            first: dict[str, dict[str, Any]] = {}
            if type(values) is dict and units_ok:
                for code, raw_value in values.items():
                    u = units.get(code) if isinstance(units, dict) and code in units else None
                    ind = catalog.indicator("enterprise", code) if isinstance(code, str) else None
                    if not (isinstance(units, dict) and code in units):
                        u = ind.unit if ind else None
                    u = stripped(u, empty_is_missing=False)
                    n = parse(raw_value)
                    f = _facts(ind, u, frequency)
                    value, overflow = convert(n, f["factor"])
                    vfields = {**base, "record_no": no, "record_key": key,
                               "indicator": code if isinstance(code, str) else None,
                               "value_text": text_of(raw_value), "unit": u,
                               "allowed_units": f["allowed_units"], "min": f["min"],
                               "max": f["max"], "ind_frequency": f["ind_frequency"]}  # fmt: skip
                    for rule_id, bad in _value_rules(f, n, value, overflow, False).items():
                        if bad:
                            first.setdefault(rule_id, vfields)
                    if not n.missing:
                        obs.append((str(code), value, f["canonical_unit"], ""))
            broken += [(r, first[r.id]) for r in record_rules if r.on == "value" and r.id in first]
        for rule, fields in broken:
            found.append((no, key, rule, fields, rec))
        if any(r.severity == "error" for r, _ in broken):
            errored += 1
        else:
            warned |= {no} if any(r.severity == "warning" for r, _ in broken) else set()
            good.append((no, rec, {"key": key, "obj": obj}, obs))
    record_rows: list[tuple[int, tuple[Any, ...]]] = []
    for no, key, rule, fields, rec in sorted(found, key=lambda f: (f[0], f[2].id)):
        raw = canonical(rec)
        shown = {("frequency" if k == "ind_frequency" else k): fmt(v) for k, v in fields.items()}
        shown.update(rule=rule.id, severity=rule.severity, raw=raw)
        shown["value"] = (
            fields.get("value_text") if isinstance(fields.get("value_text"), str) else "—"
        )
        shown.update(context)
        message = f"[{zone} {period} r{revision} #{no} {key}] " + rule.message(shown)
        record_rows.append((batch_of_record[no], (no, key, rule.id, rule.severity, message, raw)))
    # batch by batch: its page rows (rule by rule, page by page), then its records' rows
    ordered = sorted(
        [(b, 0, k, row) for k, (b, row) in enumerate(page_rows)]
        + [(b, 1, k, row) for k, (b, row) in enumerate(record_rows)]
    )
    out.quarantine = [row for *_, row in ordered]
    for _, _, info, obs in good:
        if dataset == "zone":
            code, value, unit, status = obs[0]
            out.obs.append((zone, code, period, frequency, revision, value, unit, status))
        else:
            obj = info["obj"]
            for code, value, unit, _ in obs:
                out.obs.append((zone, info["key"], period, revision, code, value, unit))
            name = stripped(obj.get("name"))
            flag = obj.get("above_scale")
            out.dims.append(
                (info["key"], storable(name) if name else None, stripped(obj.get("industry_code")),
                 zone, flag if type(flag) is bool else None, period)
            )  # fmt: skip
    out.quarantine = [(*q[:4], storable(q[4]), storable(q[5])) for q in out.quarantine]
    out.quarantine = [(q[0], storable(q[1]), *q[2:]) for q in out.quarantine]
    good_warned = {no for no in warned if no in {g[0] for g in good}}
    out.counts = (len(items), len(items) - errored, errored, len(good_warned))
    return out
