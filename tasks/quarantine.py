"""Operator steps on quarantine rows: accept a figure the zone explained, mark one fixed.

Accepting an error loads the record as received (normalized the same way the pipeline does:
parsed, converted to the canonical unit) under the release it came in, once no other open error
holds it out. Warnings and release-level findings are acknowledged, nothing more to load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from tasks.normalize import enterprise_records_frames, zone_records_frame
from tasks.validate import enterprise_rows, zone_rows
from validation.registry import RuleSet
from warehouse import quality
from warehouse.quality import QuarantineError, QuarantineRow
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.periods import infer_frequency


@dataclass(frozen=True)
class AcceptResult:
    """What accepting a row did."""

    row: QuarantineRow
    loaded: bool  # the record is now in the observations
    still_held_by: tuple[int, ...] = ()  # other open errors that keep the record out


def _record_frames(
    row: QuarantineRow, catalog: Catalog
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The record of a quarantine row as observation rows (and its enterprise row)."""
    try:
        record = json.loads(row.raw)
    except ValueError as exc:
        raise QuarantineError(f"row {row.quarantine_id}: its raw record is not JSON") from exc
    key = row.key
    frequency = infer_frequency(key.period) or "M"
    item = [(0, key.zone_code, record)]
    common = {
        "first_record_no": row.record_no,
        "zone_code": key.zone_code,
        "period": key.period,
        "frequency": frequency,
        "catalog": catalog,
    }
    if key.dataset == "zone":
        f = zone_records_frame(item, **common)  # type: ignore[arg-type]
        usable = bool(f["known"].all() and f["unit_ok"].all() and not f["value_unparsable"].any())
        if not usable:
            raise QuarantineError(
                f"row {row.quarantine_id}: {row.record_key} cannot be represented as an "
                "observation (unknown indicator, unit or number); ask the zone to correct it"
            )
        return zone_rows(key.zone_code, key.period, frequency, key.revision, f), None
    frame, values = enterprise_records_frames(item, uscc_allow=frozenset(), **common)  # type: ignore[arg-type]
    reported = values[~values["value_missing"]]
    if (
        not (reported["known"].all() and reported["unit_ok"].all())
        or reported["value"].isna().any()
    ):
        raise QuarantineError(
            f"row {row.quarantine_id}: enterprise {row.record_key} has a value that cannot be "
            "represented (unknown indicator, unit or number); ask the zone to correct it"
        )
    return enterprise_rows(key.zone_code, key.period, key.revision, frame, values)


def accept_row(
    settings: WarehouseSettings,
    quarantine_id: int,
    note: str,
    operator: str,
    rules: RuleSet,
    catalog: Catalog,
) -> AcceptResult:
    """Accept one quarantine row with a note; load its record when nothing else holds it out."""
    if not note.strip():
        raise QuarantineError("an acceptance needs a note: what the zone said about the figure")
    wh = Warehouse(settings)
    row = quality.quarantine_row(wh, quarantine_id)
    if row.status != "open":
        raise QuarantineError(f"row {quarantine_id} is already {row.status}")
    rule = rules.rules.get(row.rule)
    if row.severity == "warning" or row.record_no == 0:
        if row.severity == "error":
            raise QuarantineError(
                f"row {quarantine_id} ({row.rule}) is about the release {row.key} as a whole, "
                "which was rejected; the zone must publish a corrected revision (then `fix`)"
            )
        # a warning's record is loaded already: accepting it records the explanation
        quality.accept(wh, row, note, operator, observations=None)
        return AcceptResult(row, loaded=False)
    if rule is None or not rule.acceptable:
        raise QuarantineError(
            f"row {quarantine_id}: a record held out by {row.rule} cannot be accepted "
            "(there is no figure to load as received); ask the zone for a corrected revision"
        )
    if quality.ledger_status(wh, row.load_id) != "loaded":
        raise QuarantineError(f"row {quarantine_id}: its release {row.key} is not loaded")
    others = [r for r in quality.open_errors_of_record(wh, row) if r.quarantine_id != quarantine_id]
    not_acceptable = [
        r for r in others if not getattr(rules.rules.get(r.rule), "acceptable", False)
    ]
    if not_acceptable:
        raise QuarantineError(
            f"row {quarantine_id}: the record is also held out by "
            f"{', '.join(f'{r.rule} (#{r.quarantine_id})' for r in not_acceptable)}, "
            "which cannot be accepted; ask the zone for a corrected revision"
        )
    if others:
        quality.accept(wh, row, note, operator, observations=None)
        return AcceptResult(row, loaded=False, still_held_by=tuple(r.quarantine_id for r in others))
    obs, dims = _record_frames(row, catalog)
    quality.accept(wh, row, note, operator, observations=obs, enterprise=dims)
    return AcceptResult(row, loaded=True)


def fix_row(settings: WarehouseSettings, quarantine_id: int, note: str, operator: str) -> int:
    """Mark one quarantine row fixed by the corrected revision loaded since; return its revision."""
    wh = Warehouse(settings)
    row = quality.quarantine_row(wh, quarantine_id)
    if row.status != "open":
        raise QuarantineError(f"row {quarantine_id} is already {row.status}")
    return quality.fix(wh, row, note or "corrected revision loaded", operator)
