"""api-v1 of zone-api.md: ``GET /releases`` and ``GET /data/{dataset}`` of one zone (datasets
``zone`` and ``enterprise``)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime

from zonesim.routing import RawJSON, Response, ZoneRequest, ZoneRoute, error, not_found

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a release starts; opaque to clients (urlsafe base64 of JSON)."""

    zone: str
    dataset: str
    period: str
    revision: int
    offset: int
    page: int

    def encode(self) -> str:
        """Return the opaque text sent as next_cursor."""
        raw = json.dumps(
            {
                "z": self.zone,
                "d": self.dataset,
                "p": self.period,
                "r": self.revision,
                "o": self.offset,
                "n": self.page,
            },
            separators=(",", ":"),
        )
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """Parse a cursor, or return None for anything this server did not hand out."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
            obj = json.loads(raw)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not isinstance(obj, dict) or set(obj) != {"z", "d", "p", "r", "o", "n"}:
            return None
        strings = all(isinstance(obj[k], str) for k in "zdp")
        ints = all(type(obj[k]) is int for k in "ron")
        if not (strings and ints) or obj["r"] < 1 or obj["o"] < 0 or obj["n"] < 2:
            return None
        return cls(obj["z"], obj["d"], obj["p"], obj["r"], obj["o"], obj["n"])


def _positive_int(text: str) -> int | None:
    # int() accepts "+5", " 5" and "5_0"; a zone's web framework would not.
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) and int(text) >= 1 else None


def releases(req: ZoneRequest) -> Response:
    """List the releases published (or re-published) at or after ``since``."""
    dataset = req.params.get("dataset")
    if not dataset:
        return error(400, "dataset is required")
    if req.sim.dataset(dataset) is None:
        return not_found()
    since: datetime | None = None
    if "since" in req.params:
        try:
            since = datetime.fromisoformat(req.params["since"])
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            return error(400, "since must be an ISO 8601 date-time with an offset")
    listed = [
        entry
        for published, entry in req.sim.release_list(req.zone, dataset)
        if since is None or published >= since
    ]
    if req.sim.faults(req.zone).bad_listing and listed:
        year = max(entry["period"][:4] for entry in listed)
        stamp = listed[-1]["published_at"]
        listed += [
            {
                "period": f"{year}-01",
                "frequency": "M",
                "revision": 1,
                "published_at": stamp,
                "record_count": 1,
            },
            {
                "period": f"{int(year) + 1}-Q1",
                "frequency": "M",
                "revision": 1,
                "published_at": stamp,
                "record_count": 1,
            },
        ]
    return Response(200, {"zone_code": req.zone, "dataset": dataset, "releases": listed})


def data_page(req: ZoneRequest) -> Response:
    """Serve one page of one release."""
    sim, zone = req.sim, req.zone
    dataset = req.groups["dataset"]
    if sim.dataset(dataset) is None:
        return not_found()
    period_text = req.params.get("period")
    if not period_text:
        return error(400, "period is required")
    limit = DEFAULT_LIMIT
    if "limit" in req.params:
        parsed = _positive_int(req.params["limit"])
        if parsed is None:
            return error(400, "limit must be a positive integer")
        if parsed > MAX_LIMIT:
            return error(400, f"limit must be at most {MAX_LIMIT}")
        limit = parsed
    asked: int | None = None
    if "revision" in req.params:
        asked = _positive_int(req.params["revision"])
        if asked is None:
            return error(400, "revision must be a positive integer")
    cursor: Cursor | None = None
    if "cursor" in req.params:
        cursor = Cursor.decode(req.params["cursor"])
        if cursor is None or (cursor.zone, cursor.dataset, cursor.period) != (
            zone,
            dataset,
            period_text,
        ):
            return error(400, "invalid cursor")
        if asked is not None and asked != cursor.revision:
            return error(400, "invalid cursor")

    latest = sim.latest_revision(zone, dataset, period_text)
    if latest is None:
        return not_found()
    revision = asked if asked is not None else cursor.revision if cursor else latest
    if revision < latest:
        return error(409, "superseded", latest_revision=latest)
    if revision > latest:
        return not_found()

    page = cursor.page if cursor else 1
    if sim.fault_book.take_supersede(zone, page):
        newest = sim.publish_revision(zone, dataset, period_text)
        return error(409, "superseded", latest_revision=newest)

    # Only this page's records are generated: an enterprise release may be large.
    release = sim.release(zone, dataset, period_text, revision)
    offset = cursor.offset if cursor else 0
    if offset > len(release):
        return error(400, "invalid cursor")
    end = offset + limit
    next_cursor = (
        Cursor(zone, dataset, period_text, revision, end, page + 1).encode()
        if end < len(release)
        else None
    )
    faults = sim.fault_book.page_faults(zone, page)
    zone_code = zone
    if faults.foreign_zone:
        codes = sim.zone_codes
        zone_code = codes[(codes.index(zone) + 1) % len(codes)]
    payload = {
        "zone_code": zone_code,
        "dataset": dataset,
        "period": period_text,
        "revision": revision + 1 if faults.revision_drift else revision,
        "records": RawJSON(release.page_json(offset, end)),
        "next_cursor": next_cursor,
    }
    return Response(
        200,
        payload,
        pad_to=sim.fault_book.huge_body_bytes(zone),
        truncate=sim.fault_book.take_drop(zone),
    )


ROUTES: tuple[ZoneRoute, ...] = (
    ("GET", re.compile(r"api/v1/releases"), releases),
    ("GET", re.compile(r"api/v1/data/(?P<dataset>[^/]+)"), data_page),
)
