"""Validate: normalize a fetched release batch by batch and split it into rows to load and quarantine."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tasks.catalog_columns import catalog_columns
from tasks.normalize import normalize_enterprise, normalize_zone
from validation.checks import Frame
from validation.engine import Validator
from validation.registry import RuleSet
from validation.release_rules import (
    ReleaseContext,
    ReleaseFindings,
    loaded_rows,
    release_rows,
    run_release_rules,
)
from warehouse.marts import zone_observations
from warehouse.staging import (
    DIGEST_SCHEMA,
    StagedWriter,
    canonical_bytes,
    iter_spool,
    read_digests,
    record_key,
)
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.metrics import timed
from zonestats.models import FetchedRelease, ValidatedRelease

# records per batch (whole pages): about one page of the API's largest, so that memory holds
# what one page makes whatever the size of the release (a 4× bigger province, the same peak)
BATCH_RECORDS = 1_000

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


def _storable(texts: pa.Array) -> pa.Array:
    """Arrow text with NUL made U+FFFD, as ``storable`` does for a frame."""
    return pc.replace_substring(texts, "\x00", "\ufffd")


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string())


# --- repeats and conflicts -------------------------------------------------------------------


def _digests(spool: Path, dataset: str) -> pa.Table:
    """Every record's (page zone, key, content digest): kept by the spool, or made from it."""
    table = read_digests(spool)
    if table is not None:
        return table
    zones: list[str] = []
    keys: list[str | None] = []
    digests: list[bytes] = []
    for page in iter_spool(spool):
        for rec in page["records"]:
            zones.append(page["zone_code"])
            keys.append(record_key(dataset, rec))
            digests.append(hashlib.blake2b(canonical_bytes(rec), digest_size=16).digest())
    return pa.table([zones, keys, pa.array(digests, pa.binary(16))], schema=DIGEST_SCHEMA)


def repeats_and_conflicts(
    spool: Path, dataset: str, zone_code: str
) -> tuple[npt.NDArray[np.bool_], frozenset[str]]:
    """Which records of the spool to keep (a record repeated word for word is one record), and
    the record keys that occur with more than one distinct content in the release.

    Pages of another zone are held out whole, so their records are all kept and conflict with
    nothing.
    """
    table = _digests(spool, dataset)
    n = table.num_rows
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep, frozenset()
    own = pc.equal(table["zone"], zone_code).to_numpy()
    own_rows = np.flatnonzero(own)
    digest = table["digest"].combine_chunks()
    raw = np.frombuffer(digest.buffers()[1], dtype="V16", count=len(digest) + digest.offset)
    own_digests = raw[digest.offset :][own_rows]
    _, first = np.unique(own_digests, return_index=True)
    if len(first) < len(own_rows):
        keep[own_rows] = False
        keep[own_rows[first]] = True
    keys = table["key"].filter(pa.array(own))
    named = keys.drop_null()
    if pc.count_distinct(named).as_py() == len(named):
        return keep, frozenset()  # no key twice: no conflict
    pairs = pa.table({"key": keys, "digest": digest.filter(pa.array(own))}).filter(
        pc.is_valid(keys)
    )
    counted = pairs.group_by("key", use_threads=False).aggregate([("digest", "count_distinct")])
    many = counted.filter(pc.greater(counted["digest_count_distinct"], 1))["key"]
    return keep, frozenset(many.to_pylist())


def conflicting_keys(spool: Path, dataset: str, zone_code: str) -> set[str]:
    """The record keys that occur with more than one distinct content in the release."""
    return set(repeats_and_conflicts(spool, dataset, zone_code)[1])


def _batches(spool: Path, keep: npt.NDArray[np.bool_]) -> Iterator[list[tuple[int, str, Any]]]:
    """The records to validate, whole pages per batch (page rules see a page at once)."""
    batch: list[tuple[int, str, Any]] = []
    at = 0
    for page in iter_spool(spool):
        records = page["records"]
        wanted = keep[at : at + len(records)]
        if not wanted.all():
            records = [r for r, k in zip(records, wanted.tolist(), strict=True) if k]
        at += len(page["records"])
        number, zone = page["page"], page["zone_code"]
        batch.extend(zip(repeat(number), repeat(zone), records))
        if len(batch) >= BATCH_RECORDS:
            yield batch
            batch = []
    if batch:
        yield batch


# --- the rows staged for the load ----------------------------------------------------------


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


def _zone_table(ref: Any, good: Frame) -> pa.Table:
    n = len(good)
    return pa.table(
        {
            "zone_code": pa.repeat(pa.scalar(ref.zone_code), n),
            "indicator_code": _strings(good["indicator"]),
            "period": pa.repeat(pa.scalar(ref.period), n),
            "frequency": pa.repeat(pa.scalar(ref.frequency), n),
            "revision": pa.repeat(pa.scalar(ref.revision, pa.int32()), n),
            "value": pa.array(good["value"], pa.float64(), from_pandas=True),
            "unit": _strings(good["canonical_unit"]),
            "status": _strings(good["status"]),
        },
        schema=STAGED_OBS["zone"],
    )


def _enterprise_tables(
    ref: Any, catalog: Catalog, good: Frame, values: Frame
) -> tuple[pa.Table, pa.Table]:
    """The obs_enterprise rows (reported values) and dim_enterprise rows of good enterprises."""
    cat = catalog_columns(catalog, "enterprise")
    # a value not reported is no observation
    reported = values.take(~values["value_missing"], ("rec", "ind", "value"))
    m, n = len(reported), len(good)
    ind = pa.array(reported["ind"])
    uscc = _strings(good["uscc"])
    obs = pa.table(
        {
            "zone_code": pa.repeat(pa.scalar(ref.zone_code), m),
            "uscc": uscc.take(pa.array(reported["rec"])),
            "period": pa.repeat(pa.scalar(ref.period), m),
            "revision": pa.repeat(pa.scalar(ref.revision, pa.int32()), m),
            "indicator_code": cat.code_text.take(ind),
            "value": pa.array(reported["value"], pa.float64(), from_pandas=True),
            "unit": cat.unit_text.take(ind),
        },
        schema=STAGED_OBS["enterprise"],
    )
    dims = pa.table(
        {
            "uscc": uscc,
            "name": _storable(_strings(good["name"])),
            "industry_code": _strings(good["industry_code"]),
            "zone_code": pa.repeat(pa.scalar(ref.zone_code), n),
            "above_scale": pa.array(good["above_scale"], pa.bool_()),
            "period": pa.repeat(pa.scalar(ref.period), n),
        },
        schema=STAGED_DIM,
    )
    return obs, dims


def _quarantine_table(q: Frame) -> pa.Table:
    """Quarantine rows as staged: texts storable (a key and the message that quotes it)."""
    return pa.table(
        {
            "record_no": pa.array(q["record_no"], pa.int32()),
            "record_key": _storable(_strings(q["record_key"])),
            "rule": _strings(q["rule"]),
            "severity": _strings(q["severity"]),
            "message": _storable(_strings(q["message"])),
            "raw": _storable(_strings(q["raw"])),
        },
        schema=STAGED_QUARANTINE,
    )


def _add_sums(sums: dict[str, float], codes: npt.NDArray[np.object_], values: Frame) -> None:
    reported = ~values["value_missing"]
    ind, value = values["ind"][reported], values["value"][reported]
    for k in np.unique(ind).tolist():
        code = str(codes[k])
        sums[code] = sums.get(code, 0.0) + float(value[ind == k].sum())


# --- the release -----------------------------------------------------------------------------

# the staged columns whose values repeat (Parquet dictionaries pay for these only)
_REPEATED = (
    "zone_code", "period", "frequency", "indicator_code", "unit", "status", "rule", "severity",
    "industry_code",
)  # fmt: skip


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
    keep, conflicts = repeats_and_conflicts(fetched.spool, ref.dataset, ref.zone_code)
    context = {"zone": ref.zone_code, "period": ref.period, "revision": ref.revision}
    stage_dir = fetched.spool.parent
    obs_path = stage_dir / f"{load_id}.obs.parquet"
    q_path = stage_dir / f"{load_id}.quarantine.parquet"
    dim_path = stage_dir / f"{load_id}.dim.parquet" if enterprise else None
    codes = catalog_columns(catalog, ref.dataset).code
    received = errored = 0
    warned_count = 0  # enterprise dataset: warned records, counted per batch
    warned_nos: set[int] = set()  # zone dataset: warned record numbers (release rules add more)
    held_keys: set[str] = set()  # zone dataset: indicators an error held out
    good_parts: list[Frame] = []  # zone dataset: a release has one good row per indicator
    sums: dict[str, float] = {}  # enterprise dataset: each indicator over the good enterprises
    broken: Counter[str] = Counter()
    next_no = 1
    with ExitStack() as stack:
        obs_w = stack.enter_context(StagedWriter(obs_path, STAGED_OBS[ref.dataset], _REPEATED))
        q_w = stack.enter_context(StagedWriter(q_path, STAGED_QUARANTINE, _REPEATED))
        dim_w = (
            stack.enter_context(StagedWriter(dim_path, STAGED_DIM, _REPEATED)) if dim_path else None
        )
        for items in _batches(fetched.spool, keep):
            first, next_no = next_no, next_no + len(items)
            with timed("normalize"):
                frame, values = _normalize(items, first, ref, catalog, uscc_allow)
                keys = frame["record_key"]
                frame["conflict"] = (
                    np.fromiter((k in conflicts for k in keys), bool, len(keys))
                    if conflicts
                    else np.zeros(len(keys), dtype=bool)
                )
            with timed("validate"):
                result = validator.validate_batch(frame, context, values)
            received += len(frame)
            errored += result.errored_records
            q = result.quarantine
            broken.update(q["rule"].tolist())
            if len(q):
                q_w.write(_quarantine_table(q))
            if enterprise:
                warned_count += result.warned_records
                assert result.good_values is not None
                obs, dims = _enterprise_tables(ref, catalog, result.good, result.good_values)
                obs_w.write(obs)
                _add_sums(sums, codes, result.good_values)
                if dim_w is not None:
                    dim_w.write(dims)
            else:
                # loaded with a warning: not a record an error holds out, nor a page's row
                warned_nos |= result.warned
                held_keys |= set(q["record_key"][q["severity"] == "error"].tolist())
                good_parts.append(result.good)
        findings = _release_rules(ref, catalog, rules, good_parts, held_keys, history, sums)
        q = findings.quarantine
        warned_nos |= set(
            q["record_no"][(q["severity"] == "warning") & (q["record_no"] > 0)].tolist()
        )
        if len(q):
            q_w.write(_quarantine_table(q))
        broken.update(q["rule"].tolist())
        errored += len(findings.held_records)
        if not enterprise:
            warned_nos -= set(findings.held_records)
            held = np.fromiter(findings.held_records, np.int64, len(findings.held_records))
            for part in good_parts:
                good = part.take(~np.isin(part["record_no"], held)) if len(held) else part
                if len(good):
                    obs_w.write(_zone_table(ref, good))
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


def _normalize(
    items: list[tuple[int, str, Any]],
    first: int,
    ref: Any,
    catalog: Catalog,
    uscc_allow: frozenset[str],
) -> tuple[Frame, Frame | None]:
    """The batch as typed columns: records, and for enterprises their values."""
    common = {
        "first_record_no": first,
        "zone_code": ref.zone_code,
        "period": ref.period,
        "frequency": ref.frequency,
        "catalog": catalog,
    }
    if ref.dataset == "enterprise":
        return normalize_enterprise(items, uscc_allow=uscc_allow, **common)
    return normalize_zone(items, **common), None


def _release_rules(
    ref: Any,
    catalog: Catalog,
    rules: RuleSet,
    good_parts: list[Frame],
    held_keys: set[str],
    history: pd.DataFrame | None,
    sums: dict[str, float],
) -> ReleaseFindings:
    """Run the release-level rules over a release's good records and what is loaded around it."""
    ctx = ReleaseContext(
        zone=ref.zone_code,
        dataset=ref.dataset,
        period=ref.period,
        frequency=ref.frequency,
        revision=ref.revision,
        catalog=catalog,
        rows=[row for part in good_parts for row in release_rows(part)],
        held_out=frozenset(held_keys),
        history=loaded_rows(history),
        enterprise_sums=sums,
    )
    with timed("validate"):
        return run_release_rules(ctx, rules)


def loaded_around(settings: WarehouseSettings, ref: Any) -> pd.DataFrame:
    """What the release rules compare a release with: the zone's current observations."""
    return zone_observations(Warehouse(settings), ref.year - 1, ref.year, ref.zone_code)


def first_findings(quarantine: Path, limit: int = 50) -> tuple[str, ...]:
    """The first messages of a staged quarantine file (errors first), for people to read."""
    q = pq.read_table(quarantine, columns=["severity", "message"]).to_pydict()
    rows = sorted(zip(q["severity"], q["message"], strict=True), key=lambda r: r[0])
    return tuple(f"{s}: {m}" for s, m in rows)[:limit]  # "error" sorts before "warning"
