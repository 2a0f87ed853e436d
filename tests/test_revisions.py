"""What a revision changed: the pure comparison of two revisions, and how a run notes it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from marts.revisions import diff_revisions
from zonestats.summary import RevisionNote, RunSummary, describe_change


def _zone(rows: list[tuple[str, float | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"indicator_code": c, "value": v, "unit": "万元", "status": s} for c, v, s in rows]
    )


def test_a_zone_release_changed_added_and_removed() -> None:
    old = _zone(
        [
            ("revenue", 1000.0, "A"),  # +1 %
            ("tax_revenue", 200.0, "P"),  # the same figure, now final: a status change alone
            ("profit_total", 0.0, "A"),  # from 0: no percent
            ("green_electricity", None, "M"),  # not reported, now reported
            ("employees", 500.0, "A"),  # unchanged: not in the diff
            ("energy_consumption", 80.0, "A"),  # gone from the new revision
        ]
    )
    new = _zone(
        [
            ("revenue", 1010.0, "A"),
            ("tax_revenue", 200.0, "A"),
            ("profit_total", 5.0, "A"),
            ("green_electricity", 12.5, "A"),
            ("employees", 500.0, "A"),
            ("import_export", 7.0, "A"),  # new in this revision
        ]
    )
    d = diff_revisions(old, new, "zone")
    rows = {r["indicator_code"]: r for r in d.rows.to_dict("records")}
    assert list(d.rows["change"]) == ["changed"] * 4 + ["added", "removed"]
    assert set(rows) == {
        "revenue", "tax_revenue", "profit_total", "green_electricity", "import_export",
        "energy_consumption",
    }  # fmt: skip
    assert rows["revenue"]["old_value"] == 1000.0
    assert rows["revenue"]["new_value"] == 1010.0
    assert rows["revenue"]["difference"] == 10.0
    assert rows["revenue"]["pct"] == pytest.approx(1.0)
    assert (rows["tax_revenue"]["difference"], rows["tax_revenue"]["pct"]) == (0.0, 0.0)
    assert (rows["tax_revenue"]["old_status"], rows["tax_revenue"]["new_status"]) == ("P", "A")
    assert rows["profit_total"]["difference"] == 5.0
    assert math.isnan(rows["profit_total"]["pct"])  # no percent of 0
    assert math.isnan(rows["green_electricity"]["old_value"])
    assert math.isnan(rows["green_electricity"]["difference"])
    assert rows["import_export"]["new_value"] == 7.0
    assert math.isnan(rows["import_export"]["old_value"])
    assert rows["energy_consumption"]["old_value"] == 80.0
    assert (d.count("changed"), d.count("added"), d.count("removed")) == (4, 1, 1)
    # a zone record is an indicator row
    assert (d.records_added, d.records_removed) == (("import_export",), ("energy_consumption",))
    # the largest change: a figure from 0 or from nothing beats any percent (the larger
    # difference first); then the largest percent; a status alone last
    assert d.largest()["indicator_code"] == "profit_total"
    assert diff_revisions(old.iloc[:2], new.iloc[:2], "zone").largest()["indicator_code"] == (
        "revenue"
    )
    assert diff_revisions(old.iloc[1:2], new.iloc[1:2], "zone").largest()["indicator_code"] == (
        "tax_revenue"
    )


def test_the_same_figures_are_no_diff_and_missing_equals_missing() -> None:
    rows = [("revenue", 1000.0, "A"), ("green_electricity", None, "M")]
    d = diff_revisions(_zone(rows), _zone(rows), "zone")
    assert d.rows.empty
    assert d.largest() is None
    assert d.records_added == d.records_removed == ()


def test_an_enterprise_release_by_enterprise_and_indicator() -> None:
    def ent(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
        return pd.DataFrame(
            [{"uscc": u, "indicator_code": c, "value": v, "unit": "万元"} for u, c, v in rows]
        )

    old = ent([("A1", "revenue", 100.0), ("A1", "tax", 10.0), ("B2", "revenue", 50.0)])
    new = ent([("A1", "revenue", 98.0), ("A1", "tax", 10.0), ("C3", "revenue", 70.0)])
    d = diff_revisions(old, new, "enterprise")
    got = [(r["change"], r["uscc"], r["indicator_code"]) for r in d.rows.to_dict("records")]
    assert got == [
        ("changed", "A1", "revenue"),
        ("added", "C3", "revenue"),
        ("removed", "B2", "revenue"),
    ]
    assert d.rows.loc[0, "pct"] == pytest.approx(-2.0)
    # the difference is the decimal one, as on the statistician's calculator
    exact = diff_revisions(
        ent([("A1", "revenue", 356223.6)]), ent([("A1", "revenue", 358830.2)]), "enterprise"
    )
    assert exact.rows.loc[0, "difference"] == 2606.6
    assert d.rows["old_status"].isna().all()  # the enterprise dataset has no status
    # an enterprise record is an enterprise with all its values
    assert (d.records_added, d.records_removed) == (("C3",), ("B2",))
    largest = d.largest()
    assert describe_change(largest, "enterprise") == "A1 revenue 100 → 98 (-2.00 %)"


def test_a_run_summary_notes_its_revisions() -> None:
    note = RevisionNote(
        "TY01", "zone", "2026-03", 2, 1, changed=3, added=0, removed=1,
        largest="revenue 1000 → 1010 (+1.00 %)",
    )  # fmt: skip
    assert str(note) == (
        "TY01 zone 2026-03 r1 → r2: 3 changed, 1 removed, largest: revenue 1000 → 1010 (+1.00 %)"
    )
    md = RunSummary(revisions=[note]).to_markdown()
    assert "## Revisions (1)" in md
    assert "| TY01 | zone | 2026-03 | 1 | 2 | 3 | 0 | 1 | revenue 1000 → 1010 (+1.00 %) |" in md
    assert "## Revisions" not in RunSummary().to_markdown()
    status_only = {"indicator_code": "tax_revenue", "old_value": 200.0, "new_value": 200.0,
                   "pct": 0.0, "old_status": "P", "new_status": "A"}  # fmt: skip
    assert describe_change(status_only, "zone") == "tax_revenue 200 → 200 (+0.00 %), status P → A"
