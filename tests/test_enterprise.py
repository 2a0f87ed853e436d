"""Enterprise records: credit codes, industry codes, whole-enterprise quarantine; the form adapter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.normalize import normalize_enterprise
from validation.codes import industry_code_valid, uscc_check_char, uscc_valid
from validation.engine import Validator
from validation.registry import load_rules
from zonestats.catalog import shipped_catalog

CONTEXT = {"zone": "TY01", "period": "2026-10", "revision": 1}


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91350100M000100Y43", True),
        ("91440101MA5CJQ4N59", True),
        ("91350203M0001QAY9B", False),  # wrong check character
        ("91350100M000100Y4", False),  # 17 characters
        ("91350100M000100Y433", False),  # 19 characters
        ("9135O100M000100Y43", False),  # letter O is not in the alphabet
        ("91350100m000100y43", False),  # lower case is not the code
        ("", False),
        (None, False),
    ],
)
def test_credit_code_check(code: str | None, valid: bool) -> None:
    assert uscc_valid(pd.Series([code], dtype=object)).tolist() == [valid]


def test_check_character_is_computed_from_the_first_17() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_check_char("91440101MA5CJQ4N5") == "9"


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("C3011", True), ("C30", True), ("C301", True), ("A01", True), ("A05", True),
        ("B06", True), ("C43", True), ("D44", True), ("K70", True), ("P83", True), ("T97", True),
        ("A06", False),  # division 06 is mining, section B
        ("A10", False), ("C12", False), ("C44", False), ("K71", False), ("T96", False),
        ("3011", False), ("C3", False), ("C30111", False), ("U01", False), ("c3011", False),
        (None, False),
    ],
)  # fmt: skip
def test_industry_code_ranges(code: str | None, valid: bool) -> None:
    assert industry_code_valid(pd.Series([code], dtype=object)).tolist() == [valid]


GOOD = {
    "uscc": "91350100M000100Y43",
    "name": "甲",
    "industry_code": "C3011",
    "above_scale": True,
    "values": {"revenue": "8,800.2", "tax_revenue": "310.5", "employees": "312"},
}


def validate(records: list[Any], allow: frozenset[str] = frozenset()) -> tuple[Any, pd.DataFrame]:
    frame, values = normalize_enterprise(
        [(1, "TY01", r) for r in records],
        first_record_no=1,
        zone_code="TY01",
        period="2026-10",
        frequency="M",
        catalog=shipped_catalog(),
        uscc_allow=allow,
    )
    frame["conflict"] = np.zeros(len(frame), dtype=bool)
    result = Validator(load_rules(), "enterprise").validate_batch(frame, CONTEXT, values)
    return result, result.quarantine.to_pandas()


@pytest.mark.parametrize(
    ("change", "rule", "severity"),
    [
        ({"uscc": "91350203M0001QAY9B"}, "uscc_invalid", "error"),
        ({"industry_code": "A10"}, "industry_code_invalid", "error"),
        ({"above_scale": "是"}, "above_scale_invalid", "warning"),
        ({"values": {"revenue": "-1"}}, "value_below_min", "error"),
        ({"values": {"employees": "12.5"}}, "value_not_integer", "error"),
        ({"values": {"bogus": "1"}}, "indicator_unknown", "error"),
        ({"values": {"revenue": "1"}, "units": {"revenue": "美元"}}, "unit_not_allowed", "error"),
        ({"values": {"revenue": "12,3a"}}, "value_unparsable", "error"),
        ({"values": "not a map"}, "record_malformed", "error"),
    ],
)
def test_each_enterprise_rule_passes_good_and_catches_bad(
    change: dict[str, Any], rule: str, severity: str
) -> None:
    result, q = validate([GOOD])
    assert q.empty
    assert len(result.good) == 1
    bad = {**GOOD, **change}
    result, q = validate([bad])
    assert q[["record_key", "rule", "severity"]].values.tolist()[0][1:] == [rule, severity]
    assert len(q) == 1
    expected_key = bad["uscc"]
    assert q["record_key"].iloc[0] == expected_key
    assert len(result.good) == (1 if severity == "warning" else 0)
    assert "TY01 2026-10 r1 #1" in q["message"].iloc[0]


def test_a_bad_enterprise_is_held_out_whole_with_every_rule_it_broke() -> None:
    bad = {
        **GOOD,
        "uscc": "91350203M0001QAY9B",
        "industry_code": "3011",
        "values": {"revenue": "-5", "employees": "1.5", "tax_revenue": "1"},
    }
    result, q = validate([GOOD, bad])
    assert sorted(q["rule"]) == [
        "industry_code_invalid",
        "uscc_invalid",
        "value_below_min",
        "value_not_integer",
    ]
    assert set(q["record_key"]) == {"91350203M0001QAY9B"}
    assert result.errored_records == 1
    assert result.good_values is not None
    assert set(result.good_values["record_no"]) == {1}  # none of the bad one's values load


def test_an_allow_listed_code_passes_the_check() -> None:
    bad = {**GOOD, "uscc": "91350203M0001QAY9B"}
    _, q = validate([bad], allow=frozenset({"91350203M0001QAY9B"}))
    assert q.empty


def test_form_adapter_rejects_a_report_period_that_disagrees(simulator: Any) -> None:
    from helpers.sinks import Collect

    from zonesim import Faults
    from zonestats.config import HttpSettings, ZoneSource
    from zonestats.sources import ReleaseRejected, open_adapter

    source = ZoneSource(
        "YQ01", "form-xlsx", simulator.base_url("YQ01"), simulator.token_env("YQ01")
    )
    adapter = open_adapter(source, HttpSettings(backoff_base_s=0.01))
    refs = adapter.list_releases("zone", None)
    assert {r.form for r in refs} == {"YQ1", "YQ2", "YQ3"}
    assert all(r.revision == 1 and r.source_sha256 for r in refs)
    ref = refs[-1]
    sink = Collect()
    adapter.read_release(ref, sink)
    assert len(sink.records) == len(simulator.form_records("YQ01", ref.form, ref.period))
    simulator.set_faults("YQ01", Faults(form_period_mismatch=True))
    fresh = open_adapter(source, HttpSettings(backoff_base_s=0.01))
    ref = next(
        r
        for r in fresh.list_releases("zone", None)
        if r.period == ref.period and r.form == ref.form
    )
    with pytest.raises(ReleaseRejected, match=r"报告期 in the file is .* but it was published for"):
        fresh.read_release(ref, Collect())


def test_a_changed_form_file_is_the_next_revision(simulator: Any) -> None:
    from zonestats.config import HttpSettings, ZoneSource
    from zonestats.sources import open_adapter

    source = ZoneSource(
        "YQ01", "form-xlsx", simulator.base_url("YQ01"), simulator.token_env("YQ01")
    )
    period = simulator.form_periods("YQ01", "YQ1")[-1]
    seen = simulator.form_sha256("YQ01", "YQ1", period)
    history = {period: [(1, seen)]}
    adapter = open_adapter(source, HttpSettings(), lambda zone, dataset: history)
    [same] = [r for r in adapter.list_releases("zone", None) if r.period == period]
    assert same.revision == 1
    simulator.publish_revision("YQ01", "zone", period)
    [changed] = [r for r in adapter.list_releases("zone", None) if r.period == period]
    assert changed.revision == 2
    assert changed.source_sha256 != seen
