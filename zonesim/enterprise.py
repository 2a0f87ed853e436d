"""Deterministic data of the ``enterprise`` dataset (企业月报), generated page by page.

Population: a zone's enterprises are numbered by an integer index. The enterprises of a year are
the window [lo, hi) of indices: newcomers take the next numbers at the start of a year and the
lowest numbers leave, so an enterprise keeps its credit code, name and industry from year to
year, and a position in a release maps straight to an index. Every draw about enterprise i comes
from a counter-based hash of (seed, zone, stream, i[, month]) (splitmix64, vectorized with
numpy), so nothing depends on which page is asked for first, and a release of 50,000
enterprises is a few numpy passes (cached per zone and month) plus one dict per record served.

Figures: the ytd series of an enterprise is a share of the zone's own series of ``data`` (the
same unrounded ytd level the zone dataset publishes): in month j it adds
c × ΔZ(j) × w_i / Σw × u_ij, where c (coverage, 0.70–0.76) is per zone and year, w_i the
enterprise's weight (size × industry intensity × noise, 0 for an enterprise that does not report
the indicator) and u_ij ∈ [0.75, 1.25] its own seasonal noise. So an enterprise's ytd never
decreases within a year, and the sum over the enterprises that report an indicator lies within
[0.75 c, 1.25 c] ⊂ [52.5%, 95%] of the zone's figure, whatever the weights. Values are whole
hundredths of the catalog unit (areas whole hundredths of a hectare, employees whole people), so
every alternative unit renders them exactly.

One job per module: ``enterprise_population`` (who and how big), ``enterprise_identity`` (credit
codes and names), ``enterprise_blocks`` (a zone-month as numpy columns, cached),
``enterprise_wire`` (a row, its record, the vectorized wire view); this module serves releases
from them (revisions, bad cases, pages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from zonesim import bytecols
from zonesim.bad_data import BAD_ENTERPRISES, BadEnterpriseCase, bad_enterprise_positions
from zonesim.enterprise_blocks import (
    BLOCKS,
    Block,
)
from zonesim.enterprise_identity import (
    EncodedVocabulary,
    Identities,
    IdentityParts,
    identities,
    identity_parts,
    name_tables,
)
from zonesim.enterprise_population import (
    DATASET,
    enterprise_count,
    flow_codes,
    window,
)
from zonesim.enterprise_wire import (
    ASCII,
    WIRE_CHUNK,
    EnterpriseRow,
    body_row,
    record_json,
    render,
    wire_chunk,
)
from zonesim.faults import Faults
from zonesim.record import Record
from zonesim.rng import stable_rng
from zonesim.uscc import ALPHABET, VALUES
from zonestats.periods import Period

# ---- releases ------------------------------------------------------------------------------------


@cache
def _nudges(
    seed: int, zone_code: str, period_text: str, revision: int, count: int, biggest: int
) -> dict[int, dict[str, float]]:
    """position -> indicator -> factor: what a revision changes (a few enterprises, ≤ 1%)."""
    if revision <= 1:
        return {}
    r = stable_rng(seed, zone_code, DATASET, period_text, revision, "revision")
    flows = [c for c in flow_codes() if c != "industrial_output"]
    picked = r.sample(range(count), k=min(count, r.randint(1, 5)))
    out: dict[int, dict[str, float]] = {}
    # The largest firm's revenue always moves, so that a revision always changes something.
    for position in [biggest, *picked]:
        changes = out.setdefault(position, {})
        codes = ["revenue"] if position == biggest and not changes else []
        codes += r.sample(flows, k=r.randint(1, 3))
        for code in codes:
            changes[code] = 1 + r.choice((-1, 1)) * r.uniform(0.002, 0.01)
    return out


def _nudged(row: EnterpriseRow, changes: dict[str, float]) -> None:
    for code, factor in changes.items():
        value = row.values.get(code)
        # Only values of at least 10 units move: 0.2% of them is then at least 2 hundredths,
        # and tiny values would move by a larger share than the monotone ytd margin allows.
        if value is not None and value[0] >= 1000:
            row.values[code] = (math.floor(value[0] * factor + 0.5), value[1])


def _spoil(uscc: str, defect: str | None) -> str:
    if defect == "check_digit":
        return uscc[:17] + ALPHABET[(VALUES[uscc[17]] + 1) % len(ALPHABET)]
    if defect == "forbidden_letter":
        return uscc[:12] + "O" + uscc[13:]
    if defect == "short":
        return uscc[:17]
    return uscc


@dataclass(frozen=True)
class EnterpriseColumns:
    """The enterprises of a release without bad cases as numpy columns, in release order: what
    a QY1 form lists, for writing it in bulk (bytecols) rather than row by row."""

    count: int
    uscc: npt.NDArray[np.uint8]  # count × 18, ASCII
    above: npt.NDArray[np.bool_]
    mantissa: dict[
        str, npt.NDArray[np.int64]
    ]  # canonical, at code_exponent(code), revision applied
    present: dict[str, npt.NDArray[np.bool_]]  # optional indicators only
    parts: IdentityParts
    names: EncodedVocabulary

    def name(self, rows: bytecols.Rows) -> None:
        """Append each enterprise's name (UTF-8) to the rows."""
        for table, index in (
            (self.names.prefix, self.parts.prefix),
            (self.names.chars, self.parts.first),
            (self.names.chars, self.parts.second),
            (self.names.words, self.parts.word),
            (self.names.suffixes, self.parts.suffix),
        ):
            rows.choice(table, index)

    def industry_code(self, rows: bytecols.Rows) -> None:
        """Append each enterprise's industry code to the rows."""
        rows.choice(self.names.codes, self.parts.code)


class EnterpriseRelease:
    """One enterprise release as served: the zone's enterprises in index order, the bad cases
    worked in; rows are generated only for the positions asked for."""

    def __init__(
        self,
        seed: int,
        zone_code: str,
        period: Period,
        revision: int,
        scale: float,
        cases: tuple[BadEnterpriseCase, ...] = (),
    ) -> None:
        """Describe the release; nothing is generated until rows are asked for."""
        self.seed, self.zone_code, self.period, self.revision = seed, zone_code, period, revision
        self.scale = scale
        lo, hi = window(seed, zone_code, period.year, scale)
        self.lo, self.hi, self.count = lo, hi, hi - lo
        positions = bad_enterprise_positions(self.count)
        self._at = {positions[c.key]: c for c in cases if c.action != "append"}
        # Appended cases first, then the conflicting copy, the verbatim repeat last.
        rank = {"append": 0, "conflict": 1, "repeat": 2}
        self._tail = sorted((c for c in cases if c.action in rank), key=lambda c: rank[c.action])
        self._positions = positions

    def __len__(self) -> int:
        """Return the number of records served (the zone's enterprises plus appended cases)."""
        return self.count + len(self._tail)

    def _block(self) -> Block:
        return BLOCKS.get(
            self.seed, self.zone_code, self.period.year, self.period.end_month, self.scale
        )

    def _ids(self, block: Block, positions: range) -> Identities:
        indices = np.arange(block.lo + positions.start, block.lo + positions.stop, dtype=np.int64)
        return identities(
            self.seed, self.zone_code, indices, block.cluster[positions.start : positions.stop]
        )

    def _nudges(self, block: Block) -> dict[int, dict[str, float]]:
        return _nudges(
            self.seed, self.zone_code, self.period.text, self.revision, block.count, block.biggest
        )

    def _clean_rows(self, block: Block, positions: range) -> list[EnterpriseRow]:
        nudges = self._nudges(block)
        ids = self._ids(block, positions)
        rows = []
        for n, position in enumerate(positions):
            row = body_row(block, position, ids, n)
            changes = nudges.get(position)
            if changes:
                _nudged(row, changes)
            rows.append(row)
        return rows

    def _worked(self, row: EnterpriseRow, position: int) -> EnterpriseRow:
        case = self._at.get(position)
        if case is not None and case.action == "replace":
            for code, text in case.values:
                row.forced[code] = text
                row.units.pop(code, None)  # a forced value is in the catalog unit
            for code, unit in case.units:
                row.bad_units[code] = unit
                row.units.pop(code, None)
            row.extra.update(case.extra)
        return row

    def _row(self, block: Block, position: int) -> EnterpriseRow:
        (row,) = self._clean_rows(block, range(position, position + 1))
        return self._worked(row, position)

    def _tail_row(self, block: Block, n: int) -> EnterpriseRow:
        case = self._tail[n]
        if case.action == "repeat":
            return self._row(block, self._positions[case.key])
        if case.action == "conflict":
            twin = self._row(block, self._positions[case.key])
            m, e = twin.values["revenue"]
            twin.values["revenue"] = (m + max(1, m // 10), e)
            return twin
        position = (2 * n + 1) * self.count // 13
        (base,) = self._clean_rows(block, range(position, position + 1))
        # An index outside every year's window: a credit code no other enterprise has.
        index = np.array([self.hi + 1_000_000 + n], dtype=np.int64)
        ids = identities(self.seed, self.zone_code, index, block.cluster[position : position + 1])
        return replace(
            base,
            uscc=_spoil(ids.uscc[0], case.uscc_defect),
            name=ids.name[0],
            industry_code=case.industry_code or base.industry_code,
        )

    def rows(self, start: int, stop: int) -> list[EnterpriseRow]:
        """Return the rows at positions start..stop-1 (clipped to the release)."""
        start, stop = max(0, start), min(stop, len(self))
        if start >= stop:
            return []
        block = self._block()
        body = range(start, min(stop, self.count))
        out = [
            self._worked(row, p) for row, p in zip(self._clean_rows(block, body), body, strict=True)
        ]
        out += [self._tail_row(block, p - self.count) for p in range(max(start, self.count), stop)]
        return out

    def columns(self) -> EnterpriseColumns:
        """Return every enterprise of the release as columns; only for a release without bad
        cases (those only rows() and render() write)."""
        if self._at or self._tail:
            raise ValueError("a release with bad enterprises has no columns")
        block = self._block()
        mantissa = dict(block.mantissa)
        for position, changes in self._nudges(block).items():
            for code, factor in changes.items():
                present = block.present.get(code)
                m = int(block.mantissa[code][position])
                # as _nudged() moves a row: the same Python arithmetic, so the same integers
                if (present is None or present[position]) and m >= 1000:
                    if mantissa[code] is block.mantissa[code]:
                        mantissa[code] = block.mantissa[code].copy()
                    mantissa[code][position] = math.floor(m * factor + 0.5)
        indices = np.arange(block.lo, block.lo + block.count, dtype=np.int64)
        parts = identity_parts(self.seed, self.zone_code, indices, block.cluster)
        return EnterpriseColumns(
            count=block.count,
            uscc=ASCII[parts.uscc],
            above=np.asarray(block.above, dtype=np.bool_),
            mantissa=mantissa,
            present=block.present,
            parts=parts,
            names=name_tables(self.seed, self.zone_code),
        )

    def page_json(self, start: int, stop: int) -> bytes:
        """Return the JSON array (UTF-8) of the wire records at positions start..stop-1 (clipped
        to the release), exactly as json.dumps(self.slice(start, stop), ensure_ascii=False)."""
        start, stop = max(0, start), min(stop, len(self))
        if start >= stop:
            return b"[]"
        block = self._block()
        body = range(start, min(stop, self.count))
        special = set(self._nudges(block)) | set(self._at)
        out: list[bytes] = []
        # The records come from the block's cached wire view; the few enterprises a revision
        # or a bad case changes go through EnterpriseRow and render() instead.
        for chunk in range(body.start // WIRE_CHUNK, -(-body.stop // WIRE_CHUNK)):
            base = chunk * WIRE_CHUNK
            run = range(max(body.start, base), min(body.stop, base + WIRE_CHUNK))
            records = wire_chunk(block, chunk).records[run.start - base : run.stop - base]
            hits = [p for p in special if p in run]
            if hits:
                records = list(records)
                for position in hits:
                    records[position - run.start] = record_json(render(self._row(block, position)))
            out += records
        out += [
            record_json(render(self._tail_row(block, p - self.count)))
            for p in range(max(start, self.count), stop)
        ]
        return b"[" + b", ".join(out) + b"]"

    def slice(self, start: int, stop: int) -> list[Record]:
        """Return the wire records at positions start..stop-1 (clipped to the release)."""
        # Read back from the very bytes a page serves: the Python API and HTTP cannot differ.
        # (orjson reads the same values as json, floats to the same double, several times faster)
        records: list[Record] = orjson.loads(self.page_json(start, stop))
        return records


class EnterpriseDataset:
    """The ``enterprise`` dataset: one record per enterprise per month (monthly only)."""

    name: str = DATASET
    frequencies: tuple[str, ...] = ("M",)

    def __init__(self, scale: float = 1.0) -> None:
        """Multiply every zone's number of enterprises by ``scale``."""
        if not scale > 0 or not math.isfinite(scale):
            raise ValueError(f"enterprise_scale must be a positive number, got {scale!r}")
        self.scale = scale

    def count(self, seed: int, zone_code: str, year: int) -> int:
        """Return how many enterprises a zone has in a year."""
        return enterprise_count(seed, zone_code, year, self.scale)

    def release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> EnterpriseRelease:
        """Return the release as served, with the BAD_ENTERPRISES under ``bad_enterprises``."""
        cases = BAD_ENTERPRISES if faults.bad_enterprises else ()
        return EnterpriseRelease(seed, zone_code, period, revision, self.scale, cases)

    def form_release(
        self, seed: int, zone_code: str, period: Period, revision: int, faults: Faults
    ) -> EnterpriseRelease:
        """Return the release as a QY1 form carries it (only the cases a form can express)."""
        cases = tuple(c for c in BAD_ENTERPRISES if c.in_form) if faults.bad_enterprises else ()
        return EnterpriseRelease(seed, zone_code, period, revision, self.scale, cases)

    def records(self, seed: int, zone_code: str, period: Period, revision: int) -> list[Record]:
        """Return every record of a release as a well-behaved zone serves it."""
        release = EnterpriseRelease(seed, zone_code, period, revision, self.scale)
        return release.slice(0, len(release))

    def canonical_values(
        self, seed: int, zone_code: str, period: Period, revision: int
    ) -> dict[str, Any]:
        """Return uscc -> indicator -> Decimal in the catalog unit (reported indicators only)."""
        release = EnterpriseRelease(seed, zone_code, period, revision, self.scale)
        return {row.uscc: row.canonical() for row in release.rows(0, len(release))}
