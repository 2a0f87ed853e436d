"""Validate: normalize a fetched release batch by batch and split it into rows to load and quarantine."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.normalize import canonical_json, zone_records_frame
from validation.engine import Validator
from validation.registry import RuleSet
from warehouse.staging import StagedWriter, iter_spool
from zonestats.catalog import Catalog
from zonestats.models import FetchedRelease, ValidatedRelease

BATCH_RECORDS = 20_000

STAGED_OBS = {
    "zone": pa.schema(
        [
            ("zone_code", pa.string()),
            ("indicator_code", pa.string()),
            ("period", pa.string()),
            ("frequency", pa.string()),
            ("revision", pa.int32()),
            ("value", pa.float64()),
            ("unit", pa.string()),
            ("status", pa.string()),
        ]
    ),
}
STAGED_QUARANTINE = pa.schema(
    [
        ("record_no", pa.int32()),
        ("record_key", pa.string()),
        ("rule", pa.string()),
        ("severity", pa.string()),
        ("message", pa.string()),
        ("raw", pa.string()),
    ]
)


def _record_key(dataset: str, record: Any) -> str | None:
    field = "indicator" if dataset == "zone" else "uscc"
    if isinstance(record, dict) and isinstance(record.get(field), str):
        return str(record[field]).strip()
    return None


def _digest(record: Any) -> bytes:
    return hashlib.blake2b(canonical_json(record).encode(), digest_size=16).digest()


def conflicting_keys(spool: Path, dataset: str, zone_code: str) -> set[str]:
    """Pass one: the record keys that occur with more than one distinct content in the release.

    Pages of another zone are held out whole, so their records conflict with nothing.
    """
    contents: dict[str, set[bytes]] = {}
    for page in iter_spool(spool):
        if page["zone_code"] != zone_code:
            continue
        for rec in page["records"]:
            key = _record_key(dataset, rec)
            if key is not None:
                contents.setdefault(key, set()).add(_digest(rec))
    return {k for k, v in contents.items() if len(v) > 1}


def _batches(spool: Path) -> Iterator[list[tuple[int, str, Any]]]:
    batch: list[tuple[int, str, Any]] = []
    for page in iter_spool(spool):
        batch.extend((page["page"], page["zone_code"], rec) for rec in page["records"])
        if len(batch) >= BATCH_RECORDS:  # whole pages per batch: page rules see a page at once
            yield batch
            batch = []
    if batch:
        yield batch


def check_release(
    fetched: FetchedRelease, catalog: Catalog, rules: RuleSet, load_id: str
) -> ValidatedRelease:
    """Normalize and validate a fetched release; stage good rows and quarantine rows as Parquet."""
    ref = fetched.ref
    if ref.dataset not in STAGED_OBS:
        raise NotImplementedError(f"dataset {ref.dataset!r} is not handled yet")
    validator = Validator(rules, ref.dataset)
    conflicts = conflicting_keys(fetched.spool, ref.dataset, ref.zone_code)
    context = {"zone": ref.zone_code, "period": ref.period, "revision": ref.revision}
    stage_dir = fetched.spool.parent
    obs_path = stage_dir / f"{load_id}.obs.parquet"
    q_path = stage_dir / f"{load_id}.quarantine.parquet"
    seen: set[bytes] = set()
    received = errored = warned = 0
    broken: Counter[str] = Counter()
    next_no = 1
    with (
        StagedWriter(obs_path, STAGED_OBS[ref.dataset]) as obs_w,
        StagedWriter(q_path, STAGED_QUARANTINE) as q_w,
    ):
        for batch in _batches(fetched.spool):
            # a record repeated word for word (e.g. on two pages) is one record
            unique = []
            for item in batch:
                if item[1] != ref.zone_code:  # a foreign page is held out whole, as received
                    unique.append(item)
                    continue
                d = _digest(item[2])
                if d not in seen:
                    seen.add(d)
                    unique.append(item)
            frame = zone_records_frame(
                unique,
                first_record_no=next_no,
                zone_code=ref.zone_code,
                period=ref.period,
                frequency=ref.frequency,
                catalog=catalog,
            )
            next_no += len(unique)
            frame["conflict"] = frame["record_key"].isin(conflicts)
            result = validator.validate_batch(frame, context)
            received += len(frame)
            errored += result.errored_records
            warned += result.warned_records
            broken.update(result.quarantine["rule"].tolist())
            good = result.good
            obs_w.write(
                pd.DataFrame(
                    {
                        "zone_code": ref.zone_code,
                        "indicator_code": good["indicator"].astype(str),
                        "period": ref.period,
                        "frequency": ref.frequency,
                        "revision": ref.revision,
                        "value": good["value"].astype("float64"),
                        "unit": good["canonical_unit"].astype(str),
                        "status": good["status"].astype(str),
                    }
                )
            )
            q_w.write(result.quarantine)
    return ValidatedRelease(
        ref=ref,
        load_id=load_id,
        obs=obs_path,
        quarantine=q_path,
        records_received=received,
        records_loaded=received - errored,
        records_quarantined=errored,
        records_warned=warned,
        sha256=fetched.sha256,
        rules_broken=dict(broken),
    )
