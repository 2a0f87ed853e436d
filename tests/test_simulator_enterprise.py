"""The enterprise dataset of the zone simulator, through a real server on loopback."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from zonesim import BAD_ENTERPRISES, Faults, Simulator, bad_enterprise_positions, enterprise_wire
from zonesim.enterprise import EnterpriseDataset, EnterpriseRelease
from zonesim.enterprise_wire import WIRE_CHUNK, render
from zonesim.industry import CLUSTERS, is_valid_industry_code
from zonesim.schedule import CST
from zonesim.uscc import ALPHABET, is_valid_uscc, make_uscc
from zonestats.catalog import load_catalog

AS_OF = datetime(2026, 11, 27, 12, 0, tzinfo=CST)
SIMULATOR = {"seed": 2026, "as_of": AS_OF, "start_year": 2025}
pytestmark = pytest.mark.usefixtures("healthy_sim")
CATALOG = load_catalog()
INDICATORS = {i.code: i for i in CATALOG.for_dataset("enterprise")}
MANDATORY = set(CATALOG.mandatory("enterprise", "M"))
FACTORS = {
    code: {u: Decimal(f.numerator) / Decimal(f.denominator) for u, f in ind.unit_factors.items()}
    for code, ind in INDICATORS.items()
}
SHARED = ("revenue", "tax_revenue", "electricity_consumption", "energy_consumption")
# The smallest zone keeps per-record loops short.
SMALL = "DT01"


def call(
    http: requests.Session, sim: Simulator, zone: str, endpoint: str, **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {sim.token(zone)}"}
    return http.get(f"{sim.base_url(zone)}/{endpoint}", params=params, headers=headers, timeout=10)


def fetch_pages(
    http: requests.Session, sim: Simulator, zone: str, period: str, **params: Any
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        extra: dict[str, Any] = {"cursor": cursor} if cursor else {}
        resp = call(http, sim, zone, "data/enterprise", period=period, **params, **extra)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


def value(record: dict[str, Any], code: str) -> Decimal | None:
    """Parse a served value the way zone-api.md says, into the catalog unit (exactly: every
    catalog factor is a finite decimal, and 28 digits are plenty)."""
    raw = record["values"].get(code)
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.strip().replace(",", "")
        if raw in ("", "-"):
            return None
    units = record.get("units")
    unit = units.get(code, INDICATORS[code].unit) if units else INDICATORS[code].unit
    return Decimal(str(raw)) * FACTORS[code][unit]


def latest(sim: Simulator, zone: str, period: str, dataset: str = "enterprise") -> int:
    revision = sim.latest_revision(zone, dataset, period)
    assert revision is not None, (zone, period)
    return revision


# ---- codes --------------------------------------------------------------------------------------


def test_uscc_check_digits() -> None:
    assert is_valid_uscc("91350100M000100Y43")
    assert is_valid_uscc("91440101MA5CJQ4N59")
    assert not is_valid_uscc("91350203M0001QAY9B")
    assert make_uscc("350100", "M000100Y4") == "91350100M000100Y43"
    assert make_uscc("440101", "MA5CJQ4N5") == "91440101MA5CJQ4N59"
    for bad in ("91350100M000100Y4", "91350100M000100Y433", "91350100M000I00Y43", 91350100, None):
        assert not is_valid_uscc(bad)
    assert set(ALPHABET).isdisjoint("IOSVZ")
    assert len(ALPHABET) == 31


def test_industry_code_rules() -> None:
    for good in ("C3011", "C30", "C301", "I6513", "M7320", "B0610", "D4416", "A05", "T97"):
        assert is_valid_industry_code(good), good
    for bad in ("A10", "3011", "C3", "C44", "C30111", "c3011", "U01", "", None):
        assert not is_valid_industry_code(bad), bad
    assert all(is_valid_industry_code(code) for c in CLUSTERS for code in c.codes)


# ---- listing and schedule -------------------------------------------------------------------------


def test_releases_follow_the_monthly_schedule(sim: Simulator, http: requests.Session) -> None:
    body = call(http, sim, "TY01", "releases", dataset="enterprise").json()
    assert (body["zone_code"], body["dataset"]) == ("TY01", "enterprise")
    assert body["releases"] == sim.releases("TY01", "enterprise")
    monthly = {r["period"]: r for r in sim.releases("TY01", "zone") if r["frequency"] == "M"}
    periods = [r["period"] for r in body["releases"]]
    assert sorted(periods) == sorted(monthly)
    assert max(periods) == "2026-10"
    for rel in body["releases"]:
        assert rel["frequency"] == "M"
        if rel["revision"] == 1 and monthly[rel["period"]]["revision"] == 1:
            assert rel["published_at"] == monthly[rel["period"]]["published_at"]
        assert rel["record_count"] == sim.enterprise_count("TY01", rel["period"])
    for period in ("2026-Q3", "2025", "2026-11", "2026-01"):
        resp = call(http, sim, "TY01", "data/enterprise", period=period)
        assert resp.status_code == 404, period


# ---- the data ---------------------------------------------------------------------------------------


def test_records_are_well_formed_in_every_zone(sim: Simulator) -> None:
    for zone in sim.zone_codes:
        records = sim.enterprises(zone, "2026-10", latest(sim, zone, "2026-10"))
        assert 250 <= len(records) <= 2500, zone
        assert len(records) == sim.enterprise_count(zone, "2026-10")
        region = CATALOG.zones[zone].city_admin_code
        usccs = [r["uscc"] for r in records]
        assert len(set(usccs)) == len(usccs), zone
        for rec in records:
            assert list(rec)[:5] == ["uscc", "name", "industry_code", "above_scale", "values"]
            assert is_valid_uscc(rec["uscc"]), rec["uscc"]
            assert rec["uscc"][:2] == "91"
            assert rec["uscc"][2:8] == region
            assert is_valid_industry_code(rec["industry_code"]), rec["industry_code"]
            assert rec["name"].endswith("公司")
            assert isinstance(rec["above_scale"], bool)
            assert MANDATORY <= set(rec["values"]) <= set(INDICATORS)
            for code, unit in rec.get("units", {}).items():
                assert code in rec["values"]
                assert unit != INDICATORS[code].unit
                assert unit in INDICATORS[code].unit_factors
            employees = value(rec, "employees")
            assert employees is not None
            assert employees == employees.to_integral_value()
            assert all((v := value(rec, c)) is None or v >= 0 for c in rec["values"])
        above = sum(r["above_scale"] for r in records) / len(records)
        assert 0.25 <= above <= 0.65, zone
        sections = Counter(r["industry_code"][0] for r in records)
        assert sections["C"] > len(records) / 3
        assert {"I", "M"} & set(sections)


def test_sums_are_50_to_99_percent_of_the_zone_figures(sim: Simulator) -> None:
    for zone in sim.zone_codes:
        for period in ("2026-10", "2025-02"):
            records = sim.enterprises(zone, period, latest(sim, zone, period))
            totals = sim.canonical_values(zone, "zone", period, latest(sim, zone, period, "zone"))
            for code in SHARED:
                total = sum(v for r in records if (v := value(r, code)) is not None)
                ratio = total / totals[code]
                assert Decimal("0.5") <= ratio <= Decimal("0.99"), (zone, period, code, ratio)


def test_ytd_never_decreases_per_enterprise(sim: Simulator) -> None:
    series: dict[tuple[str, str], list[Decimal]] = {}
    months = [f"2026-{m:02d}" for m in range(2, 11)]
    for period in months:
        for rec in sim.enterprises(SMALL, period, latest(sim, SMALL, period)):
            for code, ind in INDICATORS.items():
                v = value(rec, code)
                if ind.basis == "ytd" and v is not None:
                    series.setdefault((rec["uscc"], code), []).append(v)
    assert len(series) > 1000
    for key, values in series.items():
        assert values == sorted(values), key
    # An enterprise keeps its identity from month to month and across years.
    feb = {r["uscc"]: r for r in sim.enterprises(SMALL, "2026-02", latest(sim, SMALL, "2026-02"))}
    dec = {r["uscc"]: r for r in sim.enterprises(SMALL, "2025-12", latest(sim, SMALL, "2025-12"))}
    stayed = set(feb) & set(dec)
    assert len(stayed) > 0.9 * len(dec)
    assert all(feb[u]["name"] == dec[u]["name"] for u in stayed)
    assert len(set(feb) - set(dec)) > 0  # newcomers in 2026


def test_wire_forms_convert_exactly(sim: Simulator) -> None:
    seen: set[str] = set()
    for zone in ("DT01", "LL01"):
        revision = latest(sim, zone, "2026-09")
        records = sim.enterprises(zone, "2026-09", revision)
        truth = sim.canonical_values(zone, "enterprise", "2026-09", revision)
        assert [r["uscc"] for r in records] == list(truth)
        for rec in records:
            expected = truth[rec["uscc"]]
            assert set(rec["values"]) == set(expected)
            for code, raw in rec["values"].items():
                assert value(rec, code) == expected[code], (rec["uscc"], code)
                seen.add(type(raw).__name__)
                if isinstance(raw, str) and "," in raw:
                    seen.add("thousands")
                if isinstance(raw, str) and raw != raw.strip():
                    seen.add("spaces")
            seen.update(f"{c}:{u}" for c, u in rec.get("units", {}).items())
            seen.update(f"absent:{c}" for c in set(INDICATORS) - set(rec["values"]))
    assert {"str", "float", "int", "thousands", "spaces"} <= seen
    assert {"revenue:元", "land_area:公顷", "electricity_consumption:千瓦时"} <= seen
    assert {"absent:industrial_output", "absent:energy_consumption"} <= seen


def test_deterministic_and_scaled() -> None:
    a, b = Simulator(seed=2026, as_of=AS_OF), Simulator(seed=2026, as_of=AS_OF)
    other = Simulator(seed=7, as_of=AS_OF)
    assert a.enterprises(SMALL, "2026-10", 1) == b.enterprises(SMALL, "2026-10", 1)
    assert a.enterprises(SMALL, "2026-10", 1) != other.enterprises(SMALL, "2026-10", 1)
    doubled = Simulator(seed=2026, as_of=AS_OF, enterprise_scale=2)
    ratio = doubled.enterprise_count(SMALL, "2026-10") / a.enterprise_count(SMALL, "2026-10")
    assert 1.9 <= ratio <= 2.1
    with pytest.raises(ValueError, match="enterprise_scale"):
        Simulator(enterprise_scale=0)


def test_a_large_release_serves_pages_without_building_it_whole(
    http: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Not built whole" is checked by what gets built, not by a time bound that a busy machine
    # breaks: every run of records asked of a release and every wire chunk rendered is recorded.
    sliced: list[tuple[int, int]] = []
    chunks: list[int] = []
    real_page, real_wire = EnterpriseRelease.page_json, enterprise_wire.build_wire

    def spy_page(self: EnterpriseRelease, start: int, stop: int) -> bytes:
        sliced.append((start, stop))
        return real_page(self, start, stop)

    def spy_wire(block: Any, start: int) -> Any:
        chunks.append(start // WIRE_CHUNK)
        return real_wire(block, start)

    monkeypatch.setattr(EnterpriseRelease, "page_json", spy_page)
    monkeypatch.setattr(enterprise_wire, "build_wire", spy_wire)
    with Simulator(seed=2026, as_of=AS_OF, start_year=2026, enterprise_scale=25) as big:
        count = big.enterprise_count("JZ01", "2026-10")
        assert count >= 50_000
        listed = {r["period"]: r for r in big.releases("JZ01", "enterprise")}
        assert listed["2026-10"]["record_count"] == count
        assert sliced == []  # the listing counts a release without rendering any of it
        page = call(http, big, "JZ01", "data/enterprise", period="2026-10", limit=1000).json()
        assert len(page["records"]) == 1000
        # one page renders its own 1000 records, from the first of the release's wire chunks
        # (empty when another test of the process rendered that chunk already)
        assert sliced == [(0, 1000)]
        assert set(chunks) <= {0}
        assert -(-count // WIRE_CHUNK) > 10  # ... of more than ten
        assert page["records"] == big.record_slice(
            "JZ01", "enterprise", "2026-10", page["revision"], 0, 1000
        )


def test_the_vectorized_pages_equal_the_row_by_row_rendering() -> None:
    sim = Simulator(seed=2026, as_of=AS_OF, start_year=2026)
    model = EnterpriseDataset(scale=15)
    period = sim.resolve_period("enterprise", "2026-10")
    assert period is not None
    faults = Faults(bad_enterprises=True)
    for revision in (1, 3):  # revision 3 moves a few enterprises
        release = model.release(sim.seed, SMALL, period, revision, faults)
        assert len(release) > WIRE_CHUNK + 100
        whole = release.slice(0, len(release))
        run = (WIRE_CHUNK - 300, WIRE_CHUNK + 300)
        assert release.slice(*run) == whole[run[0] : run[1]]
        assert [render(row) for row in release.rows(*run)] == whole[run[0] : run[1]]
        head = [render(row) for row in release.rows(0, 700)]  # where the bad cases are
        assert head == whole[:700]
        tail = len(release) - 20
        assert [render(row) for row in release.rows(tail, len(release))] == whole[tail:]


# ---- paging, revisions, faults ------------------------------------------------------------------


@pytest.mark.parametrize("limit", [97, 1000])
def test_pages_reassemble_the_release(sim: Simulator, http: requests.Session, limit: int) -> None:
    revision = latest(sim, SMALL, "2026-10")
    pages = fetch_pages(http, sim, SMALL, "2026-10", limit=limit)
    expected = sim.enterprises(SMALL, "2026-10", revision)
    assert [r for p in pages for r in p["records"]] == expected
    assert len(pages) == -(-len(expected) // limit)
    for page in pages:
        assert (page["zone_code"], page["dataset"], page["revision"]) == (
            SMALL,
            "enterprise",
            revision,
        )


def test_publish_revision_changes_a_few_enterprises(
    fresh: Simulator, http: requests.Session
) -> None:
    before = latest(fresh, SMALL, "2026-10")
    new = fresh.publish_revision(SMALL, "enterprise", "2026-10")
    assert new == before + 1
    assert fresh.latest_revision(SMALL, "zone", "2026-10") == latest(
        fresh, SMALL, "2026-10", "zone"
    )
    old = fresh.enterprises(SMALL, "2026-10", before)
    cur = fresh.enterprises(SMALL, "2026-10", new)
    changed = [(a, b) for a, b in zip(old, cur, strict=True) if a != b]
    assert 1 <= len(changed) <= 6
    for a, b in changed:
        assert a["uscc"] == b["uscc"]
        for code in a["values"]:
            va, vb = value(a, code), value(b, code)
            assert va is not None
            assert vb is not None
            assert abs(vb - va) <= va / 90
    resp = call(http, fresh, SMALL, "data/enterprise", period="2026-10", revision=before)
    assert resp.json() == {"error": "superseded", "latest_revision": new}


def test_existing_faults_apply_to_enterprise_pages(
    fresh: Simulator, http: requests.Session
) -> None:
    revision = latest(fresh, SMALL, "2026-09")
    fresh.set_faults(SMALL, Faults(supersede_on_page=2, foreign_zone_on_page=3))
    first = call(http, fresh, SMALL, "data/enterprise", period="2026-09", limit=100).json()
    second = call(
        http, fresh, SMALL, "data/enterprise", period="2026-09", cursor=first["next_cursor"]
    )
    assert second.json() == {"error": "superseded", "latest_revision": revision + 1}
    pages = fetch_pages(http, fresh, SMALL, "2026-09", limit=100)
    assert {p["revision"] for p in pages} == {revision + 1}
    assert pages[2]["zone_code"] != SMALL
    fresh.set_faults(SMALL, Faults(error_5xx=1))
    assert call(http, fresh, SMALL, "releases", dataset="enterprise").status_code == 503


def test_bad_enterprises(sim: Simulator, http: requests.Session) -> None:
    rules = Counter(c.rule for c in BAD_ENTERPRISES)
    assert set(rules) == {
        None,
        "uscc_invalid",
        "industry_code_invalid",
        "duplicate_conflict",
        "unit_not_allowed",
        "value_below_min",
        "value_not_integer",
        "indicator_unknown",
    }
    revision = latest(sim, SMALL, "2026-10")
    clean = sim.enterprises(SMALL, "2026-10", revision)
    count = len(clean)
    sim.set_faults(SMALL, Faults(bad_enterprises=True))
    records = sim.enterprises(SMALL, "2026-10", revision)
    appended = [c for c in BAD_ENTERPRISES if c.action != "replace"]
    assert len(records) == count + len(appended)
    listed = {r["period"]: r for r in sim.releases(SMALL, "enterprise")}
    assert listed["2026-10"]["record_count"] == len(records)
    at = bad_enterprise_positions(count)
    worked = {at[c.key] for c in BAD_ENTERPRISES if c.action == "replace"}
    assert [r for n, r in enumerate(records[:count]) if n not in worked] == [
        r for n, r in enumerate(clean) if n not in worked
    ]
    tail = iter(records[count:])
    for case in BAD_ENTERPRISES:
        if case.action == "replace":
            rec = records[at[case.key]]
            assert rec["uscc"] == clean[at[case.key]]["uscc"]
            for code, text in case.values:
                assert rec["values"][code] == text
                assert code not in rec.get("units", {})
            for code, unit in case.units:
                assert rec["units"][code] == unit
                assert unit not in INDICATORS[code].unit_factors
            for code, text in case.extra:
                assert rec["values"][code] == text
                assert code not in INDICATORS
        elif case.action == "append":
            rec = next(tail)
            assert rec["uscc"] not in {r["uscc"] for r in clean}
            assert is_valid_uscc(rec["uscc"]) == (case.rule != "uscc_invalid")
            assert is_valid_industry_code(rec["industry_code"]) == (
                case.rule != "industry_code_invalid"
            )
            if case.industry_code:
                assert rec["industry_code"] == case.industry_code
        else:
            rec = next(tail)
            original = records[at[case.key]]
            assert rec["uscc"] == original["uscc"]
            assert (rec == original) == (case.action == "repeat")
            if case.action == "conflict":
                assert value(rec, "revenue") != value(original, "revenue")
    shapes = {c.uscc_defect: r["uscc"] for c, r in zip(appended, records[count:], strict=False)}
    assert len(shapes["short"]) == 17
    assert "O" in shapes["forbidden_letter"]
    assert len(shapes["check_digit"]) == 18
    assert set(shapes["check_digit"]) <= set(ALPHABET)
    # Over HTTP, the repeat lands on another page than its original.
    pages = fetch_pages(http, sim, SMALL, "2026-10", limit=100)
    assert [r for p in pages for r in p["records"]] == records
    sim.clear_faults()
    assert sim.enterprises(SMALL, "2026-10", revision) == clean


@pytest.mark.parametrize("seed", [2026, 7, 31337])
def test_bulk_pages_are_the_json_of_the_row_by_row_records(seed: int) -> None:
    # A page's bytes come from the block's wire view (numpy, bytecols); render() writes one
    # EnterpriseRow at a time. Both ways give the same bytes, every zone, revised or not.
    import json

    model = EnterpriseDataset(scale=1)
    sim = Simulator(seed=seed, as_of=AS_OF, start_year=2026)
    styles: Counter[str] = Counter()
    for zone in sim.zone_codes:
        for period_text, revision in (("2026-10", 1), ("2026-03", 2)):
            period = sim.resolve_period("enterprise", period_text)
            assert period is not None
            release = model.release(seed, zone, period, revision, Faults())
            rows = release.rows(0, len(release))
            expected = json.dumps([render(r) for r in rows], ensure_ascii=False).encode()
            assert release.page_json(0, len(release)) == expected, (zone, period_text)
            styles.update(r.style for r in rows)
            units = [u for r in rows for u in r.units.values()]
            styles.update(f"unit:{u}" for u in units)
    assert set(styles) >= {"number", "plain", "thousands", "spaces", "unit:亿元", "unit:平方米"}
