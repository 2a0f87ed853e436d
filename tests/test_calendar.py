"""The reporting calendar: deadlines as data, release states, extensions, `zonestats late`.

The states follow ../shared/spec/calendar.md; every expected deadline and day count below is
worked out by hand in the comments (Beijing time, UTC+8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from cli.app import main
from marts.release_calendar import Owed, punctuality, release_calendar, release_state
from warehouse import calendar as calendar_store
from warehouse import schema
from warehouse.paths import calendar_file
from warehouse.store import Warehouse
from zonesim.faults import Faults
from zonestats.calendar import CalendarError, load_calendar, parse_calendar, period_of
from zonestats.catalog import shipped_catalog
from zonestats.config import ConfigError, load_config

CST = timezone(timedelta(hours=8))
CAL = shipped_catalog().calendar


def cst(text: str) -> datetime:
    """A moment written in Beijing time."""
    return datetime.fromisoformat(text).replace(tzinfo=CST)


# --- the calendar as data -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "due"),
    [
        ("2026-02", "2026-03-16 12:00"),  # 1–2月: the 16th of the following month
        ("2026-11", "2026-12-16 12:00"),
        ("2026-12", "2027-01-16 12:00"),  # into the next year
        ("2026-Q1", "2026-04-20 12:00"),  # the 20th of the month after the quarter
        ("2026-Q4", "2027-01-20 12:00"),
        ("2025", "2026-03-31 18:00"),  # 31 March of the following year
    ],
)
def test_deadlines_are_calendar_md(period: str, due: str) -> None:
    assert CAL.deadline(period_of(period)) == cst(due)


def test_the_calendar_is_the_catalogs_data() -> None:
    catalog = shipped_catalog()
    assert CAL.overdue_after_days == 5
    assert CAL.tz.utcoffset(None) == timedelta(hours=8)
    # a zone owes what its datasets are released at: enterprises report monthly only
    assert catalog.frequencies("zone") == ("M", "Q", "A")
    assert catalog.frequencies("enterprise") == ("M",)


def test_periods_owed_start_at_the_first_period_and_end_with_the_last_ended() -> None:
    # from 2025-11 to the middle of February 2026: 2026-02 has not ended, 2025 has
    owed = CAL.periods_owed(("M", "Q", "A"), period_of("2025-11"), cst("2026-02-14 09:00"))
    assert sorted(p.text for p in owed) == ["2025", "2025-11", "2025-12", "2025-Q4"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"overdue_after_days": -1}, "calendar.overdue_after_days: expected a whole number"),
        ({"utc_offset": "UTC+8"}, "calendar.utc_offset: expected ±HH:MM"),
        ({"due": [{"frequency": "M", "months_after": 1, "day": 16}]}, "due[0].time: missing"),
        (
            {"due": [{"frequency": "M", "months_after": 0, "day": 16, "time": "12:00"}]},
            "due[0].months_after: expected a whole number 1–24",
        ),
        (
            {"due": [{"frequency": "M", "months_after": 1, "day": 16, "time": "12:00"}]},
            "calendar.due: no rule for frequency Q",
        ),
    ],
)
def test_calendar_errors_name_the_key(change: dict[str, Any], message: str) -> None:
    doc = {
        "utc_offset": "+08:00",
        "overdue_after_days": 5,
        "due": [
            {"frequency": f, "months_after": 1, "day": 16, "time": "12:00"} for f in ("M", "Q", "A")
        ],
        **change,
    }
    with pytest.raises(CalendarError, match=re.escape(message)):
        parse_calendar(doc)


def test_the_shipped_file_loads_by_path() -> None:
    path = Path(__file__).parent.parent / "zonestats" / "data" / "calendar.toml"
    assert load_calendar(path) == CAL


# --- the states ----------------------------------------------------------------------------

DUE = cst("2026-04-16 12:00")


@pytest.mark.parametrize(
    ("arrived", "as_of", "expected"),
    [
        (None, DUE, ("pending", None)),  # not due until the deadline has passed
        (DUE, DUE, ("on_time", 0)),  # at the deadline itself
        (DUE + timedelta(seconds=1), DUE + timedelta(days=30), ("late", 1)),
        (DUE + timedelta(days=1, hours=22), DUE + timedelta(days=30), ("late", 2)),
        (None, DUE + timedelta(seconds=1), ("missing", 1)),
        (None, DUE + timedelta(days=5), ("missing", 5)),  # 5 × 24 h: not yet more than 5 days
        (None, DUE + timedelta(days=5, seconds=1), ("overdue", 6)),
        # handed in after as_of: not known then
        (DUE + timedelta(days=3), DUE + timedelta(days=2), ("missing", 2)),
    ],
)
def test_release_state_at_the_boundaries(
    arrived: datetime | None, as_of: datetime, expected: tuple[str, int | None]
) -> None:
    assert release_state(DUE, arrived, as_of, 5) == expected


def _facts(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["zone_code", "dataset", "period", "first_published_at", "first_loaded_at"]
    frame = pd.DataFrame(rows, columns=[*columns, "manual_loaded_at"])
    for c in ("first_published_at", "first_loaded_at", "manual_loaded_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def test_release_calendar_rows_by_hand() -> None:
    as_of = cst("2026-05-18 20:00")
    facts = _facts(
        [
            # TY01 zone: 2026-03 listed after its deadline (04-16 12:00): 1 d 22 h → 2 days late
            {"zone_code": "TY01", "dataset": "zone", "period": "2026-03",
             "first_published_at": cst("2026-04-18 10:00"), "first_loaded_at": cst("2026-04-18 11:00")},
            # 2026-Q1 published on time; the revision of 04-27 is no first publication
            {"zone_code": "TY01", "dataset": "zone", "period": "2026-Q1",
             "first_published_at": cst("2026-04-20 10:00")},
            # 2026-02 handed in by an operator (manual) before the deadline of 03-16 12:00
            {"zone_code": "TY01", "dataset": "zone", "period": "2026-02",
             "first_loaded_at": cst("2026-03-16 09:00"), "manual_loaded_at": cst("2026-03-16 09:00")},
            # TY01 enterprises: 2026-04 published after as_of: not known at as_of
            {"zone_code": "TY01", "dataset": "enterprise", "period": "2026-04",
             "first_published_at": cst("2026-05-19 10:00")},
            # DT01 (no first_period): the earliest period seen is 2026-03
            {"zone_code": "DT01", "dataset": "zone", "period": "2026-03",
             "first_published_at": cst("2026-04-15 10:00")},
        ]
    )  # fmt: skip
    extensions = pd.DataFrame(
        [{"zone_code": "TY01", "dataset": "enterprise", "period": "2026-04",
          "until": pd.Timestamp(cst("2026-05-20 18:00"))}]
    )  # fmt: skip
    owed = [
        Owed("TY01", "zone", ("M", "Q", "A"), "2026-02"),
        Owed("TY01", "enterprise", ("M",), "2026-03"),
        Owed("DT01", "zone", ("M", "Q", "A")),
        Owed("YQ01", "zone", ("M", "Q", "A")),  # nothing configured, nothing seen: no rows
    ]
    rows = release_calendar(owed, facts, extensions, CAL, as_of)
    got = {
        (r.zone_code, r.dataset, r.period): (r.state, None if pd.isna(r.days_late) else r.days_late)
        for r in rows.itertuples()
    }
    assert got == {
        ("TY01", "zone", "2026-02"): ("on_time", 0),  # the manual load at 09:00 counts
        ("TY01", "zone", "2026-03"): ("late", 2),
        ("TY01", "zone", "2026-Q1"): ("on_time", 0),
        # 2026-04 was due 05-16 12:00: 2 d 8 h before as_of → 3 days begun
        ("TY01", "zone", "2026-04"): ("missing", 3),
        # the enterprises' 2026-03 was never seen: due 04-16 12:00, 32 d 8 h → 33 days
        ("TY01", "enterprise", "2026-03"): ("overdue", 33),
        # extended to 05-20 18:00 and published (after as_of, so unknown) on 05-19
        ("TY01", "enterprise", "2026-04"): ("pending", None),
        ("DT01", "zone", "2026-03"): ("on_time", 0),
        # DT01 owes from 2026-03 (first seen): Q1 ends in March too; due 04-20 12:00, 28 d 8 h
        ("DT01", "zone", "2026-Q1"): ("overdue", 29),
        ("DT01", "zone", "2026-04"): ("missing", 3),
    }
    by_key = rows.set_index(["zone_code", "dataset", "period"])
    ent = by_key.loc[("TY01", "enterprise", "2026-04")]
    assert ent["extended_until"] == ent["deadline"] == pd.Timestamp(cst("2026-05-20 18:00"))
    assert ent["due_at"] == pd.Timestamp(cst("2026-05-16 12:00"))
    assert pd.isna(ent["first_published_at"])  # after as_of
    manual = by_key.loc[("TY01", "zone", "2026-02")]
    assert manual["arrived_at"] == pd.Timestamp(cst("2026-03-16 09:00"))
    assert pd.isna(manual["first_published_at"])
    assert set(rows["as_of"]) == {pd.Timestamp(as_of)}

    # the report's punctuality: pending is not due yet; both datasets count
    #   TY01: 5 due, 2 on time (40 %); late 2, missing 3, overdue 33 → mean 38 / 3
    #   DT01: 3 due, 1 on time; overdue 29, missing 3 → mean 16
    punct = punctuality(rows, 2026).set_index("zone_code")
    assert punct[["due", "on_time", "late", "missing", "overdue"]].to_dict("index") == {
        "DT01": {"due": 3, "on_time": 1, "late": 0, "missing": 1, "overdue": 1},
        "TY01": {"due": 5, "on_time": 2, "late": 1, "missing": 1, "overdue": 1},
    }
    assert punct["on_time_pct"].to_dict() == pytest.approx({"DT01": 100 / 3, "TY01": 40.0})
    assert punct["mean_days_late"].to_dict() == pytest.approx({"DT01": 16.0, "TY01": 38 / 3})
    assert punctuality(rows, 2025).empty


# --- on a warehouse, with the simulator ------------------------------------------------------

ZONES = ["TY01", "DT01"]
# the simulator publishes M on the 15th and Q on the 20th of the next month, 10:00 (on time).
# TY01: 2026-03 three days late (04-18 10:00, due 04-16 12:00); 2026-04 never.
# DT01: 2026-Q1 three days late (04-23 10:00, due 04-20 12:00) but extended to 04-24 18:00;
#       2026-04 never, extended to 05-20 18:00.
FAULTS = {
    "TY01": Faults(late_periods=("2026-03",), late_days=3, withheld_periods=("2026-04",)),
    "DT01": Faults(late_periods=("2026-Q1",), late_days=3, withheld_periods=("2026-04",)),
}


@pytest.fixture
def province(
    warehouse_url: str, tmp_path: Path, write_config: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Path, Warehouse]]:
    from zonesim import Simulator

    sim = Simulator(seed=2026, as_of=cst("2026-04-17 20:00"), start_year=2026).start()
    try:
        for code in ZONES:
            monkeypatch.setenv(sim.token_env(code), sim.token(code))
            sim.set_faults(code, FAULTS[code])
        cfg = write_config(
            tmp_path / "zonestats.toml",
            sim,
            warehouse_url,
            tmp_path / "data",
            ZONES,
            datasets=("zone",),
            zone_keys={"first_period": "2026-02"},
        )
        yield sim, cfg, Warehouse(load_config(cfg, shipped_catalog()).warehouse)
    finally:
        sim.stop()


def _run(sim: Any, cfg: Path, day: str, capsys: pytest.CaptureFixture[str] | None = None) -> str:
    """The simulator's clock at the evening of a day, then the nightly run of that day: its output."""
    sim.as_of = cst(f"{day} 20:00")
    if capsys is not None:
        capsys.readouterr()
    assert main(["run", "--today", day, "--config", str(cfg)]) == 0
    return capsys.readouterr().out if capsys is not None else ""


def _states(wh: Warehouse) -> dict[tuple[str, str], tuple[str, int | None]]:
    rows = calendar_store.release_calendar_rows(wh)
    assert set(rows["dataset"]) == {"zone"}  # the zones publish no enterprise dataset here
    return {
        (r.zone_code, r.period): (r.state, None if pd.isna(r.days_late) else int(r.days_late))
        for r in rows.itertuples()
    }


def _late(cfg: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["late", *extra, "--json", "--config", str(cfg)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _listed(late: list[dict[str, Any]]) -> set[tuple[str, str, str, int]]:
    return {(r["zone_code"], r["period"], r["state"], r["days_late"]) for r in late}


@pytest.mark.slow
def test_states_of_on_time_late_missing_overdue_and_extended_releases(
    province: tuple[Any, Path, Warehouse], capsys: pytest.CaptureFixture[str]
) -> None:
    sim, cfg, wh = province

    # 04-17: 2026-02 and DT01's 2026-03 came on the 15th; TY01's 2026-03 has not (due 04-16
    # 12:00, 1 d 12 h by the end of 04-17 → 2 days); Q1 is due 04-20
    out = _run(sim, cfg, "2026-04-17", capsys)
    assert "    TY01 zone 2026-03 missing, 2 days after 2026-04-16 12:00" in out.splitlines()
    assert _states(wh) == {
        ("DT01", "2026-02"): ("on_time", 0),
        ("DT01", "2026-03"): ("on_time", 0),
        ("DT01", "2026-Q1"): ("pending", None),
        ("TY01", "2026-02"): ("on_time", 0),
        ("TY01", "2026-03"): ("missing", 2),
        ("TY01", "2026-Q1"): ("pending", None),
    }
    assert _listed(_late(cfg, capsys, "--as-of", "2026-04-17")) == {
        ("TY01", "2026-03", "missing", 2)
    }

    # DT01 asked for more time for Q1
    capsys.readouterr()
    argv = ["deadline", "extend", "--zone", "DT01", "--dataset", "zone", "--period", "2026-Q1"]
    argv += ["--config", str(cfg)]
    assert main([*argv, "--until", "2026-04-24 18:00", "--reason", "市统计局同意：系统升级"]) == 0
    assert "extended to 2026-04-24 18:00" in capsys.readouterr().out
    # before the deadline it replaces, or of a period the dataset does not have: refused
    assert main([*argv, "--until", "2026-04-20 11:00", "--reason", "x"]) == 2
    assert "is not after the deadline of 2026-Q1, 2026-04-20 12:00" in capsys.readouterr().err
    quarterly = ["--dataset", "enterprise", "--period", "2026-Q1", "--config", str(cfg)]
    assert main([*argv[:4], *quarterly, "--until", "2026-05-01", "--reason", "x"]) == 2
    assert "has no Q releases" in capsys.readouterr().err

    # 04-24: TY01's 2026-03 came on 04-18 10:00: late by 1 d 22 h → 2 days. DT01's Q1 came on
    # 04-23 10:00, after 04-20 12:00 but before the extended 04-24 18:00: on time
    assert "missing or overdue" not in _run(sim, cfg, "2026-04-24", capsys)
    assert _states(wh) == {
        ("DT01", "2026-02"): ("on_time", 0),
        ("DT01", "2026-03"): ("on_time", 0),
        ("DT01", "2026-Q1"): ("on_time", 0),
        ("TY01", "2026-02"): ("on_time", 0),
        ("TY01", "2026-03"): ("late", 2),
        ("TY01", "2026-Q1"): ("on_time", 0),
    }
    assert _late(cfg, capsys, "--as-of", "2026-04-24") == []

    # DT01's 2026-04 is extended to 05-20 18:00; TY01's is not
    argv = ["deadline", "extend", "--zone", "DT01", "--dataset", "zone", "--period", "2026-04"]
    reason = ["--reason", "园区书面申请，省统计局批准"]
    assert main([*argv, "--until", "2026-05-20T18:00:00+08:00", *reason, "--config", str(cfg)]) == 0

    # 05-18: 2026-04 was due 05-16 12:00: TY01's missing (2 d 12 h → 3 days), DT01's pending
    # until its extension. TY01's Q1 has a revision now (04-27): still on time
    _run(sim, cfg, "2026-05-18")
    states = _states(wh)
    assert states[("TY01", "2026-04")] == ("missing", 3)
    assert states[("DT01", "2026-04")] == ("pending", None)
    assert states[("TY01", "2026-Q1")] == ("on_time", 0)
    assert _listed(_late(cfg, capsys, "--as-of", "2026-05-18")) == {
        ("TY01", "2026-04", "missing", 3)
    }

    # 05-24: TY01's 2026-04 is 8 d 12 h past its deadline (more than 5 days): overdue, 9 days;
    # DT01's 4 d 6 h past its extended one: missing, 5 days
    out = _run(sim, cfg, "2026-05-24", capsys)
    states = _states(wh)
    assert states[("TY01", "2026-04")] == ("overdue", 9)
    assert states[("DT01", "2026-04")] == ("missing", 5)
    # the run's summary names them (the run itself did not fail: exit 0)
    summary = out[out.index("missing or overdue by the reporting calendar (2):") :].splitlines()
    assert summary[1:3] == [
        "    DT01 zone 2026-04 missing, 5 days after 2026-05-20 18:00 (extended)",
        "    TY01 zone 2026-04 overdue, 9 days after 2026-05-16 12:00",
    ]
    late = _late(cfg, capsys, "--as-of", "2026-05-24")
    assert _listed(late) == {("TY01", "2026-04", "overdue", 9), ("DT01", "2026-04", "missing", 5)}
    dt01 = next(r for r in late if r["zone_code"] == "DT01")
    assert dt01["deadline"] == dt01["extended_until"] == "2026-05-20T10:00:00+00:00"
    assert dt01["due_at"] == "2026-05-16T04:00:00+00:00"

    # what the warehouse knew on an earlier day: as on 04-17, whatever came later
    assert _listed(_late(cfg, capsys, "--as-of", "2026-04-17")) == {
        ("TY01", "2026-03", "missing", 2)
    }
    # the table an operator reads
    capsys.readouterr()
    assert main(["late", "--as-of", "2026-05-24", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "missing or overdue as of 2026-05-24 23:59 (Asia/Shanghai): 2 releases of 2 zones" in out
    lines = out.splitlines()
    assert lines[2].split() == ["zone", "dataset", "period", "state", "deadline", "days", "late",
                                "extended"]  # fmt: skip
    assert lines[4].split() == ["DT01", "zone", "2026-04", "missing", "2026-05-20", "18:00", "5",
                                "yes"]  # fmt: skip
    assert lines[5].split() == ["TY01", "zone", "2026-04", "overdue", "2026-05-16", "12:00", "9"]

    # what the listings recorded: TY01's 2026-03 first published on 04-18, loaded once
    with wh.engine.connect() as conn:
        seen = conn.execute(
            sa.select(schema.release_seen).where(
                schema.release_seen.c.zone_code == "TY01",
                schema.release_seen.c.period.in_(["2026-03", "2026-Q1"]),
            )
        ).all()
        actions = conn.execute(
            sa.select(schema.operator_action).where(
                schema.operator_action.c.action == "deadline_extend"
            )
        ).all()
    by_period = {r.period: r for r in seen}
    first = by_period["2026-03"].first_published_at
    assert first.replace(tzinfo=first.tzinfo or UTC) == cst("2026-04-18 10:00")
    # the natural revision of TY01's Q1 (04-27) is its latest, not its first publication
    q1 = by_period["2026-Q1"]
    assert (q1.first_revision, q1.last_revision) == (1, 2)
    # each extension audited: who, why, what
    assert len(actions) == 2
    details = [json.loads(a.details) for a in actions]
    assert [(d["zone_code"], d["period"]) for d in details] == [
        ("DT01", "2026-Q1"),
        ("DT01", "2026-04"),
    ]
    assert actions[1].reason == "园区书面申请，省统计局批准"
    assert all(a.operator for a in actions)

    # the report's punctuality table, from release_calendar as the run of 05-24 left it:
    # TY01 2 of 4 on time, late 2 and overdue 9 days → 5.5; DT01 3 of 4, missing 5 → 5.0
    capsys.readouterr()
    assert main(["report", "--year", "2026", "--config", str(cfg)]) == 0
    page = (wh.data_dir / "reports" / "report-2026.html").read_text(encoding="utf-8")
    section = page[page.index("4. Punctuality") :]
    assert "as of 2026-05-24 23:59" in section
    rows = re.findall(r"<tr><td>[^<]*<span class=\"en\">(\w+)</span></td>(.*?)</tr>", section)
    cells = {zone: re.findall(r'<td class="num">([^<]*)</td>', tds) for zone, tds in rows}
    assert cells["DT01"] == ["4", "3", "0", "1", "0", "75.0", "5.0"]
    assert cells["TY01"] == ["4", "2", "1", "0", "1", "50.0", "5.5"]

    # the Parquet copy is the SQL table
    pq_rows = pd.read_parquet(calendar_file(wh.data_dir))
    assert len(pq_rows) == len(calendar_store.release_calendar_rows(wh)) == 8
    assert sorted(pq_rows["state"]) == sorted(["on_time"] * 5 + ["late", "missing", "overdue"])


def test_late_on_a_missing_warehouse_creates_nothing(
    tmp_path: Path, write_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from zonesim import Simulator

    sim = Simulator(seed=2026, as_of=cst("2026-04-17 20:00"), start_year=2026)
    url = f"sqlite:///{(tmp_path / 'absent.db').as_posix()}"
    cfg = write_config(tmp_path / "zonestats.toml", sim, url, tmp_path / "data", ZONES)
    assert main(["late", "--config", str(cfg)]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "absent.db").exists()  # a reader creates nothing


def test_first_period_is_checked(tmp_path: Path, write_config: Any) -> None:
    from zonesim import Simulator

    sim = Simulator(seed=2026, as_of=cst("2026-04-17 20:00"), start_year=2026)
    cfg = write_config(
        tmp_path / "zonestats.toml",
        sim,
        "sqlite:///x.db",
        tmp_path / "data",
        ["TY01"],
        zone_keys={"first_period": "2026-01"},
    )
    with pytest.raises(ConfigError, match=r"zones\[TY01\]\.first_period: .*2026-01"):
        load_config(cfg, shipped_catalog())


def test_the_run_summary_artifact_lists_what_is_late() -> None:
    from zonestats.summary import LateRelease, RunSummary

    late = [
        LateRelease("DT01", "zone", "2026-04", "missing", "2026-05-20 18:00", 1, extended=True),
        LateRelease("TY01", "enterprise", "2026-04", "overdue", "2026-05-16 12:00", 9),
    ]
    md = RunSummary(late=late).to_markdown()
    assert "## Missing or overdue (2, by the reporting calendar)" in md
    assert "| DT01 | zone | 2026-04 | missing | 2026-05-20 18:00 | 1 | yes |" in md
    assert "| TY01 | enterprise | 2026-04 | overdue | 2026-05-16 12:00 | 9 |  |" in md
    assert str(late[0]) == "DT01 zone 2026-04 missing, 1 day after 2026-05-20 18:00 (extended)"
    assert "Missing or overdue" not in RunSummary().to_markdown()
