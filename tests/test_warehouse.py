"""The warehouse on SQLite and PostgreSQL: one transaction per release, idempotent, Parquet = SQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tasks.runtime import shipped_rules
from tasks.validate import check_release
from warehouse import schema
from warehouse.paths import UnsafePathError, release_file, table_root
from warehouse.staging import RawSpool
from warehouse.store import LoadConflict, Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import WarehouseSettings
from zonestats.models import FetchedRelease, ReleaseKey, ReleaseRef, ValidatedRelease
from zonestats.sources.base import Page

T0 = datetime(2026, 11, 15, 2, 0, tzinfo=UTC)

GOOD = [
    {"indicator": "revenue", "value": "1,234,567.8", "unit": "万元", "status": "A"},
    {"indicator": "tax_revenue", "value": 123456, "unit": "元"},
    {"indicator": "green_electricity", "value": None, "unit": "万千瓦时", "status": "M"},
]
BAD = [{"indicator": "energy_consumption", "value": "-5", "unit": "吨标准煤"}]


def ref_for(period: str = "2026-10", revision: int = 1, published: datetime = T0) -> ReleaseRef:
    return ReleaseRef("TY01", "zone", period, "M", revision, published, 4)


def stage(
    wh: Warehouse,
    ref: ReleaseRef,
    records: list[dict[str, object]],
    lease: timedelta = timedelta(hours=1),
) -> tuple[ValidatedRelease, Path]:
    """Begin the release in the ledger, spool its records and validate them, as a run does."""
    load_id = wh.begin_release(ref, "flow-run-1", lease)
    assert load_id is not None
    spool = release_file(wh.data_dir, "staging", ref.key) / load_id / "pages.jsonl"
    with RawSpool(spool) as s:
        s.write(Page(1, ref.zone_code, ref.dataset, ref.period, ref.revision, records, 100))
    fetched = FetchedRelease(ref, spool, s.pages, s.records, s.sha256)
    # the record rules only: these tests are about loading; a partial release would also be
    # warned about its missing mandatory indicators (tests/test_release_rules.py)
    rules = shipped_rules().at_levels("page", "record")
    return check_release(fetched, shipped_catalog(), rules, load_id), spool


@pytest.fixture
def wh(warehouse_url: str, tmp_path: Path) -> Warehouse:
    w = Warehouse(WarehouseSettings(SecretStr(warehouse_url), tmp_path / "data"))
    w.ensure_schema(shipped_catalog())
    return w


def count(wh: Warehouse, table: schema.Table) -> int:
    with wh.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_reference_tables_written_once(wh: Warehouse) -> None:
    wh.ensure_schema(shipped_catalog())  # a second call updates, never duplicates
    assert count(wh, schema.dim_zone) == 11
    assert count(wh, schema.dim_indicator) == 32


def test_release_loads_reconciled_and_parquet_equals_sql(wh: Warehouse) -> None:
    ref = ref_for()
    validated, spool = stage(wh, ref, GOOD + BAD)
    wh.load_release(validated, spool=spool)

    ledger = wh.ledger().iloc[0]
    assert ledger["status"] == "loaded"
    assert (
        ledger["records_received"],
        ledger["records_loaded"],
        ledger["records_quarantined"],
    ) == (4, 3, 1)
    assert ledger["records_received"] == ledger["records_loaded"] + ledger["records_quarantined"]
    assert ledger["source_sha256"] == validated.sha256

    with wh.connect() as conn:
        sql = pd.DataFrame(conn.execute(select(schema.obs_zone)).mappings().all())
        q = pd.DataFrame(conn.execute(select(schema.quarantine)).mappings().all())
    values = dict(zip(sql["indicator_code"], sql["value"], strict=True))
    assert values["revenue"] == pytest.approx(1234567.8)
    assert values["tax_revenue"] == 12.3456  # 元 -> 万元, exact
    assert pd.isna(values["green_electricity"])
    assert q[["record_key", "rule", "severity", "status"]].values.tolist() == [
        ["energy_consumption", "value_below_min", "error", "open"]
    ]
    assert "TY01" in q["message"][0]
    assert "2026-10" in q["message"][0]

    path = release_file(wh.data_dir, "obs_zone", ref.key)
    assert path == wh.data_dir / "parquet/obs_zone/year=2026/zone_code=TY01/zone-2026-10-r1.parquet"
    parquet = pd.read_parquet(table_root(wh.data_dir, "obs_zone"))
    assert set(parquet.columns) == {c.name for c in schema.obs_zone.columns} | {"year"}
    cols = ["indicator_code", "period", "revision", "value", "unit", "status", "load_id"]
    left = parquet[cols].sort_values("indicator_code").reset_index(drop=True)
    right = sql[cols].sort_values("indicator_code").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)
    assert pq.read_table(release_file(wh.data_dir, "quarantine", ref.key)).num_rows == 1
    assert release_file(wh.data_dir, "raw", ref.key).exists()  # the pages as received are kept
    assert not list(wh.data_dir.rglob("*.tmp"))


def test_loading_again_adds_nothing(wh: Warehouse) -> None:
    ref = ref_for()
    validated, spool = stage(wh, ref, GOOD)
    wh.load_release(validated, spool=spool)
    assert wh.begin_release(ref, "flow-run-2") is None
    assert wh.is_loaded(ref.key)
    with pytest.raises(LoadConflict):
        wh.load_release(validated)  # the same validated release pushed twice
    assert count(wh, schema.obs_zone) == 3
    assert wh.ledger().iloc[0]["attempts"] == 1


def test_release_is_all_in_or_all_out(wh: Warehouse) -> None:
    ref = ref_for()
    validated, spool = stage(wh, ref, GOOD + BAD)
    # the same row twice in the staged observations breaks the primary key mid-load
    frame = pd.read_parquet(validated.obs)
    pd.concat([frame, frame.iloc[:1]]).to_parquet(validated.obs, index=False)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        wh.load_release(validated, spool=spool)
    assert count(wh, schema.obs_zone) == 0
    assert count(wh, schema.quarantine) == 0
    assert wh.ledger().iloc[0]["status"] == "running"
    assert wh.watermark("TY01", "zone") is None
    assert not (wh.data_dir / "parquet").exists() or not list((wh.data_dir / "parquet").rglob("*"))
    wh.finish_release(ref, validated.load_id, "failed", "broke on purpose")
    assert wh.ledger().iloc[0]["status"] == "failed"


def test_a_claimed_release_is_not_claimed_again_until_its_lease_ends(wh: Warehouse) -> None:
    ref = ref_for()
    stage(wh, ref, GOOD)
    assert wh.begin_release(ref, "another-run") is None  # the first holder is alive
    assert wh.ledger().iloc[0]["attempts"] == 1


def test_a_run_that_lost_the_release_loads_nothing(wh: Warehouse) -> None:
    ref = ref_for()
    # the first holder's lease runs out (it hung or died), so another run takes the release over
    first, spool = stage(wh, ref, GOOD, lease=timedelta(0))
    second, _ = stage(wh, ref, GOOD)
    with pytest.raises(LoadConflict):
        wh.load_release(first, spool=spool)
    wh.load_release(second)
    assert count(wh, schema.obs_zone) == 3
    assert wh.ledger().iloc[0]["attempts"] == 2


def test_revision_adds_rows_and_keeps_the_old_ones(wh: Warehouse) -> None:
    r1 = ref_for()
    v1, s1 = stage(wh, r1, GOOD)
    wh.load_release(v1, spool=s1)
    r2 = ref_for(revision=2, published=T0 + timedelta(days=7))
    changed = [dict(GOOD[0], value="1,300,000"), *GOOD[1:]]
    v2, s2 = stage(wh, r2, changed)
    wh.load_release(v2, spool=s2)
    with wh.connect() as conn:
        rows = conn.execute(
            select(schema.obs_zone.c.revision, schema.obs_zone.c.value)
            .where(schema.obs_zone.c.indicator_code == "revenue")
            .order_by(schema.obs_zone.c.revision)
        ).all()
    assert [tuple(r) for r in rows] == [(1, pytest.approx(1234567.8)), (2, 1300000.0)]
    assert wh.watermark("TY01", "zone") == r2.published_at


def test_watermark_never_passes_a_failed_release(wh: Warehouse) -> None:
    early = ref_for("2026-09", published=T0)
    late = ref_for("2026-10", published=T0 + timedelta(days=30))
    lid = wh.begin_release(early, None)
    assert lid is not None
    wh.finish_release(early, lid, "failed", "HTTP 503")
    v, s = stage(wh, late, GOOD)
    wh.load_release(v, spool=s)
    assert wh.watermark("TY01", "zone") is None  # the next run must list 2026-09 again
    v, s = stage(wh, early, GOOD)
    wh.load_release(v, spool=s)
    assert wh.watermark("TY01", "zone") == early.published_at


def test_failed_error_text_is_redacted_and_staging_cleared(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zonestats.config import ZoneSource
    from zonestats.secrets import resolve_token

    monkeypatch.setenv("TOKEN_FOR_TEST", "s3cr3t-token-value")
    resolve_token(ZoneSource("TY01", "api-v1", "http://x", "TOKEN_FOR_TEST"))
    ref = ref_for()
    validated, spool = stage(wh, ref, GOOD)
    wh.finish_release(
        ref, validated.load_id, "failed", "boom with s3cr3t-token-value inside", spool.parent
    )
    assert wh.ledger().iloc[0]["last_error"] == "boom with *** inside"
    assert not spool.parent.exists()


@pytest.mark.parametrize(
    "key",
    [
        ReleaseKey("../etc", "zone", "2026-10", 1),
        ReleaseKey("TY01", "zone", "2026-10/../../x", 1),
        ReleaseKey("TY01", "../zone", "2026-10", 1),
        ReleaseKey("TY01", "zone", "2026-10", 0),
    ],
)
def test_paths_from_payload_values_are_validated(key: ReleaseKey, tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError):
        release_file(tmp_path, "obs_zone", key)


def test_validated_release_keeps_counts(wh: Warehouse) -> None:
    validated, _ = stage(wh, ref_for(), GOOD + BAD + [GOOD[0]])  # a verbatim repeat counts once
    assert dataclasses.astuple(validated)[4:8] == (4, 3, 1, 0)


ENTERPRISES = [
    {
        "uscc": "91350100M000100Y43",
        "name": "山西示例新材料有限公司",
        "industry_code": "C3011",
        "above_scale": True,
        "values": {
            "revenue": "8,800.2",
            "tax_revenue": "310.5",
            "employees": "312",
            "land_area": "8",
        },
        "units": {"land_area": "公顷"},
    },
    {
        "uscc": "91440101MA5CJQ4N59",
        "name": "示例装备制造有限公司",
        "industry_code": "C3411",
        "above_scale": False,
        "values": {"revenue": 1200, "employees": "40"},
    },
    {
        "uscc": "91350203M0001QAY9B",
        "name": "校验码错误公司",
        "industry_code": "C3011",
        "above_scale": True,
        "values": {"revenue": "10"},
    },
]


def ent_ref(period: str, published: datetime = T0) -> ReleaseRef:
    return ReleaseRef("TY01", "enterprise", period, "M", 1, published, 3)


def test_enterprise_release_loads_observations_dims_and_quarantine(wh: Warehouse) -> None:
    ref = ent_ref("2026-09")
    validated, spool = stage(wh, ref, ENTERPRISES)
    assert (
        validated.records_received,
        validated.records_loaded,
        validated.records_quarantined,
    ) == (3, 2, 1)
    wh.load_release(validated, spool=spool)
    with wh.connect() as conn:
        obs = pd.DataFrame(conn.execute(select(schema.obs_enterprise)).mappings().all())
        dims = pd.DataFrame(conn.execute(select(schema.dim_enterprise)).mappings().all())
        q = pd.DataFrame(conn.execute(select(schema.quarantine)).mappings().all())
    got = {(r.uscc, r.indicator_code): r.value for r in obs.itertuples()}
    assert got == {
        ("91350100M000100Y43", "revenue"): 8800.2,
        ("91350100M000100Y43", "tax_revenue"): 310.5,
        ("91350100M000100Y43", "employees"): 312.0,
        ("91350100M000100Y43", "land_area"): 120.0,  # 8 公顷 = 120 亩
        ("91440101MA5CJQ4N59", "revenue"): 1200.0,
        ("91440101MA5CJQ4N59", "employees"): 40.0,
    }
    assert set(obs["unit"]) == {"万元", "人", "亩"}
    assert q[["record_key", "rule", "severity"]].values.tolist() == [
        ["91350203M0001QAY9B", "uscc_invalid", "error"]
    ]
    assert sorted(dims["uscc"]) == ["91350100M000100Y43", "91440101MA5CJQ4N59"]
    assert set(dims["first_period"]) == {"2026-09"}
    assert set(dims["last_period"]) == {"2026-09"}
    path = release_file(wh.data_dir, "obs_enterprise", ref.key)
    assert (
        path
        == wh.data_dir
        / "parquet/obs_enterprise/year=2026/zone_code=TY01/enterprise-2026-09-r1.parquet"
    )
    assert pq.read_table(path).num_rows == 6


def test_dim_enterprise_keeps_what_was_last_reported(wh: Warehouse) -> None:
    renamed = [dict(ENTERPRISES[0], name="新名称有限公司", above_scale=False)]
    for period, recs in (
        ("2026-09", ENTERPRISES[:1]),
        ("2026-10", renamed),
        ("2026-08", ENTERPRISES[:1]),
    ):
        validated, spool = stage(wh, ent_ref(period), recs)
        wh.load_release(validated, spool=spool)
    with wh.connect() as conn:
        row = conn.execute(select(schema.dim_enterprise)).mappings().one()
    assert row["name"] == "新名称有限公司"  # a late-arriving older period does not undo it
    assert row["above_scale"] is False
    assert (row["first_period"], row["last_period"]) == ("2026-08", "2026-10")


def test_current_view_shows_the_latest_loaded_revision(wh: Warehouse) -> None:
    from sqlalchemy import text

    v1, s1 = stage(wh, ref_for(), GOOD)
    wh.load_release(v1, spool=s1)
    with wh.connect() as conn:
        before = conn.execute(
            text("SELECT revision, value FROM obs_zone_current WHERE indicator_code = 'revenue'")
        ).all()
    assert [tuple(r) for r in before] == [(1, pytest.approx(1234567.8))]
    r2 = ref_for(revision=2, published=T0 + timedelta(days=7))
    v2, s2 = stage(wh, r2, [dict(GOOD[0], value="1,300,000"), *GOOD[1:]])
    wh.load_release(v2, spool=s2)
    # a third revision that only began (not loaded) must not show
    assert wh.begin_release(ref_for(revision=3, published=T0 + timedelta(days=9)), None)
    with wh.connect() as conn:
        after = conn.execute(
            text("SELECT revision, value FROM obs_zone_current WHERE indicator_code = 'revenue'")
        ).all()
        n_all = conn.execute(text("SELECT count(*) FROM obs_zone")).scalar_one()
        n_current = conn.execute(text("SELECT count(*) FROM obs_zone_current")).scalar_one()
    assert [tuple(r) for r in after] == [(2, 1300000.0)]
    assert (n_all, n_current) == (6, 3)
    wh.ensure_schema(shipped_catalog())  # views already there: nothing breaks, nothing doubles


def test_dim_enterprise_upsert_of_one_release_with_an_enterprise_twice(wh: Warehouse) -> None:
    import pyarrow as pa

    rows = pa.table(
        {
            "uscc": ["91350100M000100Y43", "91440101MA5CJQ4N59", "91350100M000100Y43"],
            "name": ["旧名称", "乙公司", "新名称"],
            "industry_code": ["C3011", "C3411", "C3012"],
            "zone_code": ["TY01", "TY01", "TY01"],
            "above_scale": [True, None, False],
            "period": ["2026-09", "2026-09", "2026-09"],
        }
    )
    older = rows.slice(2, 1).set_column(5, "period", pa.array(["2026-07"]))
    with wh.engine.begin() as conn:
        Warehouse._upsert_enterprises(conn, rows)
        Warehouse._upsert_enterprises(conn, older.set_column(1, "name", pa.array(["更旧"])))
    with wh.connect() as conn:
        got = {r.uscc: r for r in conn.execute(select(schema.dim_enterprise)).all()}
    # the later row of one release wins, as row-by-row upserts would leave it (both backends)
    assert (got["91350100M000100Y43"].name, got["91350100M000100Y43"].industry_code) == (
        "新名称",
        "C3012",
    )
    assert got["91350100M000100Y43"].above_scale is False
    # an older period moves first_period back and changes nothing else
    assert (got["91350100M000100Y43"].first_period, got["91350100M000100Y43"].last_period) == (
        "2026-07",
        "2026-09",
    )
    assert got["91440101MA5CJQ4N59"].above_scale is None
