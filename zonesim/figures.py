"""Figures as exact decimals: a value is a mantissa and a power of ten (m × 10^e), written
without trailing zeros and converted between units exactly (the enterprise dataset and the forms)."""

from __future__ import annotations

from fractions import Fraction
from functools import cache

Mantissa = tuple[int, int]  # (m, e): the value m × 10^e in the catalog unit


def fmt(mantissa: int, exponent: int) -> str:
    """Return m × 10^e as a plain decimal string without trailing zeros ("1234.5", "-5", "0")."""
    if exponent >= 0:
        return str(mantissa * 10**exponent)
    sign = "-" if mantissa < 0 else ""
    digits = str(abs(mantissa)).rjust(-exponent + 1, "0")
    whole, frac = digits[:exponent], digits[exponent:].rstrip("0")
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


@cache
def _scaling(factor: Fraction) -> tuple[int, int, int]:
    """(multiplier, divisor, shift) such that a canonical m × 10^e is m × multiplier / divisor ×
    10^(e - shift) in the unit of this factor: the powers of 2 and 5 of the factor's numerator
    become a shift, what is left (3 for the areas) must divide m."""
    p, q = factor.numerator, factor.denominator
    twos = fives = 0
    while p % 2 == 0:
        p, twos = p // 2, twos + 1
    while p % 5 == 0:
        p, fives = p // 5, fives + 1
    shift = max(twos, fives)
    return q * 10**shift // (2**twos * 5**fives), p, shift


def scaling(factor: Fraction) -> tuple[int, int, int]:
    """Return (multiplier, divisor, shift): convert() of m × 10^e at this factor is
    (m × multiplier / divisor) × 10^(e - shift)."""
    return _scaling(factor)


def convert(value: Mantissa, factor: Fraction) -> Mantissa:
    """Express a canonical value in a unit whose factor (unit -> canonical) is given, exactly."""
    if factor == 1:
        return value
    m, e = value
    multiplier, divisor, shift = _scaling(factor)
    scaled = m * multiplier
    if scaled % divisor:
        raise ValueError(f"{fmt(m, e)} has no finite decimal expansion at factor {factor}")
    return (scaled // divisor, e - shift)
