"""What the simulator serves is pinned byte for byte: digests computed with the simulator as it
was before its pages were vectorized and cached, so that a faster simulator serves exactly the
same pages, records and form files (over HTTP and through the Python API)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests

from zonesim import Faults, Simulator
from zonesim.enterprise import EnterpriseDataset
from zonesim.schedule import CST

AS_OF = datetime(2026, 11, 27, 12, 0, tzinfo=CST)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _records_digest(records: list[dict[str, Any]]) -> str:
    # json keeps what == compares and more: key order, and int 5 apart from float 5.0
    return _sha(json.dumps(records, ensure_ascii=False).encode())


class _Client:
    def __init__(self, sim: Simulator, http: requests.Session) -> None:
        self.sim, self.http = sim, http

    def get(self, zone: str, path: str, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.sim.token(zone)}"}
        url = f"{self.sim.base_url(zone)}/{path}"
        return self.http.get(url, params=params, headers=headers, timeout=30)

    def pages(self, zone: str, dataset: str, period: str, limit: int, **params: Any) -> str:
        """The digest of every body of a release's pages, and of their status codes."""
        digest = hashlib.sha256()
        cursor: str | None = None
        while True:
            extra = {"cursor": cursor} if cursor else {}
            resp = self.get(zone, f"data/{dataset}", period=period, limit=limit, **params, **extra)
            digest.update(f"{resp.status_code}:".encode() + resp.content)
            if resp.status_code != 200:
                return digest.hexdigest()
            cursor = resp.json()["next_cursor"]
            if cursor is None:
                return digest.hexdigest()


def _enterprise_pages(sim: Simulator, client: _Client) -> dict[str, str]:
    out: dict[str, str] = {}
    for zone, period, limit in (
        ("DT01", "2026-10", 500),
        ("DT01", "2025-12", 97),
        ("JZ01", "2026-10", 1000),
        ("JZ01", "2025-03", 500),
        ("LL01", "2026-01", 500),
        ("TY01", "2026-07", 500),
    ):
        out[f"{zone} {period} {limit}"] = client.pages(zone, "enterprise", period, limit)
        latest = sim.latest_revision(zone, "enterprise", period)
        if latest is not None and latest > 1:
            out[f"{zone} {period} r1"] = client.pages(zone, "enterprise", period, 500, revision=1)
    for zone in ("DT01", "JZ01"):
        out[f"{zone} releases"] = _sha(client.get(zone, "releases", dataset="enterprise").content)
    return out


def _faulted_pages(sim: Simulator, client: _Client) -> dict[str, str]:
    out: dict[str, str] = {}
    sim.set_faults("DT01", Faults(bad_enterprises=True))
    out["bad DT01 2026-10"] = client.pages("DT01", "enterprise", "2026-10", 100)
    out["bad DT01 releases"] = _sha(client.get("DT01", "releases", dataset="enterprise").content)
    out["bad DT01 records"] = _records_digest(sim.enterprises("DT01", "2026-10", 1))
    sim.set_faults("JC01", Faults(echo_token=True))
    for period in ("2026-03", "2026-07", "2026-09"):  # two echo cases, one release without
        out[f"echo JC01 {period}"] = client.pages("JC01", "enterprise", period, 200)
    sim.set_faults("LF01", Faults(huge_body_bytes=300_000, foreign_zone_on_page=2))
    out["huge LF01 2026-10"] = client.pages("LF01", "enterprise", "2026-10", 500)
    sim.clear_faults()
    # a revision forced now moves a few enterprises of the release
    revision = sim.publish_revision("CZ01", "enterprise", "2026-10")
    out[f"forced CZ01 2026-10 r{revision}"] = client.pages("CZ01", "enterprise", "2026-10", 500)
    return out


def _python_api(sim: Simulator) -> dict[str, str]:
    out: dict[str, str] = {}
    for zone, period, revision in (("DT01", "2026-10", 1), ("TY01", "2026-05", 2)):
        records = sim.enterprises(zone, period, revision)
        out[f"records {zone} {period} r{revision}"] = _records_digest(records)
        truth = sim.canonical_values(zone, "enterprise", period, revision)
        out[f"truth {zone} {period} r{revision}"] = _sha(
            json.dumps({u: {c: str(v) for c, v in vs.items()} for u, vs in truth.items()}).encode()
        )
    out["slice LL01 2026-10 r2 [100:250]"] = _records_digest(
        sim.record_slice("LL01", "enterprise", "2026-10", 2, 100, 250)
    )
    # a release larger than one wire chunk, with every bad case worked in
    october = sim.resolve_period("enterprise", "2026-10")
    assert october is not None
    big = EnterpriseDataset(scale=15).release(
        sim.seed, "DT01", october, 2, Faults(bad_enterprises=True)
    )
    out["scale 15 DT01 2026-10 r2"] = _records_digest(big.slice(0, len(big)))
    return out


def _forms(sim: Simulator) -> dict[str, str]:
    out: dict[str, str] = {}
    for zone in ("YQ01", "SZ01", "XZ01"):
        for form in ("YQ1", "YQ2", "YQ3", "QY1"):
            out[f"{zone} {form} index"] = _sha(json.dumps(sim.form_index(zone, form)).encode())
    # QY1 of every month of a year: every combination of quirks, some revised
    for zone in ("YQ01", "SZ01", "XZ01"):
        for month in range(2, 11):
            period = f"2026-{month:02d}"
            out[f"{zone} QY1 {period}"] = _sha(sim.form_bytes(zone, "QY1", period))
    for zone, form, period in (("YQ01", "YQ1", "2026-10"), ("SZ01", "YQ2", "2026-Q3")):
        out[f"{zone} {form} {period}"] = _sha(sim.form_bytes(zone, form, period))
    sim.set_faults("SZ01", Faults(bad_enterprises=True, form_period_mismatch=True))
    out["bad SZ01 QY1 2026-05"] = _sha(sim.form_bytes("SZ01", "QY1", "2026-05"))
    sim.clear_faults()
    sim.publish_revision("XZ01", "enterprise", "2026-09")
    out["forced XZ01 QY1 2026-09"] = _sha(sim.form_bytes("XZ01", "QY1", "2026-09"))
    return out


SCENARIOS: dict[str, Callable[[Simulator, _Client], dict[str, str]]] = {
    "enterprise_pages": _enterprise_pages,
    "faulted_pages": _faulted_pages,
    "python_api": lambda sim, client: _python_api(sim),
    "forms": lambda sim, client: _forms(sim),
}

# sha256 digests from the simulator before the change (commit f2fa4a7), seed 2026 and AS_OF.
PINNED: dict[str, dict[str, str]] = {
    "enterprise_pages": {
        "DT01 2026-10 500": "cb43ef3b333d0b64d9856a5508ee6f4efa3b182ea2d51125d47ebb890b0a8c59",
        "DT01 2025-12 97": "c4b9576425fc98eb80b5217482266c355c8515616baf63a7dc1d9cefc6bd3145",
        "JZ01 2026-10 1000": "c5a3a361e1b528bafd5e1899db6373daa92e6d49a71af98beb9c5b590a64e901",
        "JZ01 2025-03 500": "282c8c42ffe7d7da02d88b431f1658dddf6724e7ffe51407e6490ee91b7ac5f5",
        "JZ01 2025-03 r1": "c24ff0dc3cd7534c6a393566d986f1fa6fcee97f70850605716a96ebcdbacb97",
        "LL01 2026-01 500": "be82e1f0c1fe22f4973b12968eff9d9fa2ff17cacd7a323352ee98fbe7f0e477",
        "TY01 2026-07 500": "99d8710f1314a380deaff5cd1422f4e203a5392bcd808f82311f9c9e8e27836c",
        "DT01 releases": "5d8be377ef8742471a1d88d214cf50a87edf25362305ab7e9e3c42eea699052d",
        "JZ01 releases": "bbfc84c95d75fed30054d8a54b5b2ef3648087778c56d067c8fe983eaebd6c3a",
    },
    "faulted_pages": {
        "bad DT01 2026-10": "5f2f7b208e53ae0fef8c67367ce951c2251f422f8c2a9ddb3d5f5637cb9f7baf",
        "bad DT01 releases": "e58e40e66914c7c9336cc3b449bca8fd0f59777a6bd9e42ce8056398c561f9f7",
        "bad DT01 records": "ce01d6fb37b32732958ec4c77d3a60da755225bfcd5de967d4625b9a0285d80b",
        "echo JC01 2026-03": "27f5486c7a6462dc29f5e7bc92d080f2ca434da2d0cd6c1fac0ada4e87b15ba5",
        "echo JC01 2026-07": "af88c1f394a931b83bbe19d8f51a81c141f72b795b9849c355bc08a9b4a658be",
        "echo JC01 2026-09": "5d25490ee0f62ede32828e2e7d75ec26cfef57d1ad4577cf1a5e1bf775e882d8",
        "huge LF01 2026-10": "f85b6596a83d42b8cb366250d5dd6ec07499a447948d4f59f818892a9f34b090",
        "forced CZ01 2026-10 r3": "a70d5a612c8ede32714fd62d3a446dbacad89ede318eb3e8df56060358a227c4",
    },
    "python_api": {
        "records DT01 2026-10 r1": "2d63bc25a18c2981aef7d9a5ecc7571d7dc1a9d67dbd8f9cb0a1a7462336627f",
        "truth DT01 2026-10 r1": "b6c8945e857ebbdd1d8cd64dee33ca13dc7cb5f410a4d5c54172c7db85a9bb49",
        "records TY01 2026-05 r2": "911b30b441f318e759417621e2de3d0129344318a667252679ad70159c34242e",
        "truth TY01 2026-05 r2": "43f7ee9926ed4d24c58efcb76552c01f330c3d303fe725a52253749cc6d23f71",
        "slice LL01 2026-10 r2 [100:250]": "05a2c93bb222c29ef16d202acd6edb228d2e05821fd670d93bd670a5218bbc9e",
        "scale 15 DT01 2026-10 r2": "628be03afd73f14295afb5b89af0ab4ccd49fd97213a4e5de4c66bc72c7dbe04",
    },
    "forms": {
        "YQ01 YQ1 index": "68b19de0fd4aba86c1e6fe36c007e57756c3c25e813fb045f0e1548060bb851a",
        "YQ01 YQ2 index": "a964fbeb1610b37dbd8aa685dee61ef85a69133a99a2fcb471689c194b53a6c0",
        "YQ01 YQ3 index": "46a2b3d06bea675142e864c66d6245dc283771283ecb1faa1ad34b07025899c7",
        "YQ01 QY1 index": "2a58821405126ab5b157c00b5aeb47cec99df5be44962cc252d2777c115bfaaf",
        "SZ01 YQ1 index": "500d07f806dc51f97f55042daddcb74e3404901ffaf398c7fbe9245557d0aee5",
        "SZ01 YQ2 index": "8dd219507848ac6dcb750680cf9df59c67068da8093417bb6add40c4c6ecc3f7",
        "SZ01 YQ3 index": "5fffa134fc3df3039ad50754b7907b1985900e8b92de5aff2a2dd4173915bb10",
        "SZ01 QY1 index": "5b6cc43ae6f0104dc7822ab704c94d47684e717305a8f2138b13c81d3f2db58d",
        "XZ01 YQ1 index": "690d75d7382132d58b20abc109ca68f4abff0c43ad4ae3816a968fc18c03822d",
        "XZ01 YQ2 index": "1bf223322de2f8b2793e76b2ff9073ec9608f57db60756865c20f424a649b179",
        "XZ01 YQ3 index": "849e3e178f7e1e75a9ef910eeda71b495d36f2df5c359fabec5600f92d6e4523",
        "XZ01 QY1 index": "727bdac0c3df554869f8d38a0feb0e79f17188f9dae2d58efe9bf73b954bc743",
        "YQ01 QY1 2026-02": "8cb8dbadccde20bd00810999ac57647f6bc2d7fc160756a0df75a40e8dd64d8b",
        "YQ01 QY1 2026-03": "f6bdf95814b0f800ead42593b5bb8841ecfac3861ed60200ab3a559ee4c5b315",
        "YQ01 QY1 2026-04": "e17965ed3bca0c0eeb1d8d8e3cc03463289aad0a925f49f6812e1366fa275f0a",
        "YQ01 QY1 2026-05": "4978f0f0d994bafc6f4e24f1a8112990028c4384f5dfae4dca4ad0952b6790c0",
        "YQ01 QY1 2026-06": "8e76a5ec30f2e383d1005cd4d062a71b001a51299770e7d173c3f713870dee28",
        "YQ01 QY1 2026-07": "a4a911bdd284e7cefd74c286827a3c804e5d4cd78d596ba6811fd51e9f4b68ba",
        "YQ01 QY1 2026-08": "e581cd4d96790d568d810a959dbe49983f1b93ded56ae77b6001c1fc85391654",
        "YQ01 QY1 2026-09": "24200ef2747cedcc6238af3c6009ec3d5ec166369957a78d210ed00db5b9ff63",
        "YQ01 QY1 2026-10": "72fbdc90c1a781e11703faf5965e1c78889363bc1537b33d7a6ada3552ffef4a",
        "SZ01 QY1 2026-02": "876458643a3338ffa2710469e8be5fb625ae1682fd1b4dbd61db98fd8a0ed84e",
        "SZ01 QY1 2026-03": "26596d1123adfe821913542b96fdeb3ab297d5efdf390e90b0fe6875b1ac4750",
        "SZ01 QY1 2026-04": "3f7320fb91c923efe3a6cd16c3fb3aef1ea4325c63332a13232d81dfac0b025f",
        "SZ01 QY1 2026-05": "f9a947563289b16437f925fa6c605eec8b58cf1eb5a76969e118d4813634e44f",
        "SZ01 QY1 2026-06": "bebdb902ccdabbaeefd60e2db6030bee88c305cbfe0a70cbe74346492f06b927",
        "SZ01 QY1 2026-07": "1399212566ab8c33776a339bd4d8d910f3b5416900b774a840a4a4dad769a1f8",
        "SZ01 QY1 2026-08": "65d90b7230552c9455fff6940df40376f36d03529cdf1733ef710fac2ad34450",
        "SZ01 QY1 2026-09": "e9de1f765c423adefaf186dcf6c054ece5c9e2445ae81676e8cb3f5dc5ab956e",
        "SZ01 QY1 2026-10": "5777dfbe45a88634edbb5330562349c5bc401671a15fcdebb9815904f493fa70",
        "XZ01 QY1 2026-02": "e72bf18eafac0f155187c801625c6837f564fe2cdd465003d5eab7380caf9b8d",
        "XZ01 QY1 2026-03": "217abafbd6e7405b79d766433d7f1824cd016760c408c75e5993e6b31612a38b",
        "XZ01 QY1 2026-04": "8ae9fcf6d2facfc1f484e471eb64f07657785ed1cadbfb112f8f6bc43d2301aa",
        "XZ01 QY1 2026-05": "ce6b78e09ed9e0e81e1cc71e6ce3a74ae4f3e4c50c24c9b485ed9ddfcc830239",
        "XZ01 QY1 2026-06": "4c02590c7c619120494fb9c60cfac7201230d71a3e11bd3ffc77a233eba50348",
        "XZ01 QY1 2026-07": "85614bea0afa61e942a6b381a1ffb621bb6bc62ae2e25885abb2b364deb4647b",
        "XZ01 QY1 2026-08": "4a89ece08b4662793c517e3529162e133395d4ae0216740884bdb03c46044cd3",
        "XZ01 QY1 2026-09": "937addf4457f4bc728a5ea5a1c72236a2e0c12788c666acb9e3f5fdfb9d78774",
        "XZ01 QY1 2026-10": "ed77515812041228f6894125827be0ec3a11465a8e217cea1ea3388b47001ba6",
        "YQ01 YQ1 2026-10": "1ef7bcfb92d1610cf6fb084ab6a26a31ab3bed713a55fce8a8d0ac15a44f2056",
        "SZ01 YQ2 2026-Q3": "8b803d21cec7a6bab320f7cc1f6b5ac39b22398bd282069f5287489769469ac3",
        "bad SZ01 QY1 2026-05": "9bc2cf0a99192db076dcd90283525125c28db2200372a48d8c750842abfb3bb0",
        "forced XZ01 QY1 2026-09": "eb6f21f3206fcc0756cf88cd986c671b957cedf6d6402a339fb8fbd048b888c4",
    },
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_served_bytes_are_as_pinned(scenario: str, http: requests.Session) -> None:
    with Simulator(seed=2026, as_of=AS_OF, start_year=2025) as sim:
        got = SCENARIOS[scenario](sim, _Client(sim, http))
    assert got == PINNED[scenario]


if __name__ == "__main__":  # prints PINNED for the simulator on sys.path (how it was made)
    with requests.Session() as session:
        pinned = {}
        for name, run in SCENARIOS.items():
            with Simulator(seed=2026, as_of=AS_OF, start_year=2025) as sim:
                pinned[name] = run(sim, _Client(sim, session))
    print(json.dumps(pinned, indent=4))
