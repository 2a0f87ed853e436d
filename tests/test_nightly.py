"""End to end: the nightly flow against the simulator, into SQLite and PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from sqlalchemy import select

from warehouse import schema
from warehouse.paths import table_root
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

pytestmark = pytest.mark.prefect

ZONES = ["TY01", "DT01", "LL01"]  # over api-v1
FORM_ZONE = "YQ01"  # over form-xlsx, as zones.csv has it
FORMS = {"zone": ["YQ1", "YQ2", "YQ3"], "enterprise": ["QY1"]}


def run(config: Path, zones: list[str] | None = None) -> tuple[Any, Any]:
    """Run the nightly flow; return its final state and the run summary."""
    from flows.nightly import RunFailed, nightly

    state = nightly(config_path=str(config), zones=zones, return_state=True)
    if state.is_completed():
        return state, state.result()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, RunFailed), exc
    return state, exc.summary


def canonical(value: Any, unit: str, indicator: str) -> float | None:
    """The value in the catalog unit, computed independently of tasks.normalize."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "-")):
        return None
    number = Fraction(Decimal(str(value).replace(",", "").strip()))
    factor = shipped_catalog().indicator("zone", indicator).unit_factors[unit]  # type: ignore[union-attr]
    return float(number * factor)


def expected_obs(sim: Any, zone: str) -> dict[tuple[str, str, int], float | None]:
    out: dict[tuple[str, str, int], float | None] = {}
    for rel in sim.releases(zone):
        for rec in sim.records(zone, "zone", rel["period"], rel["revision"]):
            key = (rec["indicator"], rel["period"], rel["revision"])
            out[key] = canonical(rec.get("value"), rec["unit"], rec["indicator"])
    return out


def frame(wh: Warehouse, table: Any) -> pd.DataFrame:
    with wh.connect() as conn:
        return pd.DataFrame(
            conn.execute(select(table)).mappings().all(), columns=[c.name for c in table.columns]
        )


@pytest.fixture
def setup(
    simulator: Any, warehouse_url: str, tmp_path: Path, write_config: Any
) -> tuple[Any, Path, Warehouse]:
    if warehouse_url.startswith("postgresql"):
        # trust auth ignores the password: it is only there to prove it never leaks
        warehouse_url = warehouse_url.replace("postgres@", "postgres:hunter2-pw@")
    cfg = write_config(
        tmp_path / "zonestats.toml",
        simulator,
        warehouse_url,
        tmp_path / "data",
        ZONES,
        {"page_size": 7},
        # the transport tests need many pages, not many enterprises; the first test adds them
        datasets=("zone",),
    )
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    return simulator, cfg, wh


def test_nightly_loads_validates_and_reruns_idempotently(
    prefect_harness: None, setup: Any, write_config: Any
) -> None:
    from zonesim import Faults

    sim, cfg, wh = setup
    url, data_dir = wh.settings.url.get_secret_value(), wh.data_dir
    write_config(
        cfg,
        sim,
        url,
        data_dir,
        [*ZONES, FORM_ZONE],
        {"page_size": 200},
        adapters={FORM_ZONE: "form-xlsx"},
    )
    sim.set_faults("DT01", Faults(bad_records=True))
    state, summary = run(cfg)
    assert state.is_completed(), summary.failures()
    assert summary.exit_code == 0

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["nightly-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
            ),
        )
    # the zones' table, the first of the artifact (what is late follows in a table of its own)
    lines = str(artifact.data).splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| zone |"))
    end = next((n for n in range(start, len(lines)) if not lines[n].startswith("|")), len(lines))
    table_rows = lines[start:end]
    assert [r.split("|")[1].strip() for r in table_rows[2:]] == [*ZONES, FORM_ZONE]

    ledger = frame(wh, schema.load_ledger)
    for zone in ZONES:
        for dataset in ("zone", "enterprise"):
            listed = {(r["period"], r["revision"]) for r in sim.releases(zone, dataset)}
            mine = ledger[(ledger["zone_code"] == zone) & (ledger["dataset"] == dataset)]
            assert set(zip(mine["period"], mine["revision"], strict=True)) == listed, (
                zone,
                dataset,
            )
            assert set(mine["source"]) == {"api-v1"}
    # the form zone: every form file loaded once, as revision 1, identified by its sha256
    forms = ledger[ledger["zone_code"] == FORM_ZONE]
    expected_files = {
        (dataset, period, sim.form_sha256(FORM_ZONE, form, period))
        for dataset, names in FORMS.items()
        for form in names
        for period in sim.form_periods(FORM_ZONE, form)
    }
    assert (
        set(zip(forms["dataset"], forms["period"], forms["source_sha256"], strict=True))
        == expected_files
    )
    assert set(forms["revision"]) == {1}
    assert set(forms["source"]) == {"form-xlsx"}
    assert (ledger["status"] == "loaded").all(), ledger[ledger["status"] != "loaded"][
        "last_error"
    ].tolist()
    assert (
        ledger["records_received"] == ledger["records_loaded"] + ledger["records_quarantined"]
    ).all()

    obs = frame(wh, schema.obs_zone)
    for zone in ("TY01", "LL01"):
        expected = expected_obs(sim, zone)
        got = obs[obs["zone_code"] == zone]
        actual = {
            (r.indicator_code, r.period, r.revision): (None if pd.isna(r.value) else r.value)
            for r in got.itertuples()
        }
        assert actual.keys() == expected.keys()
        for key, value in expected.items():
            assert (
                actual[key] == pytest.approx(value, rel=1e-12, abs=1e-9)
                if value is not None
                else actual[key] is None
            ), key

    # enterprises: every value reported by a valid enterprise is an observation, in canonical units
    ent = frame(wh, schema.obs_enterprise)
    for rel in sim.releases("TY01", "enterprise"):
        truth = sim.canonical_values("TY01", "enterprise", rel["period"], rel["revision"])
        got = ent[(ent["zone_code"] == "TY01") & (ent["period"] == rel["period"])]
        values = {(r.uscc, r.indicator_code): r.value for r in got.itertuples()}
        want = {
            (u, k): float(v) for u, vals in truth.items() for k, v in vals.items() if v is not None
        }
        assert values.keys() == want.keys(), rel["period"]
        assert all(values[k] == pytest.approx(v, rel=1e-12) for k, v in want.items())
    dims = frame(wh, schema.dim_enterprise)
    assert set(dims["zone_code"]) == {*ZONES, FORM_ZONE}
    ever = {
        e["uscc"]
        for rel in sim.releases("TY01", "enterprise")
        for e in sim.enterprises("TY01", rel["period"], rel["revision"])
    }
    assert set(dims.loc[dims["zone_code"] == "TY01", "uscc"]) == ever
    # the form zone's figures are those its files carry
    yq = obs[(obs["zone_code"] == FORM_ZONE) & (obs["period"] == "2026-03")]
    carried = {
        r["indicator"]: canonical(r["value"], r["unit"], r["indicator"])
        for r in sim.form_records(FORM_ZONE, "YQ1", "2026-03")
    }
    got_yq = {
        k: (None if pd.isna(v) else v)
        for k, v in zip(yq["indicator_code"], yq["value"], strict=True)
    }
    assert got_yq.keys() == carried.keys()
    for k, v in carried.items():
        assert got_yq[k] == (pytest.approx(v) if v is not None else None), k
    blank = yq[yq["value"].isna()]
    assert set(blank["status"]) <= {"M"}  # a blank cell of a form is "not reported"

    q = frame(wh, schema.quarantine)
    assert set(q["zone_code"]) == {"DT01"}
    assert (q["status"] == "open").all()
    assert {
        "indicator_unknown",
        "unit_not_allowed",
        "value_unparsable",
        "value_below_min",
        "value_not_integer",
        "status_value_mismatch",
        "status_invalid",
        "duplicate_conflict",
    } <= set(q["rule"])
    dup = q[(q["rule"] == "duplicate_conflict") & (q["period"] == "2026-03")]
    assert len(dup) == 2
    assert set(dup["record_key"]) == {"revenue"}
    dt01 = ledger[ledger["zone_code"] == "DT01"]
    assert (
        dt01["records_quarantined"].sum()
        == q[q["severity"] == "error"].groupby(["period", "revision", "record_no"]).ngroups
    )
    # the verbatim repeat of fixed_asset_investment counts once and loads
    oct_obs = obs[(obs["zone_code"] == "DT01") & (obs["period"] == "2026-03")]
    assert (oct_obs["indicator_code"] == "fixed_asset_investment").sum() == 1

    # Parquet read back equals SQL, through pandas and through DuckDB
    cols = [
        "zone_code",
        "indicator_code",
        "period",
        "revision",
        "value",
        "unit",
        "status",
        "load_id",
    ]
    pq_obs = pd.read_parquet(table_root(wh.data_dir, "obs_zone"))
    pq_obs["zone_code"] = pq_obs["zone_code"].astype(str)
    key = ["zone_code", "indicator_code", "period", "revision"]
    pd.testing.assert_frame_equal(
        pq_obs[cols].sort_values(key).reset_index(drop=True),
        obs[cols].sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    root = table_root(wh.data_dir, "obs_zone").as_posix()
    n = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{root}/*/*/*.parquet', hive_partitioning=true)"
    ).fetchall()
    assert n == [(len(obs),)]
    pq_q = pd.read_parquet(table_root(wh.data_dir, "quarantine"))
    assert sorted(pq_q["quarantine_id"]) == sorted(q["quarantine_id"])

    # a second run finds nothing new: no rows, no attempts, no data requests
    sim.clear_requests()
    state, summary = run(cfg)
    assert state.is_completed()
    assert summary.totals()["loaded"] == 0
    assert len(frame(wh, schema.obs_zone)) == len(obs)
    assert len(frame(wh, schema.quarantine)) == len(q)
    again = frame(wh, schema.load_ledger)
    assert (again["attempts"] == 1).all()
    assert not [r for r in sim.requests if "/data/" in r.path]


def test_one_zone_failing_never_stops_the_others(
    prefect_harness: None, setup: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from zonesim import Faults

    sim, cfg, wh = setup
    sim.set_faults("TY01", Faults(bad_token=True))
    sim.set_faults("DT01", Faults(error_5xx=1000))
    sim.set_faults("LL01", Faults(bad_listing=True))
    state, summary = run(cfg)
    assert state.is_failed()
    assert summary.exit_code == 1
    by_zone = {z.zone_code: z for z in summary.zones}
    assert "401" in (by_zone["TY01"].error or "")
    assert summary.retry_commands() == ["zonestats run --zones TY01", "zonestats run --zones DT01"]
    assert "zonestats run --zones TY01" in summary.to_markdown()
    assert "gave up" in (by_zone["DT01"].error or "")
    # LL01 loads everything it can; its two impossible listing entries wait for a person
    assert by_zone["LL01"].error is None
    assert by_zone["LL01"].count("loaded") == len(sim.releases("LL01"))
    assert by_zone["LL01"].count("rejected") == 2
    ledger = frame(wh, schema.load_ledger)
    assert set(ledger["zone_code"]) == {"LL01"}
    rejected = ledger[ledger["status"] == "rejected"]
    assert sorted(rejected["period"].str[-3:]) == ["-01", "-Q1"]
    assert rejected["last_error"].str.contains("LL01").all()

    # no token anywhere: tables, files, logs, the flow runs' parameters
    tokens = [sim.token(z) for z in ZONES]
    dumped = json.dumps(
        [frame(wh, t).astype(str).to_dict("records") for t in schema.metadata.sorted_tables]
    )
    files = b"".join(p.read_bytes() for p in wh.data_dir.rglob("*") if p.is_file())
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        params = json.dumps([r.parameters for r in client.read_flow_runs()], default=str)
        messages: list[str] = []
        while batch := client.read_logs(limit=200, offset=len(messages)):
            messages += [log.message for log in batch]
        logs = "\n".join(messages)
    out, err = capfd.readouterr()
    logs += out + err
    assert "TY01: the zone's system refused the token (401)" in logs  # the logs say what went wrong
    for token in tokens:
        assert token not in dumped
        assert token.encode() not in files
        assert token not in logs
        assert token not in params
    assert "hunter2-pw" not in params


def test_transient_faults_are_ridden_out(prefect_harness: None, setup: Any) -> None:
    from zonesim import Faults

    sim, cfg, wh = setup
    sim.set_faults("TY01", Faults(error_5xx=2, rate_limit=1, retry_after_s=0))
    sim.set_faults("DT01", Faults(supersede_on_page=2))
    sim.set_faults("LL01", Faults(drop_connection=2, revision_drift_on_page=2))
    state, summary = run(cfg)
    assert state.is_completed(), summary.failures()
    # every zone was claimed for the run and given back at its end (nightly, rerun and
    # backfill share these claims)
    assert frame(wh, schema.zone_claim).empty
    ledger = frame(wh, schema.load_ledger)
    loaded = ledger[ledger["status"] == "loaded"]
    for zone in ZONES:
        listed = {(r["period"], r["revision"]) for r in sim.releases(zone)}
        got = loaded[loaded["zone_code"] == zone]
        assert set(zip(got["period"], got["revision"], strict=True)) == listed, zone
    # the release revised while being read is loaded at its new revision; the old one is marked
    superseded = ledger[(ledger["zone_code"] == "DT01") & (ledger["status"] == "failed")]
    assert len(superseded) == 1
    assert "superseded by revision" in superseded["last_error"].iloc[0]
    assert (
        loaded["records_received"] == loaded["records_loaded"] + loaded["records_quarantined"]
    ).all()


def test_the_runs_date_decides_which_years_marts_are_built(
    prefect_harness: None, setup: Any
) -> None:
    from datetime import date

    from flows.nightly import nightly

    _, cfg, wh = setup
    # a date whose year is not the machine's: only an injected clock gets 2025 and 2026 built
    state = nightly(config_path=str(cfg), zones=["TY01"], today=date(2026, 5, 6), return_state=True)
    assert state.is_completed()
    built = frame(wh, schema.mart_build)
    assert set(built["year"]) == {2025, 2026}
    state = nightly(config_path=str(cfg), zones=["TY01"], today=date(2031, 1, 1), return_state=True)
    assert set(frame(wh, schema.mart_build)["year"]) == {2025, 2026, 2030, 2031}
