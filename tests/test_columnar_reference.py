"""The columnar path against a straightforward reference, on random releases (hypothesis).

``check_release`` normalizes and validates with Arrow kernels and numpy columns and makes texts
for failing rows only; helpers.reference_validation does the same record by record with the json
module, ``re`` and ``float``. Both must stage the same observations, enterprises and quarantine
rows (messages and raw text included) and count the same, and the spool's sha256 must be the one
of the json module's canonical text. The seed is fixed (``derandomize``); ``REFERENCE_EXAMPLES=N``
runs N examples, ``REFERENCE_RANDOM=1`` with a new seed each run.
"""

from __future__ import annotations

import hashlib
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow.parquet as pq
import pytest
from helpers.reference_validation import canonical, reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import numeric, validate
from tasks.validate import BATCH_RECORDS, check_release
from validation.codes import uscc_check_char
from validation.registry import load_rules
from warehouse.staging import RawSpool
from zonestats.catalog import shipped_catalog
from zonestats.models import FetchedRelease, ReleaseRef
from zonestats.sources.base import Page

ZONE = "TY01"
EXAMPLES = int(os.environ.get("REFERENCE_EXAMPLES", "150"))
RANDOM = os.environ.get("REFERENCE_RANDOM")  # set: a new seed every run, to explore

ZONE_CODES = [i.code for i in shipped_catalog().for_dataset("zone")]
ENTERPRISE_CODES = [i.code for i in shipped_catalog().for_dataset("enterprise")]
UNITS = sorted({u for i in shipped_catalog().indicators.values() for u in i.unit_factors})


def uscc(n: int) -> str:
    """A valid credit code, distinct for each n."""
    first17 = f"91140100MA{n:07d}"
    return first17 + uscc_check_char(first17)


ODD_TEXT = [
    "", " ", "-", "--", "—", "－", "12,3a", "1,23", "1,2345", ",123", "1 000", "1_000", "0x10",
    "nan", "NaN", "inf", "-Infinity", "1e999", "12%", "万", "１２，３４５", "１．５", "\u300012\u3000",
    "١٢٣", "12\u2028", "1e3", "1E+3", ".5", "+5", "1.", "-0", "-0.0", "+.5", "0e0", "1.5e-3",
    "12.3456", "1.23456", "0.0029", "1.0003", "3.5421", " 1,234,567.8 ", "9007199254740993",
    "0.1000000000000000055511151231257827", "123456789012345678901234567890",
]  # fmt: skip
numbers = st.one_of(
    st.integers(-(10**6), 10**9).map(str),
    st.builds(
        lambda n, k: f"{n / 10**k:,.{k}f}" if n % 3 else f" {n / 10**k:.{k}f} ",
        st.integers(-(10**9), 10**12),
        st.integers(0, 6),
    ),
    st.sampled_from(ODD_TEXT),
    st.text(alphabet="0123456789.,+-eE ", max_size=10),
)
values = st.one_of(
    numbers,
    numbers,
    st.integers(-(2**70), 2**70),
    st.floats(width=64),
    st.sampled_from([None, True, False, [1], {"a": 1}, 1e308, 1e-7, 0.00001, -0.0]),
)
units = st.one_of(
    st.sampled_from(UNITS), st.sampled_from([None, "", " 万元 ", "美元", "斤", 10000])
)


def zone_records() -> st.SearchStrategy[Any]:
    """Zone-dataset records, mostly sound, some of every odd shape."""
    rec = st.fixed_dictionaries(
        {"indicator": st.one_of(st.sampled_from(ZONE_CODES), st.sampled_from(["gdp", " revenue ", "", 12, None]))},
        optional={
            "value": values,
            "unit": units,
            "status": st.sampled_from(["A", "P", "E", "M", " E ", "x", "a", "", None, 5]),
        },
    )  # fmt: skip
    odd = st.sampled_from(["junk", None, [1, 2], 5, "revenue,1,万元", {}])
    return st.one_of(rec, rec, rec, odd)


def enterprise_records() -> st.SearchStrategy[Any]:
    """Enterprise records, mostly sound, some of every odd shape."""
    code = st.one_of(st.sampled_from(ENTERPRISE_CODES), st.sampled_from(["bogus", " revenue", ""]))
    rec = st.fixed_dictionaries(
        {
            "uscc": st.one_of(
                st.integers(0, 40).map(uscc),
                st.sampled_from(["91350203M0001QAY9B", " 91350100m000100y43 ", "", None, 12]),
            ),
            "values": st.one_of(
                st.dictionaries(code, values, max_size=8),
                st.sampled_from(["not a map", None, [1]]),
            ),
        },
        optional={
            "name": st.sampled_from(["甲", " 乙 ", "", None, "a\x00b", 5]),
            "industry_code": st.sampled_from(["C3011", "C30", "A06", "3011", None, "", " C3011 ", "K70", 5]),
            "above_scale": st.sampled_from([True, False, "是", 1, None, "true"]),
            "units": st.one_of(st.dictionaries(code, units, max_size=3), st.sampled_from(["x", [1], None])),
        },
    )  # fmt: skip
    odd = st.sampled_from(["junk", None, [1, 2], 5])
    return st.one_of(rec, rec, rec, rec, odd)


@st.composite
def releases(draw: st.DrawFn) -> tuple[str, list[tuple[int, str, list[Any]]], dict[str, str]]:
    """A dataset, its pages (number, zone, records) with repeats and conflicts, and overrides."""
    dataset = draw(st.sampled_from(["zone", "enterprise"]))
    strategy = zone_records() if dataset == "zone" else enterprise_records()
    pages = []
    made: list[Any] = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        records = []
        for _ in range(draw(st.integers(0, 10))):
            if made and draw(st.integers(0, 9)) == 0:
                records.append(draw(st.sampled_from(made)))  # a repeat, word for word
            else:
                records.append(draw(strategy))
                made.append(records[-1])
        zone = draw(st.sampled_from([ZONE] * 9 + ["DT01"]))
        pages.append((number, zone, records))
    overrides = draw(
        st.sampled_from(
            [{}, {}, {"value_below_min": "warning"}, {"page_zone_mismatch": "warning"},
             {"status_invalid": "warning", "above_scale_invalid": "error"}]
        )
    )  # fmt: skip
    return dataset, pages, overrides


def same(a: Any, b: Any) -> bool:
    """Equal, a missing figure (None, NaN) equal to a missing one."""

    def missing(x: Any) -> bool:
        return x is None or (isinstance(x, float) and math.isnan(x))

    if missing(a) or missing(b):
        return missing(a) and missing(b)
    return bool(a == b)


def rows(path: Path) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in pq.read_table(path).to_pylist()]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=RANDOM is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    release=releases(),
    period=st.sampled_from([("2026-10", "M"), ("2026-Q3", "Q"), ("2025", "A")]),
    small=st.sampled_from([0, numeric.SMALL]),
    batch=st.sampled_from([1, 4, BATCH_RECORDS]),
)
def test_the_columnar_path_stages_what_the_reference_does(
    tmp_path_factory: pytest.TempPathFactory,
    release: tuple[str, list[tuple[int, str, list[Any]]], dict[str, str]],
    period: tuple[str, str],
    small: int,
    batch: int,
) -> None:
    # small batches take plain Python, larger ones Arrow's kernels: both ways, every batch size;
    # a release in several batches: repeats and conflicts across them, numbers that go on
    with (
        mock.patch.object(numeric, "SMALL", small),
        mock.patch.object(validate, "BATCH_RECORDS", batch),
    ):
        check_both(tmp_path_factory, release, period, batch)


def check_both(
    tmp_path_factory: pytest.TempPathFactory,
    release: tuple[str, list[tuple[int, str, list[Any]]], dict[str, str]],
    period: tuple[str, str],
    batch: int,
) -> None:
    """Stage a release with check_release and compare with the reference."""
    dataset, pages, overrides = release
    code, frequency = period
    catalog = shipped_catalog()
    rules = load_rules(overrides).at_levels("page", "record")
    allow = frozenset({"91350203M0001QAY9B"})
    ref = ReleaseRef(ZONE, dataset, code, frequency, 3, datetime(2026, 11, 16, tzinfo=UTC))
    spool = tmp_path_factory.mktemp("release") / "staging" / "pages.jsonl"
    with RawSpool(spool, str(ref.key)) as sink:
        for number, zone, records in pages:
            sink.write(Page(number, zone, dataset, code, 3, records, 1000))
    fetched = FetchedRelease(ref, spool, sink.pages, sink.records, sink.sha256)
    v = check_release(fetched, catalog, rules, "load-ref", uscc_allow=allow)
    want = reference(
        pages,
        dataset=dataset,
        zone=ZONE,
        period=code,
        frequency=frequency,
        revision=3,
        catalog=catalog,
        rules=rules,
        uscc_allow=allow,
        batch_records=batch,
    )
    # the release's sha256: the json module's canonical text of every record, a line each
    text = "".join(canonical(r) + "\n" for _, _, recs in pages for r in recs)
    assert v.sha256 == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert (v.records_received, v.records_loaded, v.records_quarantined, v.records_warned) == (
        want.counts
    )
    assert rows(v.quarantine) == want.quarantine
    got = rows(v.obs)
    assert len(got) == len(want.obs)
    for g, w in zip(got, want.obs, strict=True):
        assert all(same(a, b) for a, b in zip(g, w, strict=True)), (g, w)
    if dataset == "enterprise":
        assert v.dims is not None
        assert rows(v.dims) == want.dims
