"""zonesim.bytecols writes numbers and choices as Python's own formatting does, in bulk."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from zonesim import bytecols

values = st.lists(st.integers(0, 10**bytecols.MAX_DIGITS - 1), min_size=1, max_size=40)


@given(values, st.data())
def test_digits_with_and_without_commas(numbers: list[int], data: st.DataObject) -> None:
    commas = data.draw(st.lists(st.booleans(), min_size=len(numbers), max_size=len(numbers)))
    where = data.draw(st.lists(st.booleans(), min_size=len(numbers), max_size=len(numbers)))
    rows = bytecols.Rows(len(numbers))
    rows.text("[")
    rows.digits(np.array(numbers, dtype=np.int64), np.array(where), commas=np.array(commas))
    rows.text("]")
    expected = [
        f"[{(f'{n:,}' if c else str(n)) if w else ''}]".encode()
        for n, c, w in zip(numbers, commas, where, strict=True)
    ]
    assert rows.join() == expected


@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 10**12)), min_size=1, max_size=40))
def test_fractions_strip_trailing_zeros(pairs: list[tuple[int, int]]) -> None:
    places = np.array([p for p, _ in pairs], dtype=np.int64)
    value = np.array([v % 10**p for p, v in pairs], dtype=np.int64)
    rows = bytecols.Rows(len(pairs))
    rows.text("0")
    rows.fraction(value, places)
    expected = []
    for p, v in zip(places.tolist(), value.tolist(), strict=True):
        digits = str(v).rjust(p, "0").rstrip("0") if v else ""
        expected.append(f"0.{digits}".encode() if digits else b"0")
    assert rows.join() == expected


@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=40))
def test_choices_and_texts_where_asked(picks: list[tuple[int, bool]]) -> None:
    options = bytecols.encoded(["", "是", "元, 千元"])
    index = np.array([i for i, _ in picks], dtype=np.int64)
    where = np.array([w for _, w in picks])
    rows = bytecols.Rows(len(picks))
    rows.choice(options, index, where=where)
    rows.text("|", where=~where)
    expected = [(options[i] if w else b"|") for i, w in picks]
    assert rows.join() == expected


def test_digit_counts_and_trailing_zeros() -> None:
    value = np.array([0, 9, 10, 1200, 10**17], dtype=np.int64)
    assert bytecols.digit_count(value).tolist() == [1, 1, 2, 4, 18]
    assert bytecols.trailing_zeros(value, 3).tolist() == [0, 0, 1, 2, 3]
