"""What a revision changed: the pure comparison of two revisions of one release.

A release's rows are keyed by indicator (zone dataset) or by enterprise and indicator
(enterprise dataset). A key in both revisions whose value, status or unit differs is
``changed`` (old and new value, their difference, the difference in percent of the old value);
a key only in the new revision is ``added``, only in the old ``removed``. A record is what a
zone reports as one: an indicator row, or an enterprise with all its values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

#: per dataset, the key of a row within a release
DIFF_KEYS: dict[str, tuple[str, ...]] = {
    "zone": ("indicator_code",),
    "enterprise": ("uscc", "indicator_code"),
}
#: per dataset, what one record is: an indicator row, an enterprise
RECORD: dict[str, str] = {"zone": "indicator_code", "enterprise": "uscc"}
CHANGES = ("changed", "added", "removed")
DIFF_COLUMNS = (
    "change", "unit", "old_value", "new_value", "difference", "pct", "old_status", "new_status",
)  # fmt: skip


@dataclass(frozen=True)
class RevisionDiff:
    """The rows two revisions of a release differ in, and the records added and removed."""

    dataset: str
    #: the keys of ``DIFF_KEYS`` then ``DIFF_COLUMNS``: changed rows first, then added, removed
    rows: pd.DataFrame
    records_added: tuple[str, ...]
    records_removed: tuple[str, ...]

    def count(self, change: str) -> int:
        """How many rows changed, were added or were removed."""
        return int((self.rows["change"] == change).sum())

    def largest(self) -> dict[str, Any] | None:
        """The changed row with the largest change in percent (absolute), a moved figure first.

        A change in percent compares across indicators. A figure that moved from 0 or from
        nothing has none: it counts as larger than any percent (by its size among such). A
        status that alone changed comes last.
        """
        changed = self.rows[self.rows["change"] == "changed"]
        if changed.empty:
            return None
        old, new = changed["old_value"], changed["new_value"]
        moved = ~((old == new) | (old.isna() & new.isna()))
        pct = changed["pct"].abs().where(changed["pct"].notna(), math.inf)
        order = pd.DataFrame(
            {
                "moved": moved,
                "pct": pct.where(moved, 0.0),
                "size": changed["difference"].abs().fillna(0.0),
            }
        )
        best = order.sort_values(["moved", "pct", "size"], ascending=False, kind="stable").index[0]
        return dict(changed.loc[best])


def _number(value: Any) -> float | None:
    if value is None or value is pd.NA:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _same(a: Any, b: Any) -> bool:
    left, right = _number(a), _number(b)
    return left == right  # None == None: both missing


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _by_key(frame: pd.DataFrame, keys: tuple[str, ...]) -> dict[tuple[str, ...], Mapping[str, Any]]:
    return {tuple(str(r[k]) for k in keys): r for r in frame.to_dict("records")}


def diff_revisions(old: pd.DataFrame, new: pd.DataFrame, dataset: str) -> RevisionDiff:
    """Compare two revisions' rows (the keys of the dataset, ``value``, ``unit``, ``status``).

    ``status`` is optional (the enterprise dataset has none). Values are compared exactly: the
    warehouse stores what was received, so an unchanged figure is the same float.
    """
    keys = DIFF_KEYS[dataset]
    before, after = _by_key(old, keys), _by_key(new, keys)
    rows: list[dict[str, Any]] = []
    for change in CHANGES:
        if change == "changed":
            wanted = [k for k in after if k in before]
        elif change == "added":
            wanted = [k for k in after if k not in before]
        else:
            wanted = [k for k in before if k not in after]
        for key in sorted(wanted):
            was, now = before.get(key, {}), after.get(key, {})
            old_value, new_value = _number(was.get("value")), _number(now.get("value"))
            old_status, new_status = _text(was.get("status")), _text(now.get("status"))
            unit = _text(now.get("unit")) if now else _text(was.get("unit"))
            if change == "changed" and (
                _same(old_value, new_value)
                and old_status == new_status
                and _text(was.get("unit")) == unit
            ):
                continue
            difference = (
                # in decimal: 358830.2 − 356223.6 is 2606.6, not 2606.600000000035
                float(Decimal(repr(new_value)) - Decimal(repr(old_value)))
                if old_value is not None and new_value is not None
                else None
            )
            pct = (
                difference / abs(old_value) * 100
                if difference is not None and old_value not in (None, 0.0)
                else None
            )
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "change": change,
                    "unit": unit,
                    "old_value": old_value,
                    "new_value": new_value,
                    "difference": difference,
                    "pct": pct,
                    "old_status": old_status,
                    "new_status": new_status,
                }
            )
    frame = pd.DataFrame(rows, columns=[*keys, *DIFF_COLUMNS])
    for column in ("old_value", "new_value", "difference", "pct"):
        frame[column] = frame[column].astype("float64")
    record = RECORD[dataset]
    had = {str(v) for v in old[record]} if len(old) else set()
    has = {str(v) for v in new[record]} if len(new) else set()
    return RevisionDiff(
        dataset=dataset,
        rows=frame,
        records_added=tuple(sorted(has - had)),
        records_removed=tuple(sorted(had - has)),
    )
