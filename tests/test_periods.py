"""Period strings of zone-api.md: 2026-02 … 2026-12 (cumulative), 2026-Q1 … 2026-Q4, 2026."""

from __future__ import annotations

import pandas as pd
import pytest

from zonestats.periods import (
    Period,
    PeriodError,
    infer_frequency,
    parse_period,
    valid_for_frequency,
)


@pytest.mark.parametrize(
    ("text", "frequency", "year", "end_month"),
    [
        ("2026-02", "M", 2026, 2),  # 1–2月: January comes with February
        ("2026-03", "M", 2026, 3),
        ("2026-09", "M", 2026, 9),
        ("2026-10", "M", 2026, 10),
        ("2026-12", "M", 2026, 12),
        ("2026-Q1", "Q", 2026, 3),
        ("2026-Q2", "Q", 2026, 6),
        ("2026-Q3", "Q", 2026, 9),
        ("2026-Q4", "Q", 2026, 12),
        ("2026", "A", 2026, 12),
        ("1990", "A", 1990, 12),
        ("2100-Q4", "Q", 2100, 12),
    ],
)
def test_parse_period_valid(text: str, frequency: str, year: int, end_month: int) -> None:
    p = parse_period(text, frequency)
    assert p == Period(year=year, end_month=end_month, frequency=frequency, text=text)
    assert p.months == (1, end_month)


@pytest.mark.parametrize(
    ("text", "frequency"),
    [
        pytest.param("2026-01", "M", id="january-alone"),
        pytest.param("2026-13", "M", id="month-13"),
        pytest.param("2026-00", "M", id="month-00"),
        pytest.param("2026-1", "M", id="month-one-digit"),
        pytest.param("2026-2", "M", id="february-one-digit"),
        pytest.param("2026-010", "M", id="month-three-digits"),
        pytest.param("26-10", "M", id="two-digit-year"),
        pytest.param("2026/10", "M", id="slash"),
        pytest.param("2026-10 ", "M", id="trailing-space"),
        pytest.param(" 2026-10", "M", id="leading-space"),
        pytest.param("2026-Q1", "M", id="quarter-as-month"),
        pytest.param("2026", "M", id="year-as-month"),
        pytest.param("2026-Q5", "Q", id="Q5"),
        pytest.param("2026-Q0", "Q", id="Q0"),
        pytest.param("2026-q3", "Q", id="lowercase-q"),
        pytest.param("2026-Q", "Q", id="Q-without-number"),
        pytest.param("2026-10", "Q", id="month-as-quarter"),
        pytest.param("2026", "Q", id="year-as-quarter"),
        pytest.param("2026-12", "A", id="month-as-year"),
        pytest.param("2026-Q4", "A", id="quarter-as-year"),
        pytest.param("202", "A", id="three-digit-year"),
        pytest.param("", "A", id="empty"),
        pytest.param("1989", "A", id="year-too-early"),
        pytest.param("2101-10", "M", id="year-too-late"),
    ],
)
def test_parse_period_invalid(text: str, frequency: str) -> None:
    with pytest.raises(PeriodError) as exc:
        parse_period(text, frequency)
    assert repr(text) in str(exc.value)


def test_january_error_says_how_january_is_reported() -> None:
    with pytest.raises(PeriodError, match=r"January is reported with February as YYYY-02"):
        parse_period("2026-01", "M")


def test_implausible_year_is_its_own_message() -> None:
    with pytest.raises(PeriodError, match="implausible year"):
        parse_period("1989-10", "M")


def test_unknown_frequency_is_a_period_error() -> None:
    with pytest.raises(PeriodError, match="unknown frequency 'W'"):
        parse_period("2026-10", "W")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2026-10\n", id="trailing-newline"),
        pytest.param("２０２６-10", id="full-width-digits"),
    ],
)
def test_parse_period_rejects_text_that_only_looks_like_a_period(text: str) -> None:
    # a period string becomes a key and a Parquet path: only the exact ASCII form is valid
    with pytest.raises(PeriodError):
        parse_period(text, "M")


@pytest.mark.parametrize("text", [None, 202610])
def test_parse_period_of_a_non_string_is_a_period_error(text: object) -> None:
    # JSON gives a period as whatever the zone sent: null or a number must be a PeriodError
    with pytest.raises(PeriodError):
        parse_period(text, "M")  # type: ignore[arg-type]


def test_periods_order_by_year_then_end_month() -> None:
    texts = [("2027-02", "M"), ("2026-Q3", "Q"), ("2026-10", "M"), ("2026-02", "M")]
    ordered = sorted(parse_period(t, f) for t, f in texts)
    assert [p.text for p in ordered] == ["2026-02", "2026-Q3", "2026-10", "2027-02"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10", "M"),
        ("2026-02", "M"),
        ("2026-Q3", "Q"),
        ("2026", "A"),
        ("2026-01", None),
        ("2026-Q5", None),
        ("2026-10-01", None),
        ("", None),
    ],
)
def test_infer_frequency(text: str, expected: str | None) -> None:
    assert infer_frequency(text) == expected


def test_valid_for_frequency_is_per_row_and_keeps_the_index() -> None:
    periods = pd.Series(
        ["2026-10", "2026-01", "2026-Q3", "2026-Q3", "2026", "2026-13", None, "2026-Q4", "2026"],
        index=[10, 11, 12, 13, 14, 15, 16, 17, 18],
    )
    freqs = pd.Series(["M", "M", "Q", "M", "A", "M", "M", "W", None], index=periods.index)
    ok = valid_for_frequency(periods, freqs)
    assert ok.dtype == bool
    assert list(ok.index) == list(periods.index)
    assert ok.tolist() == [True, False, True, False, True, False, False, False, False]


def test_valid_for_frequency_of_an_empty_batch() -> None:
    ok = valid_for_frequency(pd.Series([], dtype="string"), pd.Series([], dtype="string"))
    assert ok.empty


CASES = [
    ("2026-02", "M"),
    ("2026-12", "M"),
    ("2026-01", "M"),
    ("2026-Q1", "M"),
    ("2026-Q2", "Q"),
    ("2026-Q0", "Q"),
    ("2026", "A"),
    ("2026-10", "A"),
    ("1989-10", "M"),
    ("2101", "A"),
    ("2026-10\n", "M"),
]


def _parses(text: str, freq: str) -> bool:
    try:
        parse_period(text, freq)
    except PeriodError:
        return False
    return True


def test_valid_for_frequency_agrees_with_parse_period() -> None:
    # the vectorized check and the scalar parser must accept exactly the same strings
    periods = pd.Series([t for t, _ in CASES])
    freqs = pd.Series([f for _, f in CASES])
    got = dict(zip(CASES, valid_for_frequency(periods, freqs).tolist(), strict=True))
    expected = {case: _parses(*case) for case in CASES}
    assert got == expected
