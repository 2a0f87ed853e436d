"""Validate: normalize a fetched release batch by batch and split it into rows to load and quarantine."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tasks.normalize import canonical_json, enterprise_records_frames, zone_records_frame
from validation.engine import BatchResult, Validator
from validation.registry import RuleSet
from warehouse.arrow import arrow_schema
from warehouse.schema import OBS_TABLES
from warehouse.staging import StagedWriter, iter_spool
from zonestats.catalog import Catalog
from zonestats.metrics import timed
from zonestats.models import FetchedRelease, ValidatedRelease

BATCH_RECORDS = 20_000

# the rows of a release as staged for the load: the observation table's columns less the load's own
STAGED_OBS = {
    dataset: arrow_schema(table, drop=("load_id", "loaded_at"))
    for dataset, table in OBS_TABLES.items()
}
STAGED_DIM = pa.schema(
    [
        ("uscc", pa.string()),
        ("name", pa.string()),
        ("industry_code", pa.string()),
        ("zone_code", pa.string()),
        ("above_scale", pa.bool_()),
        ("period", pa.string()),
    ]
)
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


def _zone_rows(ref: Any, result: BatchResult) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    good = result.good
    obs = pd.DataFrame(
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
    return obs, None


def _enterprise_rows(ref: Any, result: BatchResult) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    good, values = result.good, result.good_values
    assert values is not None
    values = values[~values["value_missing"]]  # a value not reported is no observation
    uscc = good.set_index("record_no")["uscc"]
    obs = pd.DataFrame(
        {
            "zone_code": ref.zone_code,
            "uscc": values["record_no"].map(uscc).astype(str),
            "period": ref.period,
            "revision": ref.revision,
            "indicator_code": values["indicator"].astype(str),
            "value": values["value"].astype("float64"),
            "unit": values["canonical_unit"].astype(str),
        }
    )
    dims = pd.DataFrame(
        {
            "uscc": good["uscc"].astype(str),
            "name": good["name"],
            "industry_code": good["industry_code"],
            "zone_code": ref.zone_code,
            "above_scale": good["above_scale"],
            "period": ref.period,
        }
    )
    return obs, dims


def _normalize(
    items: list[tuple[int, str, Any]],
    first: int,
    ref: Any,
    catalog: Catalog,
    uscc_allow: frozenset[str],
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The batch as typed frames: records, and for enterprises their values."""
    if ref.dataset == "enterprise":
        return enterprise_records_frames(
            items,
            first_record_no=first,
            zone_code=ref.zone_code,
            period=ref.period,
            frequency=ref.frequency,
            catalog=catalog,
            uscc_allow=uscc_allow,
        )
    frame = zone_records_frame(
        items,
        first_record_no=first,
        zone_code=ref.zone_code,
        period=ref.period,
        frequency=ref.frequency,
        catalog=catalog,
    )
    return frame, None


def check_release(
    fetched: FetchedRelease,
    catalog: Catalog,
    rules: RuleSet,
    load_id: str,
    uscc_allow: frozenset[str] = frozenset(),
) -> ValidatedRelease:
    """Normalize and validate a fetched release batch by batch; stage what loads and what not.

    Memory holds one batch of records (plus one digest per record for repeats and conflicts),
    whatever the size of the release.
    """
    ref = fetched.ref
    if ref.dataset not in STAGED_OBS:
        raise NotImplementedError(f"dataset {ref.dataset!r} is not handled")
    enterprise = ref.dataset == "enterprise"
    validator = Validator(rules, ref.dataset)
    conflicts = conflicting_keys(fetched.spool, ref.dataset, ref.zone_code)
    context = {"zone": ref.zone_code, "period": ref.period, "revision": ref.revision}
    stage_dir = fetched.spool.parent
    obs_path = stage_dir / f"{load_id}.obs.parquet"
    q_path = stage_dir / f"{load_id}.quarantine.parquet"
    dim_path = stage_dir / f"{load_id}.dim.parquet" if enterprise else None
    seen: set[bytes] = set()
    received = errored = warned = 0
    broken: Counter[str] = Counter()
    next_no = 1
    with ExitStack() as stack:
        obs_w = stack.enter_context(StagedWriter(obs_path, STAGED_OBS[ref.dataset]))
        q_w = stack.enter_context(StagedWriter(q_path, STAGED_QUARANTINE))
        dim_w = stack.enter_context(StagedWriter(dim_path, STAGED_DIM)) if dim_path else None
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
            first, next_no = next_no, next_no + len(unique)
            with timed("normalize"):
                frame, values = _normalize(unique, first, ref, catalog, uscc_allow)
                frame["conflict"] = frame["record_key"].isin(conflicts)
            with timed("validate"):
                result = validator.validate_batch(frame, context, values)
            received += len(frame)
            errored += result.errored_records
            warned += result.warned_records
            broken.update(result.quarantine["rule"].tolist())
            obs, dims = (_enterprise_rows if enterprise else _zone_rows)(ref, result)
            obs_w.write(obs)
            if dim_w is not None and dims is not None:
                dim_w.write(dims)
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
        dims=dim_path,
    )
