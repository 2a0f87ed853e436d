"""The api-v1 client against the simulator: a real server on loopback, each fault switched on."""

from __future__ import annotations

import os
from typing import Any

import pytest
from helpers.sinks import Collect

from zonestats.config import HttpSettings, ZoneSource
from zonestats.models import ReleaseRef
from zonestats.secrets import MissingTokenError
from zonestats.sources import (
    ReleaseFetchError,
    ReleaseRejected,
    ZoneAuthError,
    ZoneUnavailable,
    open_adapter,
)

FAST = HttpSettings(backoff_base_s=0.01, backoff_max_s=0.02, max_attempts=4, page_size=5)


def source(sim: Any, zone: str = "TY01") -> ZoneSource:
    return ZoneSource(zone, "api-v1", sim.base_url(zone), sim.token_env(zone))


def adapter(sim: Any, zone: str = "TY01", http: HttpSettings = FAST) -> Any:
    a = open_adapter(source(sim, zone), http)
    a._sleep = SLEEPS.append  # record the waits instead of sleeping them
    return a


SLEEPS: list[float] = []


@pytest.fixture(autouse=True)
def _clear_sleeps() -> None:
    SLEEPS.clear()


def latest_monthly(sim: Any, zone: str = "TY01") -> ReleaseRef:
    refs = adapter(sim, zone).list_releases("zone", None)
    return [r for r in refs if r.frequency == "M"][-1]


def test_lists_releases_and_reads_every_page(simulator: Any) -> None:
    refs = adapter(simulator).list_releases("zone", None)
    truth = simulator.releases("TY01")
    assert {(r.period, r.revision) for r in refs} == {(t["period"], t["revision"]) for t in truth}
    assert [r.published_at for r in refs] == sorted(r.published_at for r in refs)
    ref = refs[-1]
    sink = Collect()
    got = adapter(simulator).read_release(ref, sink)
    assert got == ref
    assert len(sink.pages) > 1  # page_size 5 forces cursor paging
    assert sink.records == simulator.records("TY01", "zone", ref.period, ref.revision)


def test_since_limits_the_listing(simulator: Any) -> None:
    refs = adapter(simulator).list_releases("zone", None)
    cut = refs[len(refs) // 2].published_at
    later = adapter(simulator).list_releases("zone", cut)
    assert later
    assert all(r.published_at >= cut for r in later)
    assert len(later) < len(refs)


def test_5xx_and_429_are_retried_honouring_retry_after(simulator: Any) -> None:
    from zonesim import Faults

    simulator.set_faults("TY01", Faults(error_5xx=2, rate_limit=1, retry_after_s=3))
    refs = adapter(simulator).list_releases("zone", None)
    assert refs
    assert 3.0 in SLEEPS  # Retry-After: 3 was waited, not the tiny backoff
    assert len(SLEEPS) == 3


def test_gives_up_after_the_configured_attempts(simulator: Any) -> None:
    from zonesim import Faults

    simulator.set_faults("TY01", Faults(error_5xx=100))
    with pytest.raises(ZoneUnavailable, match=r"TY01.*gave up after 4 attempts \(HTTP 503\)"):
        adapter(simulator).list_releases("zone", None)


def test_401_fails_at_once_without_the_token_in_the_message(simulator: Any) -> None:
    from zonesim import Faults

    simulator.set_faults("TY01", Faults(bad_token=True))
    with pytest.raises(ZoneAuthError) as info:
        adapter(simulator).list_releases("zone", None)
    assert "401" in str(info.value)
    assert "TY01" in str(info.value)
    assert simulator.token("TY01") not in str(info.value)
    assert SLEEPS == []  # no retry on a refused token


def test_missing_token_variable_is_a_clear_error(
    simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(simulator.token_env("TY01"))
    with pytest.raises(MissingTokenError, match=simulator.token_env("TY01")):
        open_adapter(source(simulator), FAST)


def test_409_restarts_the_release_at_the_latest_revision(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(supersede_on_page=2))
    sink = Collect()
    got = adapter(simulator).read_release(ref, sink)
    assert got.revision > ref.revision
    assert sink.resets == 2
    assert sink.records == simulator.records("TY01", "zone", ref.period, got.revision)
    assert {p.revision for p in sink.pages} == {got.revision}


def test_a_page_of_another_revision_is_detected(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(revision_drift_on_page=2))
    sink = Collect()
    got = adapter(simulator).read_release(ref, sink)
    assert sink.resets == 2  # the mixed pages were thrown away
    assert got.revision == ref.revision
    assert {p.revision for p in sink.pages} == {ref.revision}
    assert sink.records == simulator.records("TY01", "zone", ref.period, ref.revision)


def test_a_dropped_connection_is_retried(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(drop_connection=1))
    sink = Collect()
    adapter(simulator).read_release(ref, sink)
    assert sink.records == simulator.records("TY01", "zone", ref.period, ref.revision)
    assert len(SLEEPS) == 1


def test_a_foreign_zone_on_the_first_page_rejects_the_release(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(foreign_zone_on_page=1))
    with pytest.raises(ReleaseRejected, match="TY01"):
        adapter(simulator).read_release(ref, Collect())


def test_a_foreign_zone_on_a_later_page_is_passed_on_for_quarantine(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(foreign_zone_on_page=2))
    sink = Collect()
    adapter(simulator).read_release(ref, sink)
    assert sink.pages[1].zone_code != "TY01"
    assert {p.zone_code for p in sink.pages if p.number != 2} == {"TY01"}


def test_a_body_over_the_cap_is_refused(simulator: Any) -> None:
    from zonesim import Faults

    ref = latest_monthly(simulator)
    simulator.set_faults("TY01", Faults(huge_body_bytes=300_000))
    small = HttpSettings(backoff_base_s=0.01, max_attempts=2, page_size=5, max_body_mib=0.1)
    with pytest.raises(ReleaseFetchError, match="refused"):
        adapter(simulator, http=small).read_release(ref, Collect())


def test_a_revision_that_no_longer_exists_fails_the_release(simulator: Any) -> None:
    ref = latest_monthly(simulator)
    gone = ref.at_revision(ref.revision + 5)
    with pytest.raises(ReleaseFetchError, match="404"):
        adapter(simulator).read_release(gone, Collect())


def test_slow_server_times_out_and_is_retried(simulator: Any) -> None:
    from zonesim import Faults

    simulator.set_faults("TY01", Faults(slow_s=0.5))
    http = HttpSettings(timeout_s=0.1, connect_timeout_s=0.1, max_attempts=2, backoff_base_s=0.01)
    with pytest.raises(ZoneUnavailable, match="ReadTimeout"):
        adapter(simulator, http=http).list_releases("zone", None)
    assert os.environ[simulator.token_env("TY01")]  # the token is still only in the environment


def test_listing_entries_with_impossible_periods_are_flagged_not_fatal(simulator: Any) -> None:
    from zonesim import Faults

    simulator.set_faults("TY01", Faults(bad_listing=True))
    refs = adapter(simulator).list_releases("zone", None)
    bad = {r.period: r.problem for r in refs if r.problem}
    assert len(refs) - len(bad) == len(simulator.releases("TY01"))
    year = max(r["period"][:4] for r in simulator.releases("TY01"))
    assert set(bad) == {f"{year}-01", f"{int(year) + 1}-Q1"}
    assert "January is reported with February" in bad[f"{year}-01"]


def _pieces(token: str, size: int = 12) -> list[str]:
    return [token[i : i + size] for i in range(len(token) - size + 1)]


def _echo_ref(sim: Any, dataset: str, status: int, where: str | None = None) -> ReleaseRef:
    """A listed release of TY01 that an ECHO_CASES entry of this status (and field) covers."""
    from zonesim import echo_case

    for ref in adapter(sim).list_releases(dataset, None):
        case = echo_case(dataset, ref.period)
        if case is not None and case.status == status and where in (None, case.where):
            return ref
    raise AssertionError(f"no {dataset} release answers {status}")


@pytest.mark.parametrize("status", [400, 403])
def test_an_error_body_quoting_the_token_is_masked_before_it_is_cut(
    simulator: Any, status: int
) -> None:
    from zonesim import Faults

    ref = _echo_ref(simulator, "zone", status)
    simulator.set_faults("TY01", Faults(echo_token=True))
    with pytest.raises(ReleaseFetchError, match=f"unexpected HTTP {status}") as info:
        adapter(simulator).read_release(ref, Collect())
    message = str(info.value)
    assert "Bearer ***" in message  # the body is quoted, the token masked
    # the 403 body quotes the token across the 200th character, where the excerpt ends: masking
    # the excerpt instead of the body would keep the token's first characters
    assert not [p for p in _pieces(simulator.token("TY01")) if p in message], message


def test_a_token_echoed_into_a_page_is_masked_as_it_is_received(simulator: Any) -> None:
    import json

    from zonesim import Faults

    token = simulator.token("TY01")
    ref = _echo_ref(simulator, "zone", 200, "value")
    simulator.set_faults("TY01", Faults(echo_token=True))
    sink = Collect()
    adapter(simulator).read_release(ref, sink)
    assert sink.records[0]["value"] == "Bearer ***"
    assert sink.records[1:] == simulator.records("TY01", "zone", ref.period, ref.revision)[1:]
    assert token not in json.dumps([p.records for p in sink.pages])


def test_redact_masks_the_forms_a_token_is_quoted_in() -> None:
    from zonestats.secrets import redact, redact_bytes, remember

    token = "tk/Ab+9=="  # base64 tokens have slashes, which some JSON encoders escape as \/
    remember(token)
    assert redact(f"a {token} b") == "a *** b"
    assert redact('{"auth": "Bearer tk\\/Ab+9=="}') == '{"auth": "Bearer ***"}'
    assert redact_bytes(b'{"auth": "Bearer tk\\/Ab+9=="}') == b'{"auth": "Bearer ***"}'
    assert redact_bytes(b"x tk/Ab+9== y", ["tk/Ab+9=="]) == b"x *** y"
    assert redact_bytes(b"nothing here", ["tk/Ab+9=="]) == b"nothing here"


def test_a_token_in_a_form_cell_is_masked_as_it_is_read(
    simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from zonestats.catalog import shipped_catalog
    from zonestats.sources import form_xlsx

    zone = "YQ01"
    token = simulator.token(zone)
    forms = open_adapter(
        ZoneSource(zone, "form-xlsx", simulator.base_url(zone), simulator.token_env(zone)), FAST
    )
    ref = next(r for r in forms.list_releases("enterprise", None) if r.form == "QY1")
    parse = form_xlsx.parse_form
    clean = parse(simulator.form_bytes(zone, "QY1", ref.period), "QY1", shipped_catalog()).records

    def echoing(content: bytes, form: str, catalog: Any) -> Any:
        # the file as a zone would make it with the header quoted in the first enterprise's name
        parsed = parse(content, form, catalog)
        first = {**parsed.records[0], "name": f"{parsed.records[0]['name']}（Bearer {token}）"}
        return dataclasses.replace(parsed, records=[first, *parsed.records[1:]])

    monkeypatch.setattr(form_xlsx, "parse_form", echoing)
    sink = Collect()
    forms.read_release(ref, sink)
    assert sink.records[0]["name"] == f"{clean[0]['name']}（Bearer ***）"
    assert sink.records[1:] == clean[1:]
