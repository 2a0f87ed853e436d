"""What revisions changed: a release's two revisions compared, and the run's revisions noted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from marts.revisions import RevisionDiff, diff_revisions
from warehouse.history import release_revisions, revision_rows
from warehouse.store import Warehouse
from zonestats.config import WarehouseSettings
from zonestats.models import ReleaseKey
from zonestats.steps import step
from zonestats.summary import RevisionNote, describe_change


class NoSuchRevision(LookupError):
    """The revisions asked for are not loaded (the message lists those that are)."""


@dataclass(frozen=True)
class ReleaseDiff:
    """Two loaded revisions of one release, when each loaded, and what changed between them."""

    key: ReleaseKey  # the release at the newer revision
    previous: int
    previous_loaded_at: pd.Timestamp
    loaded_at: pd.Timestamp
    diff: RevisionDiff


def _pick(revisions: list[int], old: int | None, new: int | None, what: str) -> tuple[int, int]:
    """The revisions to compare: by default the last two loaded; either end may be given."""
    loaded = ", ".join(f"r{r}" for r in revisions) or "none"
    for asked in (old, new):
        if asked is not None and asked not in revisions:
            raise NoSuchRevision(f"{what}: revision {asked} is not loaded (loaded: {loaded})")
    if new is None:
        new = max((r for r in revisions if old is None or r > old), default=None)
    if old is None and new is not None:
        old = max((r for r in revisions if r < new), default=None)
    if old is None or new is None:
        raise NoSuchRevision(f"{what}: nothing to compare (loaded: {loaded})")
    return old, new


def release_diff(
    settings: WarehouseSettings,
    zone_code: str,
    dataset: str,
    period: str,
    old: int | None = None,
    new: int | None = None,
) -> ReleaseDiff:
    """Compare two loaded revisions of a release (default: the last two); NoSuchRevision if not."""
    wh = Warehouse(settings)
    loaded = release_revisions(wh, zone_code, dataset, period).set_index("revision")
    what = f"{zone_code} {dataset} {period}"
    old, new = _pick([int(r) for r in loaded.index], old, new, what)
    rows = {r: revision_rows(wh, dataset, zone_code, period, r) for r in (old, new)}
    return ReleaseDiff(
        key=ReleaseKey(zone_code, dataset, period, new),
        previous=old,
        previous_loaded_at=loaded.loc[old, "loaded_at"],
        loaded_at=loaded.loc[new, "loaded_at"],
        diff=diff_revisions(rows[old], rows[new], dataset),
    )


def note_release_revisions(
    settings: WarehouseSettings, loaded: Iterable[ReleaseKey]
) -> list[RevisionNote]:
    """Each release a run loaded at a revision replacing one the warehouse held: what changed.

    A release first loaded at a revision above 1 (its earlier ones were never loaded) replaced
    nothing here: no note.
    """
    notes = []
    for key in sorted(k for k in loaded if k.revision > 1):
        try:
            found = release_diff(settings, key.zone_code, key.dataset, key.period, new=key.revision)
        except NoSuchRevision:
            continue
        d = found.diff
        notes.append(
            RevisionNote(
                zone_code=key.zone_code,
                dataset=key.dataset,
                period=key.period,
                revision=key.revision,
                previous=found.previous,
                changed=d.count("changed"),
                added=d.count("added"),
                removed=d.count("removed"),
                largest=describe_change(d.largest(), key.dataset),
            )
        )
    return notes


note_revisions = step(name="revision-notes")(note_release_revisions)
