"""An enterprise as the zone writes it: one row (``EnterpriseRow``), its record in the zone's
styles (``render``), and the vectorized wire view of a block (every record's JSON text, built a
chunk of positions at a time)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from zonesim import bytecols
from zonesim.enterprise_blocks import (
    ALT_UNITS,
    STYLES,
    Block,
    Wire,
)
from zonesim.enterprise_identity import (
    CODEPOINTS,
    Identities,
    identities_of,
    identity_parts,
    name_tables,
    zone_vocabulary,
)
from zonesim.enterprise_population import (
    code_exponents,
    codes,
    factors,
)
from zonesim.enterprise_population import (
    exponent as code_exponent,
)
from zonesim.figures import Mantissa, convert, fmt, scaling
from zonesim.record import Record

# Pages are written from a vectorized wire view built this many positions at a time.
WIRE_CHUNK = 4096

_NUMBER, _THOUSANDS = STYLES.index("number"), STYLES.index("thousands")


def record_json(record: Record) -> bytes:
    """A record's JSON as the server writes it (json.dumps defaults, ensure_ascii=False)."""
    return json.dumps(record, ensure_ascii=False).encode("utf-8")


# The text around a value, per wire style (STYLES order): a JSON number, a plain string,
# a string with thousands separators, a string with spaces around.
_OPEN = bytecols.encoded(("", '"', '"', '" '))
_CLOSE = bytecols.encoded(("", '"', '"', '  "'))
# json prints a float in the shortest text that reads back as the same double: that is the
# decimal itself when it has at most 15 significant digits and is at least 1e-4 (smaller ones
# go to exponent notation). Other values are written by render(), one record at a time.
_FLOAT_DIGITS = 15
_FLOAT_SMALLEST_PLACES = 4


def _wire_value(
    rows: bytecols.Rows,
    code: str,
    m: npt.NDArray[np.int64],
    alt: npt.NDArray[np.int64] | None,
    style: npt.NDArray[np.int64],
    present: npt.NDArray[np.bool_] | None,
) -> npt.NDArray[np.bool_]:
    """Append render()'s value of one indicator to each row; return the rows it cannot write
    exactly (render() writes those)."""
    mantissa = m.copy()
    places = np.full(len(m), -code_exponent(code), dtype=np.int64)
    slow = m < 0
    if alt is not None:
        for option, (unit, _) in enumerate(ALT_UNITS[code]):
            at = np.flatnonzero(alt == option)
            if len(at) == 0:
                continue
            multiplier, divisor, shift = scaling(factors(code)[unit])
            value = m[at]
            overflow = value > (10**bytecols.MAX_DIGITS - 1) // multiplier
            scaled = np.where(overflow, 0, value) * multiplier
            slow[at] |= overflow | (scaled % divisor != 0)
            mantissa[at] = scaled // divisor
            places[at] += shift
    slow |= mantissa >= 10**bytecols.MAX_DIGITS
    if slow.any():
        mantissa = np.where(slow, 0, mantissa)
    default = -code_exponent(code)
    if alt is None or not (alt >= 0).any():
        # one scalar divisor: numpy divides by a scalar far faster than elementwise
        whole, frac = np.divmod(mantissa, 10**default)
    else:
        whole, frac = np.divmod(mantissa, 10**places)
    # json writes a number-style decimal as fmt() does only within the limits above
    check = np.flatnonzero((style == _NUMBER) & (frac > 0))
    if len(check):
        w, f, p = whole[check], frac[check], places[check]
        kept = p - bytecols.trailing_zeros(f, int(p.max()))
        tiny = (w == 0) & (f * 10**_FLOAT_SMALLEST_PLACES < 10**p)
        long = (w > 0) & (bytecols.digit_count(w) + kept > _FLOAT_DIGITS)
        slow[check] |= tiny | long
    rows.choice(_OPEN, style, where=present)
    rows.digits(whole, where=present, commas=style == _THOUSANDS)
    rows.fraction(frac, places, where=present)
    rows.choice(_CLOSE, style, where=present)
    return slow


def build_wire(block: Block, start: int) -> Wire:
    """The wire view of positions start..start + WIRE_CHUNK - 1: the fields of every record
    side by side in numpy (bytecols), the few it cannot write exactly through render()."""
    stop = min(start + WIRE_CHUNK, block.count)
    run = slice(start, stop)
    indices = np.arange(block.lo + start, block.lo + stop, dtype=np.int64)
    parts = identity_parts(block.seed, block.zone_code, indices, block.cluster[run])
    names = name_tables(block.seed, block.zone_code)
    style = block.style[run]
    rows = bytecols.Rows(stop - start)
    rows.text('{"uscc": "')
    rows.raw(ASCII[parts.uscc])
    rows.text('", "name": "')
    rows.choice(names.prefix, parts.prefix)
    rows.choice(names.chars, parts.first)
    rows.choice(names.chars, parts.second)
    rows.choice(names.words, parts.word)
    rows.choice(names.suffixes, parts.suffix)
    rows.text('", "industry_code": "')
    rows.choice(names.codes, parts.code)
    rows.text('", "above_scale": ')
    rows.choice(_BOOLEANS, np.asarray(block.above[run], dtype=np.int64))
    rows.text(', "values": {')
    slow = np.zeros(stop - start, dtype=np.bool_)
    for n, code in enumerate(codes()):
        present = block.present[code][run] if code in block.present else None
        # the first indicator is mandatory: no record starts its values with a separator
        assert n > 0 or present is None
        rows.text(f'{", " if n else ""}"{code}": ', where=present)
        alt = block.alt[code][run] if code in block.alt else None
        slow |= _wire_value(rows, code, block.mantissa[code][run], alt, style, present)
    # "units": the alternative units of the values reported, in catalog order; a quarter of
    # the records have any, so they are written for those rows only, then appended
    entries: list[tuple[tuple[bytes, ...], npt.NDArray[np.int64], npt.NDArray[np.bool_]]] = []
    listed = np.zeros(stop - start, dtype=np.bool_)
    for code in codes():
        if code not in block.alt:
            continue
        alt = block.alt[code][run]
        chosen = alt >= 0
        if code in block.present:
            chosen &= block.present[code][run]
        options = [f'"{code}": "{unit}"' for unit, _ in ALT_UNITS[code]]
        table = bytecols.encoded([*options, *(", " + o for o in options)])
        entries.append((table, np.where(listed, alt + len(options), alt), chosen))
        listed |= chosen
    rows.text("}}", where=~listed)
    records = rows.join()
    with_units = np.flatnonzero(listed)
    units = bytecols.Rows(len(with_units))
    units.text('}, "units": {')
    for table, index, chosen in entries:
        units.choice(table, index[with_units], where=chosen[with_units])
    units.text("}}")
    for n, text in zip(with_units.tolist(), units.join(), strict=True):
        records[n] += text
    if slow.any():
        ids = identities_of(parts, zone_vocabulary(block.seed, block.zone_code))
        for n in np.flatnonzero(slow).tolist():
            records[n] = record_json(render(body_row(block, start + n, ids, n)))
    return Wire(records)


@dataclass
class EnterpriseRow:
    """One enterprise of a release before it is written out (on the wire or in a form)."""

    uscc: str
    name: str
    industry_code: str
    above_scale: bool
    style: str
    values: dict[str, Mantissa]  # canonical values of the indicators reported
    units: dict[str, str] = field(default_factory=dict)  # alternative units on the wire
    # Bad-enterprise overrides: values written as given (catalog unit), units not allowed,
    # keys the catalog does not know.
    forced: dict[str, str] = field(default_factory=dict)
    bad_units: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def canonical(self) -> dict[str, Decimal]:
        """Return indicator -> value in the catalog unit (forced values as given)."""
        out: dict[str, Decimal] = {}
        for code in codes():
            if code in self.forced:
                out[code] = Decimal(self.forced[code])
            elif code in self.values:
                m, e = self.values[code]
                out[code] = Decimal(m).scaleb(e)
        return out


ASCII = CODEPOINTS.astype(np.uint8)
_BOOLEANS = (b"false", b"true")


def body_row(block: Block, position: int, ids: Identities, n: int) -> EnterpriseRow:
    """The row of the enterprise at ``position``, whose identity is entry n of ids."""
    values: dict[str, Mantissa] = {}
    units: dict[str, str] = {}
    for code, exponent in code_exponents():
        present = block.present.get(code)
        if present is not None and not present[position]:
            continue
        values[code] = (int(block.mantissa[code][position]), exponent)
        alt = block.alt.get(code)
        if alt is not None and alt[position] >= 0:
            units[code] = ALT_UNITS[code][alt[position]][0]
    return EnterpriseRow(
        uscc=ids.uscc[n],
        name=ids.name[n],
        industry_code=ids.industry_code[n],
        above_scale=block.above[position],
        style=STYLES[int(block.style[position])],
        values=values,
        units=units,
    )


def _styled(value: Mantissa, style: str) -> Any:
    text = fmt(*value)
    if style == "plain":
        return text
    if style == "number":
        # A float prints back as the shortest text that round-trips: the same decimal.
        return float(text) if "." in text else int(text)
    if style == "thousands":
        whole, dot, frac = text.partition(".")
        return f"{int(whole):,}{dot}{frac}"
    return f" {text}  "


def render(row: EnterpriseRow) -> Record:
    """Write one enterprise the way the zone's system puts it on the wire."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    for code in codes():
        if code in row.forced:
            values[code] = row.forced[code]
            continue
        value = row.values.get(code)
        if value is None:
            continue
        if code in row.bad_units:
            values[code] = fmt(*value)
            units[code] = row.bad_units[code]
            continue
        unit = row.units.get(code)
        if unit is not None:
            value = convert(value, factors(code)[unit])
            units[code] = unit
        values[code] = _styled(value, row.style)
    values.update(row.extra)
    record: Record = {
        "uscc": row.uscc,
        "name": row.name,
        "industry_code": row.industry_code,
        "above_scale": row.above_scale,
        "values": values,
    }
    if units:
        record["units"] = units
    return record


def wire_chunk(block: Block, chunk: int) -> Wire:
    """What the zone writes for a block's positions chunk × WIRE_CHUNK onwards, built on first
    use and kept with the block (a race at worst builds a chunk twice, identically)."""
    built = block.wire_chunks.get(chunk)
    if built is None:
        built = block.wire_chunks[chunk] = build_wire(block, chunk * WIRE_CHUNK)
    return built
