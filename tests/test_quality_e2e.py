"""End to end: the simulator's bad-data faults through nightly, the quarantine lifecycle, GX.

TY01 breaks the release-level audit rules where zonesim.bad_data.AUDIT_BREAKS says, DT01 carries
the documented bad records; the quarantine rows that come out are asserted exactly, then an
operator accepts one (it is loaded), a corrected revision arrives and a row is marked fixed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from cli.app import main
from tasks.quality import run_dq_checkpoint
from tasks.quarantine import accept_row, fix_row
from tasks.runtime import shipped_rules
from warehouse import quality, schema
from warehouse.paths import partition_dir
from warehouse.quality import QuarantineError
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config
from zonestats.models import ReleaseKey

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def run(config: Path, validate_only: bool = False) -> Any:
    """Run the nightly flow; return the run summary (from the result or the RunFailed)."""
    from flows.nightly import RunFailed, nightly

    state = nightly(config_path=str(config), validate_only=validate_only, return_state=True)
    if state.is_completed():
        return state.result()
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, RunFailed), exc
    return exc.summary


def table(wh: Warehouse, t: Any) -> pd.DataFrame:
    with wh.connect() as conn:
        return pd.DataFrame(
            conn.execute(select(t)).mappings().all(), columns=[c.name for c in t.columns]
        )


# (dataset, period, record_key, rule, severity) of every quarantine row of TY01, as AUDIT_BREAKS
# makes them for the releases published by 2026-05-06 (2025-02 … 2026-03, 2025-Q1 … 2026-Q1, 2025)
TY01_ROWS = {
    ("zone", "2025-03", "green_electricity", "green_exceeds_electricity", "error"),
    ("zone", "2026-03", "green_electricity", "green_exceeds_electricity", "error"),
    ("zone", "2025-05", "fixed_asset_investment", "mandatory_missing", "warning"),
    ("zone", "2025-07", "revenue", "ytd_decreased", "error"),
    # held out, a mandatory indicator leaves its release incomplete
    ("zone", "2025-07", "revenue", "mandatory_missing", "warning"),
    ("zone", "2026-03", "industrial_output", "yoy_out_of_range", "warning"),
    ("zone", "2025-Q2", "leading_industry_revenue", "leading_exceeds_revenue", "error"),
    ("zone", "2025-Q2", "leading_industry_revenue", "mandatory_missing", "warning"),
    ("zone", "2025-Q3", "revenue", "quarter_month_mismatch", "warning"),
    ("zone", "2025", "developed_area", "developed_exceeds_planned", "error"),
    ("zone", "2025", "developed_area", "mandatory_missing", "warning"),
    ("enterprise", "2025-02", "tax_revenue", "enterprise_sum_exceeds_zone", "error"),
    ("enterprise", "2026-02", "tax_revenue", "enterprise_sum_exceeds_zone", "error"),
    ("enterprise", "2025-12", "energy_consumption", "enterprise_coverage_low", "warning"),
}

# DT01's monthly release 2026-03 with BAD_RECORDS: each bad record's own rule, and a mandatory
# indicator it leaves without a figure (revenue, tax_revenue, energy, above-scale count)
DT01_2026_03 = {
    ("tax_revenue", "unit_not_allowed", "error"),
    ("profit_total", "value_unparsable", "error"),
    ("energy_consumption", "value_below_min", "error"),
    ("above_scale_enterprises", "value_not_integer", "error"),
    ("green_electricity", "status_value_mismatch", "error"),
    ("import_export", "status_invalid", "error"),
    ("revenue_total_typo", "indicator_unknown", "error"),
    ("revenue", "duplicate_conflict", "error"),
    ("revenue", "mandatory_missing", "warning"),
    ("tax_revenue", "mandatory_missing", "warning"),
    ("energy_consumption", "mandatory_missing", "warning"),
    ("above_scale_enterprises", "mandatory_missing", "warning"),
}


_URL = re.compile(r"""(?i)(?:https?:)?//[a-z0-9][-a-z0-9.]*\.[a-z]{2,}[^\s"'<>)]*""")
# an SVG names its XML vocabularies by URL and may credit its drawing tool in a comment: neither
# is fetched by a browser; an href, src or url() in one is, and stays in what is searched
_SVG_NOT_FETCHED = re.compile(r"""\bxmlns(?::\w+)?=["'][^"']*["']|<!--.*?-->""", re.S)


def _external_references(files: list[Path]) -> dict[str, list[str]]:
    """Per text file, the URLs of other hosts it names (http, https or protocol-relative)."""
    found: dict[str, list[str]] = {}
    for path in files:
        if not path.is_file() or path.suffix not in {
            ".html",
            ".css",
            ".js",
            ".json",
            ".md",
            ".svg",
        }:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".svg":
            text = _SVG_NOT_FETCHED.sub("", text)
        urls = _URL.findall(text)
        if urls:
            found[str(path)] = urls[:5]
    return found


def test_bad_data_faults_quarantine_lifecycle_and_checkpoint(
    prefect_harness: None,
    simulator: Any,
    warehouse_url: str,
    tmp_path: Path,
    write_config: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from zonesim import Faults

    sim = simulator
    cfg = write_config(tmp_path / "zonestats.toml", sim, warehouse_url, tmp_path / "data", ["TY01"])
    text = cfg.read_text(encoding="utf-8")
    # DT01 sends only its zone dataset: its bad records are what this test looks at
    cfg.write_text(
        text
        + "\n".join(
            [
                "",
                "[[zones]]",
                'code = "DT01"',
                'adapter = "api-v1"',
                f'base_url = "{sim.base_url("DT01")}"',
                f'token_env = "{sim.token_env("DT01")}"',
                'datasets = ["zone"]',
                "",
            ]
        ),
        encoding="utf-8",
    )
    sim.set_faults("TY01", Faults(audit_breaks=True))
    sim.set_faults("DT01", Faults(bad_records=True))
    config = load_config(cfg, shipped_catalog())
    wh = Warehouse(config.warehouse)

    summary = run(cfg)
    # two enterprise releases rejected (sums above the zone total): the run is Failed for them
    failures = summary.failures()
    assert len(failures) == 2, failures
    assert all("rejected" in f and "tax_revenue" in f for f in failures), failures

    q = table(wh, schema.quarantine)
    ty = q[q["zone_code"] == "TY01"]
    got = set(
        zip(ty["dataset"], ty["period"], ty["record_key"], ty["rule"], ty["severity"], strict=True)
    )
    assert got == TY01_ROWS
    dt = q[(q["zone_code"] == "DT01") & (q["period"] == "2026-03")]
    assert set(zip(dt["record_key"], dt["rule"], dt["severity"], strict=True)) == DT01_2026_03
    # revenue's two conflicting copies are two rows of the same rule
    assert len(dt[dt["rule"] == "duplicate_conflict"]) == 2
    assert (q["status"] == "open").all()
    # every message names zone, period, record and rule; release-level rows keep their figures
    green = ty[ty["rule"] == "green_exceeds_electricity"].iloc[0]
    assert green["message"].startswith(f"[TY01 {green['period']} r{green['revision']} #")
    assert "green electricity" in green["message"]
    reject = ty[ty["rule"] == "enterprise_sum_exceeds_zone"].iloc[0]
    assert reject["record_no"] == 0
    assert set(json.loads(reject["raw"])) >= {"enterprise_sum", "zone_total", "indicator"}

    ledger = table(wh, schema.load_ledger)
    loaded = ledger[ledger["status"] == "loaded"]
    assert (
        loaded["records_received"] == loaded["records_loaded"] + loaded["records_quarantined"]
    ).all()
    ty_led = ledger[ledger["zone_code"] == "TY01"].set_index(["dataset", "period"])
    assert ty_led.loc[("enterprise", "2025-02"), "status"] == "rejected"
    assert "tax_revenue" in ty_led.loc[("enterprise", "2025-02"), "last_error"]
    assert ty_led.loc[("enterprise", "2025-02"), "records_loaded"] == 0
    assert ty_led.loc[("enterprise", "2025-12"), "status"] == "loaded"  # a warning loads
    incomplete = {
        p for (d, p), c in ty_led["complete"].items() if d == "zone" and c is not None and not c
    }
    assert incomplete == {"2025-05", "2025-07", "2025-Q2", "2025"}
    # nothing of a rejected release reached the observations
    obs_e = table(wh, schema.obs_enterprise)
    assert obs_e[(obs_e["zone_code"] == "TY01") & (obs_e["period"] == "2025-02")].empty
    obs = table(wh, schema.obs_zone)
    ty_obs = obs[obs["zone_code"] == "TY01"]
    assert (
        ty_obs[ty_obs["indicator_code"] == "green_electricity"]["period"]
        .isin(["2025-03", "2026-03"])
        .sum()
        == 0
    )

    # --- the data-quality checkpoint over what the run loaded: stored, documented, all held ----
    dq = quality.dq_results(wh)
    assert len(dq) >= 20
    assert dq["success"].astype(bool).all(), dq[~dq["success"].astype(bool)]
    assert {"obs_zone_current", "obs_enterprise_current"} <= set(dq["table_name"])
    assert "obs_zone_current.key_unique" in set(dq["expectation"])
    docs = Path(summary.data_docs)
    assert docs.is_file()
    assert docs.is_relative_to(config.warehouse.data_dir)
    # every file of the site as written (the pages of this run, GX's static/ folder), and the
    # report beside it: no URL at all, quoted or not, so nothing is fetched from the internet
    site = docs.parent
    pages = sorted(site.rglob("*.html"))
    assert docs in pages
    assert len(pages) >= 2, pages  # the index and this run's validation pages
    external = _external_references([*site.rglob("*"), Path(summary.quality_report)])
    assert not external, external
    assert set(dq["docs_path"]) == {str(docs)}

    # --- the quality report, for people ----------------------------------------------------
    report = Path(summary.quality_report)
    assert report.is_file()
    body = report.read_text(encoding="utf-8")
    assert "| TY01 | zone | 2025-03 |" in body
    assert "green_exceeds_electricity" in body
    assert "enterprise_sum_exceeds_zone" in body

    # --- accept: the zone explained the figure; it is loaded as received -------------------
    rules, catalog = shipped_rules(), shipped_catalog()
    row = ty[(ty["rule"] == "green_exceeds_electricity") & (ty["period"] == "2025-03")].iloc[0]
    qid = int(row["quarantine_id"])
    before = ledger.set_index("load_id").loc[row["load_id"]]
    with pytest.raises(QuarantineError, match="needs a note"):
        accept_row(config.warehouse, qid, " ", "ops", rules, catalog)
    result = accept_row(
        config.warehouse, qid, "绿电含外购绿证，园区已书面说明", "ops", rules, catalog
    )
    assert result.loaded
    obs = table(wh, schema.obs_zone)
    green_obs = obs[
        (obs["zone_code"] == "TY01")
        & (obs["period"] == "2025-03")
        & (obs["indicator_code"] == "green_electricity")
    ]
    assert len(green_obs) == 1
    assert green_obs.iloc[0]["load_id"] == row["load_id"]
    rec = json.loads(row["raw"])
    assert green_obs.iloc[0]["value"] == pytest.approx(float(rec["value"]))
    after = table(wh, schema.load_ledger).set_index("load_id").loc[row["load_id"]]
    assert after["records_loaded"] == before["records_loaded"] + 1
    assert after["records_quarantined"] == before["records_quarantined"] - 1
    assert after["records_received"] == after["records_loaded"] + after["records_quarantined"]
    q2 = table(wh, schema.quarantine).set_index("quarantine_id")
    assert len(q2) == len(q)  # nothing is ever deleted from quarantine
    assert q2.loc[qid, "status"] == "accepted"
    assert q2.loc[qid, "note"] == "绿电含外购绿证，园区已书面说明"
    assert q2.loc[qid, "resolved_by"] == "ops"
    actions = table(wh, schema.operator_action)
    accepted = actions[actions["action"] == "accept"]
    assert len(accepted) == 1
    assert json.loads(accepted.iloc[0]["details"])["quarantine_id"] == qid
    # the release's Parquet rows (in whichever file of its partition holds them) say the same as SQL
    key = ReleaseKey("TY01", "zone", "2025-03", int(row["revision"]))

    def release_rows(table_name: str) -> pd.DataFrame:
        part = pd.read_parquet(partition_dir(config.warehouse.data_dir, table_name, key))
        mine = (part["period"] == key.period) & (part["revision"] == key.revision)
        if "dataset" in part.columns:
            mine &= part["dataset"] == key.dataset
        return part[mine]

    pq_obs = release_rows("obs_zone")
    assert "green_electricity" in set(pq_obs["indicator_code"])
    pq_q = release_rows("quarantine")
    assert pq_q.set_index("quarantine_id").loc[qid, "status"] == "accepted"
    with pytest.raises(QuarantineError, match="already accepted"):
        accept_row(config.warehouse, qid, "again", "ops", rules, catalog)

    # a record without a figure to load cannot be accepted; one rejected release-wide neither
    unparsable = int(dt[dt["rule"] == "value_unparsable"].iloc[0]["quarantine_id"])
    with pytest.raises(QuarantineError, match="cannot be accepted"):
        accept_row(config.warehouse, unparsable, "ok", "ops", rules, catalog)
    rejected = int(ty[ty["rule"] == "enterprise_sum_exceeds_zone"].iloc[0]["quarantine_id"])
    with pytest.raises(QuarantineError, match="rejected"):
        accept_row(config.warehouse, rejected, "ok", "ops", rules, catalog)

    # the same through the command line, as an operator types it
    capsys.readouterr()
    assert main(["quarantine", "list", "--zone", "TY01", "--open", "--config", str(cfg)]) == 0
    listing = capsys.readouterr().out
    assert "ytd_decreased" in listing
    listed_ids = {int(line.split()[0]) for line in listing.splitlines()[2:] if line.strip()}
    assert qid not in listed_ids  # accepted rows are no longer open
    assert "green_exceeds_electricity" in listing  # 2026-03's is still open
    cli_id = int(
        ty[(ty["rule"] == "green_exceeds_electricity") & (ty["period"] == "2026-03")].iloc[0][
            "quarantine_id"
        ]
    )
    assert (
        main(["quarantine", "accept", str(cli_id), "--note", "已核实", "--config", str(cfg)]) == 0
    )
    assert f"accepted #{cli_id}" in capsys.readouterr().out
    code = main(["quarantine", "accept", str(unparsable), "--note", "x", "--config", str(cfg)])
    assert code == 1
    assert "cannot be accepted" in capsys.readouterr().err

    # --- fix: only once a corrected revision is loaded ------------------------------------------
    ytd = ty[ty["rule"] == "ytd_decreased"].iloc[0]
    ytd_id = int(ytd["quarantine_id"])
    with pytest.raises(QuarantineError, match="no corrected revision"):
        fix_row(config.warehouse, ytd_id, "", "ops")
    # the zone re-publishes July (the cumulative figures right now, other records still bad), and
    # the operator has made value_not_integer a warning: its count of 12.5 enterprises loads
    sim.set_faults("TY01", Faults(bad_records=True))
    sim.publish_revision("TY01", "zone", "2025-07")
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + '\n[validation.severity]\nvalue_not_integer = "warning"\n',
        encoding="utf-8",
    )
    # meanwhile someone edits a figure of April by hand: a release this run does not load
    obs_t = schema.obs_zone
    april = (obs_t.c.zone_code == "TY01", obs_t.c.period == "2025-04")
    with wh.engine.begin() as conn:
        conn.execute(
            obs_t.update().where(*april, obs_t.c.indicator_code == "revenue").values(unit="元")
        )
        april_rev = conn.execute(select(obs_t.c.revision).where(*april).limit(1)).scalar_one()
    summary = run(cfg)
    # the checkpoint reads what this run loaded (July's revision), not April
    assert summary.dq_failed == ["obs_zone_current.value_integer"]
    assert "data quality: expectation obs_zone_current.value_integer failed" in summary.failures()
    failed = quality.dq_results(wh)
    assert set(failed["table_name"]) == {"obs_zone_current"}  # no enterprise release loaded
    bad = failed[~failed["success"].astype(bool)]
    assert bad["expectation"].tolist() == ["obs_zone_current.value_integer"]
    july = [r for z in summary.zones for r in z.releases if r.status == "loaded"]
    assert [str(r.key.period) for r in july] == ["2025-07"]
    assert bad["observed_value"].iloc[0].startswith("1 unexpected of ")
    # April, checked when it is the release asked for, shows the hand edit
    april_dq = run_dq_checkpoint(
        config.warehouse, catalog, "april", [ReleaseKey("TY01", "zone", "2025-04", april_rev)]
    )
    assert april_dq.failed == ["obs_zone_current.unit_canonical"]
    revision = fix_row(config.warehouse, ytd_id, "", "ops")
    assert revision > int(ytd["revision"])
    q3 = table(wh, schema.quarantine).set_index("quarantine_id")
    assert q3.loc[ytd_id, "status"] == "fixed"
    assert len(q3) >= len(q)
    listed = quality.list_quarantine(wh, zone="TY01", only_open=True)
    assert ytd_id not in set(listed["quarantine_id"])
    assert qid not in set(listed["quarantine_id"])


def test_validate_only_loads_nothing_and_reports(
    prefect_harness: None, simulator: Any, tmp_path: Path, write_config: Any
) -> None:
    from zonesim import Faults

    url = f"sqlite:///{(tmp_path / 'wh.db').as_posix()}"
    cfg = write_config(
        tmp_path / "zonestats.toml", simulator, url, tmp_path / "data", ["DT01"], datasets=("zone",)
    )
    simulator.set_faults("DT01", Faults(bad_records=True))
    summary = run(cfg, validate_only=True)
    statuses = {r.status for z in summary.zones for r in z.releases}
    assert statuses == {"validated"}
    wh = Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    for t in (schema.load_ledger, schema.obs_zone, schema.quarantine, schema.watermark):
        assert table(wh, t).empty, t.name
    assert table(wh, schema.dq_run).empty  # nothing loaded, nothing to check
    assert not (tmp_path / "data" / "parquet").exists()
    report = Path(summary.quality_report).read_text(encoding="utf-8")
    assert "validate only" in report
    assert "[DT01 2026-03 r" in report  # the findings themselves, for the zone to fix
    assert "value_unparsable" in report
