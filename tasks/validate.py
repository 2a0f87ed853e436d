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
from validation.release_rules import (
    HISTORY_COLUMNS,
    ReleaseContext,
    ReleaseFindings,
    run_release_rules,
)
from warehouse.marts import zone_observations
from warehouse.staging import StagedWriter, iter_spool
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.metrics import timed
from zonestats.models import FetchedRelease, ValidatedRelease

BATCH_RECORDS = 20_000

# the rows of a release as staged for the load: the contract's observation columns less the
# load's own (load_id, loaded_at), whatever the warehouse's physical tables look like
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
    "enterprise": pa.schema(
        [
            ("zone_code", pa.string()),
            ("uscc", pa.string()),
            ("period", pa.string()),
            ("revision", pa.int32()),
            ("indicator_code", pa.string()),
            ("value", pa.float64()),
            ("unit", pa.string()),
        ]
    ),
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


def storable(texts: pd.Series) -> pd.Series:
    """Text as every warehouse can keep it: NUL (which PostgreSQL text cannot hold, and COPY
    refuses, failing the whole load) becomes U+FFFD; the raw archive keeps what was received."""
    return texts.map(lambda t: t.replace("\x00", "\ufffd") if isinstance(t, str) else t)


def storable_quarantine(q: pd.DataFrame) -> pd.DataFrame:
    """A quarantine frame whose texts (a record key and the message that quotes it) are storable."""
    if q.empty:
        return q
    return q.assign(**{c: storable(q[c]) for c in ("record_key", "message", "raw") if c in q})


def _record_key(dataset: str, record: Any) -> str | None:
    field = "indicator" if dataset == "zone" else "uscc"
    if isinstance(record, dict) and isinstance(record.get(field), str):
        return str(record[field]).strip()
    return None


def _digest(raw: str) -> bytes:
    """The identity of a record's content, from its canonical JSON."""
    return hashlib.blake2b(raw.encode(), digest_size=16).digest()


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
                contents.setdefault(key, set()).add(_digest(canonical_json(rec)))
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


def zone_rows(
    zone_code: str, period: str, frequency: str, revision: int, good: pd.DataFrame
) -> pd.DataFrame:
    """The obs_zone rows of a release's good zone records (normalized frame)."""
    return pd.DataFrame(
        {
            "zone_code": zone_code,
            "indicator_code": good["indicator"].astype(str),
            "period": period,
            "frequency": frequency,
            "revision": revision,
            "value": good["value"].astype("float64"),
            "unit": good["canonical_unit"].astype(str),
            "status": good["status"].astype(str),
        }
    )


def enterprise_rows(
    zone_code: str, period: str, revision: int, good: pd.DataFrame, values: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The obs_enterprise rows and the dim_enterprise rows of good enterprise records."""
    values = values[~values["value_missing"]]  # a value not reported is no observation
    uscc = good.set_index("record_no")["uscc"]
    obs = pd.DataFrame(
        {
            "zone_code": zone_code,
            "uscc": values["record_no"].map(uscc).astype(str),
            "period": period,
            "revision": revision,
            "indicator_code": values["indicator"].astype(str),
            "value": values["value"].astype("float64"),
            "unit": values["canonical_unit"].astype(str),
        }
    )
    dims = pd.DataFrame(
        {
            "uscc": good["uscc"].astype(str),
            "name": storable(good["name"]),
            "industry_code": good["industry_code"],
            "zone_code": zone_code,
            "above_scale": good["above_scale"],
            "period": period,
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


# the columns of a zone release's good records that the release rules read
_RELEASE_ROW_COLUMNS = [
    "record_no", "record_key", "indicator", "value", "status", "canonical_unit", "basis", "min",
    "ind_frequency", "raw",
]  # fmt: skip


def check_release(
    fetched: FetchedRelease,
    catalog: Catalog,
    rules: RuleSet,
    load_id: str,
    uscc_allow: frozenset[str] = frozenset(),
    history: pd.DataFrame | None = None,
) -> ValidatedRelease:
    """Normalize and validate a fetched release batch by batch; stage what loads and what not.

    The record rules run per batch; the release, cross-period and cross-dataset rules then run
    once over what they let through and ``history`` (the zone's current observations around the
    release, HISTORY_COLUMNS). Memory holds one batch of records (plus one digest per record for
    repeats and conflicts, the zone release's few good rows and the enterprises' sums), whatever
    the size of the release.
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
    received = errored = 0
    warned_count = 0  # enterprise dataset: warned records, counted per batch
    warned_nos: set[int] = set()  # zone dataset: warned record numbers (release rules add more)
    held_keys: set[str] = set()  # zone dataset: indicators an error held out
    good_parts: list[BatchResult] = []  # zone dataset: a release has one good row per indicator
    sums: dict[str, float] = {}  # enterprise dataset: each indicator over the good enterprises
    broken: Counter[str] = Counter()
    next_no = 1
    with ExitStack() as stack:
        obs_w = stack.enter_context(StagedWriter(obs_path, STAGED_OBS[ref.dataset]))
        q_w = stack.enter_context(StagedWriter(q_path, STAGED_QUARANTINE))
        dim_w = stack.enter_context(StagedWriter(dim_path, STAGED_DIM)) if dim_path else None
        for batch in _batches(fetched.spool):
            # a record repeated word for word (e.g. on two pages) is one record
            unique: list[tuple[Any, ...]] = []
            for item in batch:
                if item[1] != ref.zone_code:  # a foreign page is held out whole, as received
                    unique.append(item)
                    continue
                raw = canonical_json(item[2])  # made once: the digest and the raw column
                d = _digest(raw)
                if d not in seen:
                    seen.add(d)
                    unique.append((*item, raw))
            first, next_no = next_no, next_no + len(unique)
            with timed("normalize"):
                frame, values = _normalize(unique, first, ref, catalog, uscc_allow)
                frame["conflict"] = frame["record_key"].isin(conflicts)
            with timed("validate"):
                result = validator.validate_batch(frame, context, values)
            received += len(frame)
            errored += result.errored_records
            broken.update(result.quarantine["rule"].tolist())
            q_w.write(storable_quarantine(result.quarantine))
            if enterprise:
                warned_count += result.warned_records
                assert result.good_values is not None
                obs, dims = enterprise_rows(
                    ref.zone_code, ref.period, ref.revision, result.good, result.good_values
                )
                obs_w.write(obs)
                _add_sums(sums, obs)
                if dim_w is not None:
                    dim_w.write(dims)
            else:
                q = result.quarantine
                warned_nos |= set(q.loc[q["severity"] == "warning", "record_no"].astype(int))
                held_keys |= set(q.loc[q["severity"] == "error", "record_key"].astype(str))
                good_parts.append(result)
        findings = _release_rules(ref, catalog, rules, good_parts, held_keys, history, sums)
        q = findings.quarantine
        warned_nos |= set(q.loc[(q["severity"] == "warning") & (q["record_no"] > 0), "record_no"])
        q_w.write(storable_quarantine(findings.quarantine))
        broken.update(findings.quarantine["rule"].tolist())
        errored += len(findings.held_records)
        if not enterprise:
            warned_nos -= set(findings.held_records)
            for part in good_parts:
                good = part.good[~part.good["record_no"].isin(findings.held_records)]
                obs_w.write(zone_rows(ref.zone_code, ref.period, ref.frequency, ref.revision, good))
    return ValidatedRelease(
        ref=ref,
        load_id=load_id,
        obs=obs_path,
        quarantine=q_path,
        records_received=received,
        records_loaded=received - errored,
        records_quarantined=errored,
        records_warned=warned_count if enterprise else len(warned_nos),
        sha256=fetched.sha256,
        rules_broken=dict(broken),
        dims=dim_path,
        incomplete=findings.incomplete,
        rejection="; ".join(findings.release_errors) or None,
    )


def _add_sums(sums: dict[str, float], obs: pd.DataFrame) -> None:
    for code, total in obs.groupby("indicator_code")["value"].sum().items():
        sums[str(code)] = sums.get(str(code), 0.0) + float(total)


def _release_rules(
    ref: Any,
    catalog: Catalog,
    rules: RuleSet,
    good_parts: list[BatchResult],
    held_keys: set[str],
    history: pd.DataFrame | None,
    sums: dict[str, float],
) -> ReleaseFindings:
    """Run the release-level rules over a release's good records and what is loaded around it."""
    frames = [p.good[_RELEASE_ROW_COLUMNS] for p in good_parts if not p.good.empty]
    rows = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=_RELEASE_ROW_COLUMNS)
    )
    ctx = ReleaseContext(
        zone=ref.zone_code,
        dataset=ref.dataset,
        period=ref.period,
        frequency=ref.frequency,
        revision=ref.revision,
        catalog=catalog,
        rows=rows,
        held_out=frozenset(held_keys),
        history=history if history is not None else pd.DataFrame(columns=HISTORY_COLUMNS),
        enterprise_sums=sums,
    )
    with timed("validate"):
        return run_release_rules(ctx, rules)


def loaded_around(settings: WarehouseSettings, ref: Any) -> pd.DataFrame:
    """What the release rules compare a release with: the zone's current observations."""
    return zone_observations(Warehouse(settings), ref.year - 1, ref.year, ref.zone_code)


def first_findings(quarantine: Path, limit: int = 50) -> tuple[str, ...]:
    """The first messages of a staged quarantine file (errors first), for people to read."""
    q = pd.read_parquet(quarantine, columns=["severity", "message"])
    q = q.sort_values("severity", kind="stable")  # "error" sorts before "warning"
    return tuple(f"{s}: {m}" for s, m in zip(q["severity"], q["message"], strict=True))[:limit]
