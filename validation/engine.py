"""Run the rules of a dataset over a normalized batch: one vectorized check per rule id, on numpy.

A batch is one frame of records (zone dataset: a record is an indicator row; enterprise dataset:
a record is an enterprise) and, for the enterprise dataset, a frame of its values. Rules declared
``on = "value"`` run over the values; a failed value holds out its whole record. Each check
returns a boolean per row; messages and the records' raw text are made for the failing rows only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from validation.checks import CHECKS, Frame
from validation.registry import Rule, RuleSet
from warehouse.staging import canonical_text

QUARANTINE_COLUMNS = ["record_no", "record_key", "rule", "severity", "message", "raw"]

# The fields a message may name, taken from the failing row (of the frame the rule runs on).
MESSAGE_COLUMNS = [
    "record_no", "record_key", "indicator", "value_text", "unit", "status", "allowed_units",
    "min", "max", "ind_frequency", "release_frequency", "page", "page_zone", "uscc",
    "industry_code", "above_scale_raw",
]  # fmt: skip
# message fields made from a column of what was received, for the failing rows only
_TEXT_OF = {"value_text": "value_raw", "above_scale_raw": "above_scale_src"}


class RegistryMismatch(RuntimeError):
    """A declared rule without a check."""


def _texts(values: Sequence[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def quarantine_frame(rows: Sequence[Sequence[Any]] = ()) -> Frame:
    """Quarantine rows (QUARANTINE_COLUMNS, in order) as a frame."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(QUARANTINE_COLUMNS)
    out = {name: _texts(col) for name, col in zip(QUARANTINE_COLUMNS, cols, strict=True)}
    out["record_no"] = np.array(cols[0], dtype=np.int64)
    return Frame(out, len(rows))


@dataclass(frozen=True)
class BatchResult:
    """A validated batch: rows to load, and one quarantine row per (record, broken rule)."""

    good: Frame
    quarantine: Frame  # QUARANTINE_COLUMNS
    errored_records: int
    warned_records: int
    good_values: Frame | None = None  # enterprise dataset: the values of the good records
    warned: frozenset[int] = frozenset()  # the numbers of the records loaded with a warning


def _fmt(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def value_text(value: Any) -> str | None:
    """A value as received, as text (the string itself, a number written out, null: nothing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, str) else str(value)


def _fields(
    frame: Frame, rows: npt.NDArray[np.intp], names: list[str] | None = None
) -> list[dict[str, Any]]:
    """The message fields of some rows of a frame, as Python values (None: the frame has none)."""
    cols: dict[str, list[Any]] = {}
    for name in names if names is not None else _present(frame):
        source = _TEXT_OF.get(name)
        if source is not None and source in frame:
            cols[name] = [value_text(v) for v in frame[source][rows].tolist()]
        elif name in frame:
            cols[name] = frame[name][rows].tolist()
        else:
            cols[name] = [None] * len(rows)
    names = list(cols)
    return [dict(zip(names, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def _message(rule: Rule, row: dict[str, Any], context: dict[str, Any]) -> str:
    fields = {("frequency" if k == "ind_frequency" else k): _fmt(v) for k, v in row.items()}
    fields["value"] = row.get("value_text") if isinstance(row.get("value_text"), str) else "—"
    fields.update(context)
    prefix = (
        f"[{context['zone']} {context['period']} r{context['revision']}"
        f" #{row['record_no']} {row['record_key']}] "
    )
    return prefix + rule.message(fields)


class Validator:
    """The rules of one dataset, ready to run over normalized batches."""

    def __init__(self, rules: RuleSet, dataset: str) -> None:
        self.rules = rules
        self.dataset = dataset
        missing = [
            r.id
            for r in rules.for_dataset(dataset)
            if r.level in ("page", "record") and r.id not in CHECKS
        ]
        if missing:
            raise RegistryMismatch(f"rules without a check: {', '.join(missing)}")
        self.page_rules = rules.for_dataset(dataset, "page")
        declared = rules.for_dataset(dataset, "record")
        if dataset == "zone":
            # a zone record is one value: record and value rules run over the same frame
            self.record_rules = declared
            self.value_rules: list[Rule] = []
        else:
            self.record_rules = [r for r in declared if r.on == "record"]
            self.value_rules = [r for r in declared if r.on == "value"]

    def _page_failures(
        self, frame: Frame, context: dict[str, Any]
    ) -> tuple[npt.NDArray[np.intp], list[tuple[Any, ...]], int, set[int]]:
        """Hold out whole pages that fail a page rule: one quarantine row per page, key page:<n>.

        Returns the rows of the frame left after held-out pages, the page rows, how many records
        they held out, and the numbers of the records whose page broke a warning-level page rule
        (they load, and count as warned).
        """
        rows: list[tuple[Any, ...]] = []
        held = 0
        warned: set[int] = set()
        kept = np.arange(len(frame))
        for rule in self.page_rules:
            part = frame.take(kept) if len(kept) < len(frame) else frame
            failing = ~CHECKS[rule.id](part)
            if not failing.any():
                continue
            at = np.flatnonzero(failing)
            pages = part["page"][at]
            for page in np.unique(pages).tolist():
                grp = at[pages == page]
                key = f"page:{page}"
                fields = {
                    "page": page,
                    "page_zone": part["page_zone"][grp[0]],
                    "record_key": key,
                    **context,
                }
                prefix = (
                    f"[{context['zone']} {context['period']} r{context['revision']}"
                    f" {key}, {len(grp)} records] "
                )
                raw = "[" + ",".join(canonical_text(r) for r in part["records"][grp]) + "]"
                rows.append((0, key, rule.id, rule.severity, prefix + rule.message(fields), raw))
                if rule.severity == "error":
                    held += len(grp)
            if rule.severity == "error":
                kept = kept[~failing]
            else:
                warned |= set(part["record_no"][failing].tolist())
        # a page a later rule held out is not loaded with a warning: it is not loaded
        return kept, rows, held, warned & set(frame["record_no"][kept].tolist())

    def validate_batch(
        self, frame: Frame, context: dict[str, Any], values: Frame | None = None
    ) -> BatchResult:
        """Split a normalized batch into good rows and quarantine rows, vectorized over the batch.

        ``values`` (enterprise dataset) has a column ``rec``: the row of its record in ``frame``.
        """
        kept, page_rows, page_held, page_warned = self._page_failures(frame, context)
        if len(kept) < len(frame):
            if values is not None:
                values = _follow(values, kept, len(frame))
            frame = frame.take(kept)
        result = self._records(frame, values, context, page_warned)
        if not page_rows:
            return result
        q = result.quarantine
        pages = quarantine_frame(page_rows)
        merged = {c: np.concatenate([pages[c], q[c]]) for c in QUARANTINE_COLUMNS}
        return BatchResult(
            good=result.good,
            quarantine=Frame(merged),
            errored_records=result.errored_records + page_held,
            warned_records=result.warned_records,
            good_values=result.good_values,
            warned=result.warned,
        )

    @staticmethod
    def _failures(frame: Frame, rules: list[Rule]) -> list[tuple[int, Rule]]:
        """(row, rule) of every failed check."""
        out: list[tuple[int, Rule]] = []
        for rule in rules:
            out.extend((i, rule) for i in np.flatnonzero(~CHECKS[rule.id](frame)).tolist())
        return out

    def _records(
        self,
        frame: Frame,
        values: Frame | None,
        context: dict[str, Any],
        also_warned: set[int],
    ) -> BatchResult:
        # each failure as (record row, rule, the fields of the row its message names)
        found: list[tuple[int, Rule, dict[str, Any]]] = []
        failed = self._failures(frame, self.record_rules)
        both = values is not None and bool(self.value_rules)
        # with value rules, a message's fields are those of records and of values alike (the
        # ones its own row lacks are "—"), as when one table held both
        union = _union(frame, values) if both else None
        if failed:
            at = np.array([i for i, _ in failed], dtype=np.intp)
            for (i, rule), fields in zip(failed, _fields(frame, at, union), strict=True):
                found.append((i, rule, fields))
        if values is not None and self.value_rules:
            first: dict[tuple[int, str], int] = {}
            rec = values["rec"]
            for i, rule in self._failures(values, self.value_rules):
                # one row per (record, rule): the first broken value names the figure
                first.setdefault((int(rec[i]), rule.id), i)
            if first:
                pairs = list(first.items())
                vrows = np.array([i for _, i in pairs], dtype=np.intp)
                for ((r, rule_id), _), fields in zip(
                    pairs, _fields(values, vrows, union), strict=True
                ):
                    found.append((r, self.rules[rule_id], fields))
        record_no = frame["record_no"]
        bad_rows = sorted({r for r, rule, _ in found if rule.severity == "error"})
        bad = {int(record_no[r]) for r in bad_rows}
        warned = {int(record_no[r]) for r, rule, _ in found if rule.severity == "warning"}
        warned |= also_warned
        good, good_values = frame, values
        if bad_rows:
            keep = np.ones(len(frame), dtype=bool)
            keep[bad_rows] = False
            good = frame.take(keep)
            if values is not None:
                good_values = _follow(values, np.flatnonzero(keep), len(frame))
        rows: list[tuple[Any, ...]] = []
        for r, rule, fields in sorted(found, key=lambda f: (int(record_no[f[0]]), f[1].id)):
            no = int(record_no[r])
            key = str(frame["record_key"][r])
            raw = canonical_text(frame["records"][r])
            # messages are made only for failing records: the checks themselves stay vectorized
            row = {**fields, "record_key": key, "rule": rule.id, "severity": rule.severity}
            message = _message(rule, {**row, "raw": raw}, context)
            rows.append((no, key, rule.id, rule.severity, message, raw))
        return BatchResult(
            good=good,
            quarantine=quarantine_frame(rows),
            errored_records=len(bad),
            warned_records=len(warned - bad),
            good_values=good_values,
            warned=frozenset(warned - bad),
        )


def _follow(values: Frame, kept: npt.NDArray[np.intp], n: int) -> Frame:
    """The values of the records left at rows ``kept`` (of ``n``), ``rec`` renumbered to match."""
    renumber = np.full(n, -1, dtype=np.intp)
    renumber[kept] = np.arange(len(kept))
    new = renumber[values["rec"]]
    out = values.take(new >= 0)
    out["rec"] = new[new >= 0]
    return out


def _union(frame: Frame, values: Frame | None) -> list[str]:
    """The message fields either frame has."""
    have = {c for f in (frame, values) if f is not None for c in _present(f)}
    return [c for c in MESSAGE_COLUMNS if c in have]


def _present(frame: Frame) -> list[str]:
    return [c for c in MESSAGE_COLUMNS if c in frame or _TEXT_OF.get(c, "") in frame]
