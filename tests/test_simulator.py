"""The zone simulator (zonesim) against zone-api.md, through a real server on loopback."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest
import requests

import zonesim.server
from zonesim import BAD_RECORDS, Faults, Simulator, data
from zonesim.schedule import CST
from zonestats.catalog import load_catalog
from zonestats.periods import parse_period

AS_OF = datetime(2026, 11, 27, 12, 0, tzinfo=CST)
SIMULATOR = {"seed": 2026, "as_of": AS_OF, "start_year": 2024}
pytestmark = pytest.mark.usefixtures("healthy_sim")
CATALOG = load_catalog()
ZONE_INDICATORS = {i.code: i for i in CATALOG.for_dataset("zone")}


def call(
    http: requests.Session,
    sim: Simulator,
    zone: str,
    endpoint: str,
    token: str | None = None,
    anonymous: bool = False,
    **params: Any,
) -> requests.Response:
    headers = {} if anonymous else {"Authorization": f"Bearer {token or sim.token(zone)}"}
    return http.get(f"{sim.base_url(zone)}/{endpoint}", params=params, headers=headers, timeout=10)


def fetch_pages(
    http: requests.Session, sim: Simulator, zone: str, period: str, **params: Any
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        extra: dict[str, Any] = {"cursor": cursor} if cursor else {}
        resp = call(http, sim, zone, "data/zone", period=period, **params, **extra)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


def canonical(record: dict[str, Any]) -> Fraction | None:
    """Parse a served value the way zone-api.md says, into the catalog unit."""
    value = record["value"]
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", "")
        if value in ("", "-"):
            return None
    return Fraction(str(value)) * ZONE_INDICATORS[record["indicator"]].unit_factors[record["unit"]]


def values_of(records: list[dict[str, Any]]) -> dict[str, Fraction | None]:
    return {r["indicator"]: canonical(r) for r in records}


def number(values: dict[str, Fraction | None], code: str) -> Fraction:
    value = values[code]
    assert value is not None, code
    return value


def latest(sim: Simulator, zone: str, period: str) -> int:
    revision = sim.latest_revision(zone, "zone", period)
    assert revision is not None, (zone, period)
    return revision


def latest_values(sim: Simulator, zone: str) -> dict[str, dict[str, Fraction | None]]:
    return {
        rel["period"]: values_of(sim.records(zone, "zone", rel["period"], rel["revision"]))
        for rel in sim.releases(zone)
    }


# ---- determinism, schedule, periods ---------------------------------------------------------


def test_same_seed_same_data_and_other_seed_other_data() -> None:
    a, b = Simulator(seed=2026, as_of=AS_OF), Simulator(seed=2026, as_of=AS_OF)
    c = Simulator(seed=7, as_of=AS_OF)
    for zone in ("TY01", "LL01"):
        assert a.releases(zone) == b.releases(zone)
        assert a.token(zone) == b.token(zone) != c.token(zone)
        assert a.token(zone).startswith("zs-")
        for rel in a.releases(zone):
            assert a.records(zone, "zone", rel["period"], rel["revision"]) == b.records(
                zone, "zone", rel["period"], rel["revision"]
            )
    assert a.records("TY01", "zone", "2026-10", 1) != c.records("TY01", "zone", "2026-10", 1)
    assert Simulator.token_env("TY01") == "ZONESTATS_TOKEN_TY01"


def test_every_zone_for_three_years_is_generated_once_per_release() -> None:
    # What keeps the simulator cheap is counted, not timed (a wall-clock bound fails on a busy
    # machine): each release is generated once, each zone's profile once, and asking again
    # generates nothing. The seed is used by no other test, so the caches start cold.
    cold = Simulator(seed=4_242_001, as_of=AS_OF)
    cached = {"release": data._records, "profile": data._profile}
    before = {name: fn.cache_info() for name, fn in cached.items()}

    def every_record() -> int:
        return sum(
            len(cold.records(z, "zone", rel["period"], rel["revision"]))
            for z in cold.zone_codes
            for rel in cold.releases(z)
        )

    count = every_record()
    first = {name: fn.cache_info() for name, fn in cached.items()}
    assert count > 4000
    releases = sum(len(cold.releases(z)) for z in cold.zone_codes)
    assert first["release"].misses - before["release"].misses == releases
    assert first["profile"].misses - before["profile"].misses == len(cold.zone_codes)
    assert every_record() == count
    again = {name: fn.cache_info() for name, fn in cached.items()}
    assert {name: again[name].misses - first[name].misses for name in cached} == {
        "release": 0,
        "profile": 0,
    }


def test_schedule_at_as_of(sim: Simulator) -> None:
    for zone in sim.zone_codes:
        rels = sim.releases(zone)
        latest = {f: max(r["period"] for r in rels if r["frequency"] == f) for f in "MQA"}
        assert latest["M"] == "2026-10"
        assert latest["Q"] == "2026-Q3"
        assert latest["A"] == "2025"
        assert all(not r["period"].endswith("-01") for r in rels)
        assert len(rels) == 11 + 4 + 1 + 11 + 4 + 1 + 9 + 3  # 2024, 2025, 2026 so far
        assert [r["published_at"] for r in rels] == sorted(r["published_at"] for r in rels)
        for rel in rels:
            parse_period(rel["period"], rel["frequency"])
            assert rel["published_at"].endswith("+08:00")
            assert rel["record_count"] == len(
                sim.records(zone, "zone", rel["period"], rel["revision"])
            )
            expected_first = {
                "2026-10": "2026-11-15T10:00:00+08:00",
                "2025-12": "2026-01-15T10:00:00+08:00",
                "2026-Q3": "2026-10-20T10:00:00+08:00",
                "2025-Q4": "2026-01-20T10:00:00+08:00",
                "2025": "2026-04-30T10:00:00+08:00",
            }.get(rel["period"])
            if expected_first and rel["revision"] == 1:
                assert rel["published_at"] == expected_first


def test_publication_instant_is_inclusive() -> None:
    before = Simulator(as_of=datetime(2026, 11, 15, 9, 59, 59, tzinfo=CST), start_year=2026)
    at = Simulator(as_of=datetime(2026, 11, 15, 10, 0, tzinfo=CST), start_year=2026)
    assert before.latest_revision("TY01", "zone", "2026-10") is None
    assert at.latest_revision("TY01", "zone", "2026-10") is not None
    # naive datetimes are Beijing time
    assert Simulator(as_of=datetime(2026, 11, 15, 10, 0)).as_of == at.as_of


def test_moving_as_of_forward_publishes_more(fresh: Simulator) -> None:
    assert fresh.latest_revision("TY01", "zone", "2026") is None
    fresh.as_of = datetime(2027, 5, 1, tzinfo=CST)
    periods = {r["period"] for r in fresh.releases("TY01")}
    assert {"2026", "2026-12", "2026-Q4", "2027-03", "2027-Q1"} <= periods
    assert "2027-04" not in periods


def test_since_keeps_releases_published_at_or_after(sim: Simulator, http: requests.Session) -> None:
    truth = sim.releases("JZ01")
    since = truth[-3]["published_at"]
    resp = call(http, sim, "JZ01", "releases", dataset="zone", since=since)
    assert resp.status_code == 200
    body = resp.json()
    assert body["zone_code"] == "JZ01"
    assert body["dataset"] == "zone"
    assert body["releases"] == [r for r in truth if r["published_at"] >= since]
    assert len(body["releases"]) >= 3
    assert call(http, sim, "JZ01", "releases", dataset="zone").json()["releases"] == truth
    later = call(http, sim, "JZ01", "releases", dataset="zone", since="2030-01-01T00:00:00Z")
    assert later.json()["releases"] == []
    naive = call(http, sim, "JZ01", "releases", dataset="zone", since="2026-11-01T00:00:00")
    assert naive.status_code == 400


# ---- the data themselves --------------------------------------------------------------------


def test_ytd_series_never_decrease_within_a_year(sim: Simulator) -> None:
    for zone in sim.zone_codes:
        values = latest_values(sim, zone)
        for code, ind in ZONE_INDICATORS.items():
            if ind.basis != "ytd" or ind.frequency == "A":
                continue
            for year in (2024, 2025, 2026):
                ends = range(2, 13) if ind.frequency == "M" else range(1, 5)
                texts = [
                    f"{year}-{m:02d}" if ind.frequency == "M" else f"{year}-Q{m}" for m in ends
                ]
                series = [v for t in texts if (v := values.get(t, {}).get(code)) is not None]
                assert series == sorted(series), (zone, code, year)


def test_relations_the_province_audits(sim: Simulator) -> None:
    low_land_zones = set()
    for zone in sim.zone_codes:
        values = latest_values(sim, zone)
        for period, vals in values.items():
            for code, value in vals.items():
                ind = ZONE_INDICATORS[code]
                if value is None:
                    continue
                assert ind.min is None or value >= Fraction(str(ind.min)), (zone, period, code)
                assert ind.max is None or value <= Fraction(str(ind.max)), (zone, period, code)
                assert not ind.integer or value.denominator == 1, (zone, period, code)
            if vals.get("green_electricity") is not None:
                assert number(vals, "green_electricity") <= number(vals, "electricity_consumption")
            if "Q" in period:
                year, quarter = period.split("-Q")
                revenue = number(values[f"{year}-{int(quarter) * 3:02d}"], "revenue")
                assert number(vals, "leading_industry_revenue") <= revenue
            if len(period) == 4:
                land, dev, planned = (
                    vals["industrial_land_area"],
                    vals["developed_area"],
                    vals["planned_area"],
                )
                assert land is not None
                assert dev is not None
                assert planned is not None
                assert land <= dev <= planned
                assert 10_000 <= planned <= 150_000
                if land < dev * Fraction(3, 10):
                    low_land_zones.add(zone)
            if period.endswith("-12"):
                assert 250_000 <= number(vals, "revenue") <= 9_000_000
                assert 20 <= number(vals, "above_scale_enterprises") <= 600
                assert 2 <= number(vals, "industrial_va_growth") <= Fraction(25, 2)
    assert len(low_land_zones) >= 2


def test_wire_quirks_convert_back_to_the_canonical_values(sim: Simulator) -> None:
    seen: set[str] = set()
    for zone in sim.zone_codes:
        for rel in sim.releases(zone):
            records = sim.records(zone, "zone", rel["period"], rel["revision"])
            truth = sim.canonical_values(zone, "zone", rel["period"], rel["revision"])
            assert [r["indicator"] for r in records] == list(truth)
            for rec in records:
                ind = ZONE_INDICATORS[rec["indicator"]]
                assert rec["unit"] in ind.unit_factors
                assert rec.get("status", "A") in ("A", "P", "E", "M")
                expected = truth[rec["indicator"]]
                assert canonical(rec) == (None if expected is None else Fraction(expected))
                value = rec["value"]
                seen.add(type(value).__name__)
                if isinstance(value, str) and "," in value:
                    seen.add("thousands")
                if isinstance(value, str) and value != value.strip():
                    seen.add("spaces")
                if value in ("-", ""):
                    seen.add("blank")
                if rec["unit"] != ind.unit:
                    seen.add("alt_unit")
                if "status" not in rec:
                    seen.add("no_status")
                else:
                    seen.add("status_" + rec["status"])
                if rec.get("status") == "M":
                    assert canonical(rec) is None
            mandatory = set(CATALOG.mandatory("zone", rel["frequency"]))
            assert mandatory <= {r["indicator"] for r in records}
    expected = {"int", "float", "str", "NoneType", "thousands", "spaces", "blank", "alt_unit"}
    assert expected | {"no_status", "status_A", "status_P", "status_M"} <= seen


# ---- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 5, 500])
def test_pages_reassemble_the_release(sim: Simulator, http: requests.Session, limit: int) -> None:
    for zone, period in (("TY01", "2026-10"), ("DT01", "2026-Q3"), ("LF01", "2025")):
        revision = latest(sim, zone, period)
        pages = fetch_pages(http, sim, zone, period, limit=limit)
        expected = sim.records(zone, "zone", period, revision)
        assert [r for p in pages for r in p["records"]] == expected
        assert len(pages) == -(-len(expected) // limit)
        for page in pages:
            assert (page["zone_code"], page["dataset"], page["period"], page["revision"]) == (
                zone,
                "zone",
                period,
                revision,
            )
            assert len(page["records"]) <= limit


def test_default_limit_and_explicit_revision(sim: Simulator, http: requests.Session) -> None:
    revision = latest(sim, "CZ01", "2026-09")
    resp = call(http, sim, "CZ01", "data/zone", period="2026-09", revision=revision)
    body = resp.json()
    assert resp.status_code == 200
    assert body["next_cursor"] is None
    assert body["records"] == sim.records("CZ01", "zone", "2026-09", revision)
    assert resp.headers["Content-Type"].startswith("application/json")


# ---- errors ---------------------------------------------------------------------------------


def test_errors(sim: Simulator, http: requests.Session) -> None:
    def status(zone: str = "TY01", endpoint: str = "data/zone", **params: Any) -> tuple[int, Any]:
        resp = call(http, sim, zone, endpoint, **params)
        return resp.status_code, resp.json()

    unauthorized = {"error": "unauthorized"}
    assert status(anonymous=True, period="2026-10") == (401, unauthorized)
    assert status(token="zs-wrong", period="2026-10") == (401, unauthorized)
    assert status(token=sim.token("DT01"), period="2026-10") == (401, unauthorized)
    assert status(endpoint="releases", anonymous=True, dataset="zone") == (401, unauthorized)

    not_found = (404, {"error": "not found"})
    for period in ("2026-01", "2026-11", "2026-13", "2023-05", "2026-Q4", "2026", "26-10", "x"):
        assert status(period=period) == not_found, period
    assert status(endpoint="data/enterprise", period="2026-Q3") == not_found  # monthly only
    assert status(endpoint="data/enterprise", period="2026-11") == not_found
    assert status(endpoint="data/nope", period="2026-10") == not_found
    assert status(endpoint="releases", dataset="nope") == not_found
    assert status(period="2026-10", revision=9) == not_found
    unknown_zone = http.get(f"http://127.0.0.1:{sim.port}/XX99/api/v1/releases", timeout=5)
    assert (unknown_zone.status_code, unknown_zone.json()) == not_found
    assert status(endpoint="nothing/here") == not_found

    assert status(period="2026-10", limit=1001) == (400, {"error": "limit must be at most 1000"})
    assert status(period="2026-10", limit=1000)[0] == 200
    for limit in ("0", "-1", "abc", "1.5"):
        assert status(period="2026-10", limit=limit)[0] == 400
    assert status(period="2026-10", revision="one")[0] == 400
    assert status(period="2026-10", cursor="garbage")[0] == 400
    assert status(period="2026-10", cursor="eyJvZmZzZXQiOjUwMH0")[0] == 400  # the spec's example
    assert status(endpoint="releases")[0] == 400
    assert status()[0] == 400  # no period

    first = call(http, sim, "TY01", "data/zone", period="2026-10", limit=3).json()
    other = call(http, sim, "TY01", "data/zone", period="2026-09", cursor=first["next_cursor"])
    assert other.status_code == 400  # a cursor of another release
    assert [r.status for r in sim.requests][:4] == [401, 401, 401, 401]
    assert sim.requests[0].query == {"period": "2026-10"}
    assert sim.requests[0].zone == "TY01"


def test_natural_revision_and_superseded(fresh: Simulator, http: requests.Session) -> None:
    revised = [
        (zone, rel)
        for zone in fresh.zone_codes
        for rel in fresh.releases(zone)
        if rel["revision"] == 2
    ]
    # about 1 in 12 of the ~48 releases of 11 zones
    assert 15 <= len(revised) <= 80
    zone, rel = revised[0]
    second = datetime.fromisoformat(rel["published_at"])
    rev1 = fresh.records(zone, "zone", rel["period"], 1)
    rev2 = fresh.records(zone, "zone", rel["period"], 2)
    changed = [a for a, b in zip(rev1, rev2, strict=True) if a != b]
    assert 1 <= len(changed) <= 3 + sum(r.get("status") == "P" for r in rev1)

    resp = call(http, fresh, zone, "data/zone", period=rel["period"], revision=1)
    assert (resp.status_code, resp.json()) == (409, {"error": "superseded", "latest_revision": 2})
    assert call(http, fresh, zone, "data/zone", period=rel["period"], revision=3).status_code == 404

    fresh.as_of = second - timedelta(seconds=1)
    listed = {r["period"]: r for r in fresh.releases(zone)}[rel["period"]]
    assert listed["revision"] == 1
    assert datetime.fromisoformat(listed["published_at"]) == second - timedelta(days=7)
    assert call(http, fresh, zone, "data/zone", period=rel["period"], revision=2).status_code == 404
    pages = fetch_pages(http, fresh, zone, rel["period"])
    assert pages[0]["revision"] == 1
    assert pages[0]["records"] == rev1


def test_publish_revision(fresh: Simulator, http: requests.Session) -> None:
    before = latest(fresh, "YC01", "2026-10")
    new = fresh.publish_revision("YC01", "zone", "2026-10")
    assert new == before + 1
    listed = {r["period"]: r for r in fresh.releases("YC01")}["2026-10"]
    assert listed["revision"] == new
    assert listed["published_at"] == "2026-11-27T12:00:00+08:00"
    assert fresh.releases("YC01")[-1]["period"] == "2026-10"  # re-published last
    old = values_of(fresh.records("YC01", "zone", "2026-10", before))
    cur = values_of(fresh.records("YC01", "zone", "2026-10", new))
    diffs = [c for c in old if old[c] != cur[c]]
    assert 1 <= len(diffs) <= 3
    for code in diffs:
        a, b = old[code], cur[code]
        assert a is not None
        assert b is not None
        assert abs(b - a) <= max(abs(a) / 50, Fraction(3))
    assert (
        call(http, fresh, "YC01", "data/zone", period="2026-10", revision=before).status_code == 409
    )
    assert fresh.publish_revision("YC01", "zone", "2026-10") == new + 1
    with pytest.raises(ValueError, match="not published"):
        fresh.publish_revision("YC01", "zone", "2026-11")
    with pytest.raises(KeyError):
        fresh.publish_revision("YC01", "zone", "2026-01")


# ---- faults ---------------------------------------------------------------------------------


def test_5xx_then_rate_limit_then_normal(sim: Simulator, http: requests.Session) -> None:
    sim.set_faults("TY01", Faults(error_5xx=2, rate_limit=1, retry_after_s=3))
    answers = [call(http, sim, "TY01", "releases", dataset="zone") for _ in range(4)]
    assert [r.status_code for r in answers] == [503, 503, 429, 200]
    assert answers[0].headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answers[0].json()
    assert answers[2].headers["Retry-After"] == "3"
    assert answers[2].json() == {"error": "rate limited"}
    assert call(http, sim, "DT01", "releases", dataset="zone").status_code == 200
    left = sim.faults("TY01")
    assert (left.error_5xx, left.rate_limit) == (0, 0)


def test_bad_token_and_slow(
    sim: Simulator, http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.set_faults("TY01", Faults(bad_token=True))
    assert call(http, sim, "TY01", "releases", dataset="zone").status_code == 401
    # The delay is observed where the server takes it rather than on the wall clock: each sleep
    # is recorded with how many requests had been answered by then (the server logs a request
    # just before it answers), so the order "delay, then answer" is checked without timing.
    delays: list[tuple[float, int]] = []

    def sleep(seconds: float) -> None:
        delays.append((seconds, len(sim.requests)))

    monkeypatch.setattr(zonesim.server, "time", SimpleNamespace(sleep=sleep))
    sim.clear_requests()
    sim.set_faults("TY01", Faults(slow_s=0.3))
    assert call(http, sim, "TY01", "releases", dataset="zone").status_code == 200
    assert call(http, sim, "DT01", "releases", dataset="zone").status_code == 200
    assert call(http, sim, "TY01", "releases", dataset="zone").status_code == 200
    # every request of the slow zone waits slow_s before its answer; other zones never wait
    assert delays == [(0.3, 0), (0.3, 2)]
    assert [(r.zone, r.status) for r in sim.requests] == [
        ("TY01", 200),
        ("DT01", 200),
        ("TY01", 200),
    ]


def test_supersede_on_page(fresh: Simulator, http: requests.Session) -> None:
    revision = latest(fresh, "JC01", "2026-09")
    fresh.set_faults("JC01", Faults(supersede_on_page=2))
    first = call(http, fresh, "JC01", "data/zone", period="2026-09", limit=4).json()
    second = call(http, fresh, "JC01", "data/zone", period="2026-09", cursor=first["next_cursor"])
    assert second.status_code == 409
    assert second.json() == {"error": "superseded", "latest_revision": revision + 1}
    assert fresh.latest_revision("JC01", "zone", "2026-09") == revision + 1
    pages = fetch_pages(http, fresh, "JC01", "2026-09", limit=4)  # the fault fires only once
    assert {p["revision"] for p in pages} == {revision + 1}
    got = [r for p in pages for r in p["records"]]
    assert got == fresh.records("JC01", "zone", "2026-09", revision + 1)
    assert got != fresh.records("JC01", "zone", "2026-09", revision)
    again = call(http, fresh, "JC01", "data/zone", period="2026-09", cursor=first["next_cursor"])
    assert again.status_code == 409  # the old cursor's revision is superseded for good


def test_revision_drift_and_foreign_zone(sim: Simulator, http: requests.Session) -> None:
    revision = latest(sim, "LL01", "2026-08")
    sim.set_faults("LL01", Faults(revision_drift_on_page=2))
    pages = fetch_pages(http, sim, "LL01", "2026-08", limit=5)
    assert [p["revision"] for p in pages] == [revision, revision + 1, revision]
    again = fetch_pages(http, sim, "LL01", "2026-08", limit=5)
    assert [p["revision"] for p in again] == [revision] * 3
    assert [r for p in pages for r in p["records"]] == [r for p in again for r in p["records"]]

    sim.set_faults("LL01", Faults(foreign_zone_on_page=2))
    for _ in range(2):
        codes = [p["zone_code"] for p in fetch_pages(http, sim, "LL01", "2026-08", limit=5)]
        assert codes[0] == codes[2] == "LL01"
        assert codes[1] in sim.zone_codes
        assert codes[1] != "LL01"


def test_drop_connection(sim: Simulator, http: requests.Session) -> None:
    sim.set_faults("SZ01", Faults(drop_connection=1))
    assert call(http, sim, "SZ01", "releases", dataset="zone").status_code == 200  # not a page
    with pytest.raises(requests.exceptions.RequestException):
        call(http, sim, "SZ01", "data/zone", period="2026-10")
    assert call(http, sim, "SZ01", "data/zone", period="2026-10").status_code == 200


def test_huge_body(sim: Simulator, http: requests.Session) -> None:
    sim.set_faults("XZ01", Faults(huge_body_bytes=300_000))
    resp = call(http, sim, "XZ01", "data/zone", period="2026-10")
    assert resp.status_code == 200
    assert len(resp.content) >= 300_000
    revision = resp.json()["revision"]
    assert resp.json()["records"] == sim.records("XZ01", "zone", "2026-10", revision)


def test_echo_token(sim: Simulator, http: requests.Session) -> None:
    from zonesim import ECHO_CASES, echo_case
    from zonesim.bad_data import ECHO_TEXT_AT

    zone = "JC01"
    header = f"Bearer {sim.token(zone)}"
    clean = call(http, sim, zone, "data/zone", period="2026-09")
    sim.set_faults(zone, Faults.from_dict({"echo_token": True}))
    sim.clear_requests()
    # every answer: the header received, in X-Echo-Authorization; a JSON answer in "request"
    listing = call(http, sim, zone, "releases", dataset="zone")
    assert listing.status_code == 200
    assert listing.headers["X-Echo-Authorization"] == header
    assert listing.json()["request"] == {"authorization": header}
    page = call(http, sim, zone, "data/zone", period="2026-09")  # a release no case names
    assert echo_case("zone", "2026-09") is None
    assert page.json() == {**clean.json(), "request": {"authorization": header}}
    assert "WWW-Authenticate" not in page.headers
    # errors carry it in WWW-Authenticate too
    missing = call(http, sim, zone, "data/zone", period="2026-11")
    assert missing.status_code == 404
    assert header in missing.headers["WWW-Authenticate"]

    assert {(c.dataset, c.status) for c in ECHO_CASES} >= {
        ("zone", 400),
        ("zone", 403),
        ("zone", 502),
        ("zone", 200),
        ("enterprise", 200),
    }
    for case in ECHO_CASES:
        period = f"2026-{case.period_end:02d}"
        assert echo_case(case.dataset, period) == case
        resp = call(http, sim, zone, f"data/{case.dataset}", period=period, limit=3)
        assert resp.status_code == case.status, case
        assert resp.headers["X-Echo-Authorization"] == header
        if case.where == "json":
            assert header in resp.json()["authorization"]
        elif case.where == "text":
            assert resp.text.index(header) == ECHO_TEXT_AT
        elif case.where == "html":
            assert resp.headers["Content-Type"].startswith("text/html")
            assert header in resp.text
        else:
            body = resp.json()
            first = body["records"][0]
            assert header in str(first[case.where]), case
            assert header not in json.dumps(body["records"][1:])
            # only the first page: the next ones are as served without the fault
            later = call(
                http, sim, zone, f"data/{case.dataset}", cursor=body["next_cursor"], period=period
            )
            assert header not in json.dumps(later.json()["records"])
    assert all(r.echoed for r in sim.requests if r.zone == zone)
    sim.clear_faults(zone)
    # the simulator's own records are untouched (the echo works on copies)
    assert call(http, sim, zone, "data/zone", period="2026-09").json() == clean.json()
    again = call(http, sim, zone, "data/zone", period="2026-09", limit=3)
    assert "X-Echo-Authorization" not in again.headers
    assert not sim.requests[-1].echoed


def _check_bad_records(records: list[dict[str, Any]], frequency: str) -> None:
    by_code: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_code.setdefault(rec["indicator"], []).append(rec)
    for case in BAD_RECORDS["zone"][frequency]:
        found = by_code.get(case.indicator, [])
        canonical_unit = (
            ZONE_INDICATORS[case.indicator].unit if case.rule != "indicator_unknown" else None
        )
        if case.action == "repeat":
            assert len(found) == 2
            assert found[0] == found[1]
        elif case.action == "conflict":
            assert len(found) == 2
            assert found[0]["value"] != found[1]["value"]
        elif case.action == "append":
            assert case.indicator not in ZONE_INDICATORS
            assert len(found) == 1
        else:
            (rec,) = found
            if case.value is not None:
                assert (rec["value"], rec["unit"]) == (case.value, canonical_unit)
            if case.unit is not None:
                assert rec["unit"] == case.unit
                assert rec["unit"] not in ZONE_INDICATORS[case.indicator].unit_factors
            if case.status is not None:
                assert rec["status"] == case.status
                assert canonical(rec) is not None
            else:
                assert rec.get("status") != "M"


def test_bad_records(sim: Simulator, http: requests.Session) -> None:
    rules = {c.rule for cases in BAD_RECORDS["zone"].values() for c in cases}
    assert rules == {
        None,
        "indicator_unknown",
        "unit_not_allowed",
        "value_unparsable",
        "value_below_min",
        "value_not_integer",
        "status_value_mismatch",
        "status_invalid",
        "duplicate_conflict",
    }
    clean = {p: latest(sim, "CZ01", p) for p in ("2026-10", "2026-Q3", "2025")}
    clean_records = {p: sim.records("CZ01", "zone", p, r) for p, r in clean.items()}
    sim.set_faults("CZ01", Faults(bad_records=True))
    listed = {r["period"]: r for r in sim.releases("CZ01")}
    for period, frequency in (("2026-10", "M"), ("2026-Q3", "Q"), ("2025", "A")):
        records = sim.records("CZ01", "zone", period, clean[period])
        _check_bad_records(records, frequency)
        assert listed[period]["record_count"] == len(records)
        assert len(records) == len(clean_records[period]) + len(
            [c for c in BAD_RECORDS["zone"][frequency] if c.action != "replace"]
        ) + sum(
            1
            for c in BAD_RECORDS["zone"][frequency]
            if c.action == "replace"
            and c.indicator not in {r["indicator"] for r in clean_records[period]}
        )
        untouched = {c.indicator for c in BAD_RECORDS["zone"][frequency]}
        assert [r for r in records if r["indicator"] not in untouched] == [
            r for r in clean_records[period] if r["indicator"] not in untouched
        ]
        pages = fetch_pages(http, sim, "CZ01", period, limit=5)
        assert [r for p in pages for r in p["records"]] == records
    # the verbatim duplicate sits on another page than its original
    pages = fetch_pages(http, sim, "CZ01", "2026-10", limit=5)
    where = [
        i
        for i, p in enumerate(pages)
        for r in p["records"]
        if r["indicator"] == "fixed_asset_investment"
    ]
    assert len(where) == 2
    assert where[0] != where[1]
    sim.clear_faults()
    assert sim.records("CZ01", "zone", "2026-10", clean["2026-10"]) == clean_records["2026-10"]


def test_late_and_withheld_periods(fresh: Simulator) -> None:
    def listed(zone: str) -> dict[str, str]:
        return {r["period"]: r["published_at"] for r in fresh.releases(zone, "zone")}

    fresh.set_faults(
        "TY01", Faults(late_periods=("2026-03",), late_days=3, withheld_periods=("2026-04",))
    )
    ty01, dt01 = listed("TY01"), listed("DT01")
    # 2026-03 comes three days after its usual 04-15 10:00; 2026-04 not at all, in any form
    assert ty01["2026-03"] == "2026-04-18T10:00:00+08:00"
    assert dt01["2026-03"] == "2026-04-15T10:00:00+08:00"
    assert "2026-04" not in ty01
    assert "2026-04" in dt01
    assert fresh.latest_revision("TY01", "enterprise", "2026-04") is None
    fresh.as_of = datetime(2026, 4, 17, 12, 0, tzinfo=CST)
    assert "2026-03" not in listed("TY01")  # not published yet on 04-17
    fresh.clear_faults("TY01")
    assert listed("TY01")["2026-03"] == "2026-04-15T10:00:00+08:00"
    with pytest.raises(ValueError, match="late_days"):
        Faults(late_days=-1)


def test_faults_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="supersede_on_page"):
        Faults(supersede_on_page=1)
    with pytest.raises(ValueError, match="error_5xx"):
        Faults(error_5xx=-1)
    with pytest.raises(ValueError, match="unknown"):
        Faults.from_dict({"error_500": 1})
    with pytest.raises(ValueError, match="bad_token"):
        Faults.from_dict({"bad_token": 1})
    assert Faults.from_dict({"slow_s": 1, "supersede_on_page": None}) == Faults(slow_s=1.0)


def test_admin_endpoints(fresh: Simulator, http: requests.Session) -> None:
    admin = f"http://127.0.0.1:{fresh.port}/_admin"
    resp = http.post(f"{admin}/faults/TY01", json={"error_5xx": 1, "retry_after_s": 2}, timeout=5)
    assert resp.status_code == 200
    assert resp.json()["faults"]["error_5xx"] == 1
    assert fresh.faults("TY01").error_5xx == 1
    assert http.get(f"{admin}/faults", timeout=5).json()["TY01"]["retry_after_s"] == 2
    assert call(http, fresh, "TY01", "releases", dataset="zone").status_code == 503
    assert http.post(f"{admin}/faults/TY01", json={"nope": 1}, timeout=5).status_code == 400
    assert http.post(f"{admin}/faults/TY01", data=b"{", timeout=5).status_code == 400
    assert http.post(f"{admin}/faults/XX99", json={}, timeout=5).status_code == 404
    http.post(f"{admin}/faults/DT01", json={"bad_token": True}, timeout=5)
    assert http.delete(f"{admin}/faults", timeout=5).status_code == 200
    assert fresh.faults("DT01") == Faults()
    assert call(http, fresh, "DT01", "releases", dataset="zone").status_code == 200

    resp = http.post(f"{admin}/as_of", json={"as_of": "2027-01-20T10:00:00+08:00"}, timeout=5)
    assert resp.json() == {"as_of": "2027-01-20T10:00:00+08:00"}
    assert fresh.latest_revision("TY01", "zone", "2026-Q4") == 1
    before = latest(fresh, "TY01", "2026-12")
    resp = http.post(f"{admin}/publish/TY01", json={"period": "2026-12"}, timeout=5)
    assert resp.json() == {"zone_code": "TY01", "revision": before + 1}
    assert any(r.zone is None and r.path == "/_admin/as_of" for r in fresh.requests)


def test_stop_releases_the_port() -> None:
    sim = Simulator(as_of=AS_OF).start()
    port = sim.port
    assert port > 0
    assert sim.base_url("TY01") == f"http://127.0.0.1:{port}/TY01/api/v1"
    with requests.Session() as session:
        assert call(session, sim, "TY01", "releases", dataset="zone").status_code == 200
        sim.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            call(session, sim, "TY01", "releases", dataset="zone")
