"""Faults a zone's system can be switched into (the bad data they serve: zonesim.bad_data).

All faults are per zone, off by default and switchable at runtime (in process with
``Simulator.set_faults`` or over HTTP with ``POST /_admin/faults/{zone}``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass
class Faults:
    """The faults of one zone; counters count down as requests consume them."""

    # The next N requests to the zone answer 503 with a non-JSON body.
    error_5xx: int = 0
    # The next N requests answer 429 {"error": "rate limited"} with Retry-After: retry_after_s.
    rate_limit: int = 0
    retry_after_s: int = 1
    # Once: the first request of page n (n >= 2) of any release publishes a new revision of that
    # release and answers 409 superseded.
    supersede_on_page: int | None = None
    # Once: page n answers with revision = the requested revision + 1 (records unchanged).
    revision_drift_on_page: int | None = None
    # Every time: page n carries another zone's zone_code.
    foreign_zone_on_page: int | None = None
    # Sleep this long before answering each request.
    slow_s: float = 0.0
    # Every request answers 401, even with the right token (a revoked token).
    bad_token: bool = False
    # The next N data pages send their headers with the full Content-Length, then half the body,
    # then close the connection.
    drop_connection: int = 0
    # Data pages are padded with a long extra JSON field to at least this many bytes.
    huge_body_bytes: int = 0
    # The zone's releases break the release-level audit rules where AUDIT_BREAKS says.
    audit_breaks: bool = False
    # Every release of the zone carries the BAD_RECORDS cases of its frequency.
    bad_records: bool = False
    # With bad_records: only the releases of these periods carry them (empty: every release).
    bad_records_periods: tuple[str, ...] = ()
    # /releases also lists two entries no zone should publish: a monthly YYYY-01 (January is
    # reported with February) and next year's Q1 labelled M; asking for their data gives 404.
    bad_listing: bool = False
    # Every enterprise release of the zone carries the BAD_ENTERPRISES cases (and its QY1 forms
    # the cases a form can express).
    bad_enterprises: bool = False
    # Forms (form-xlsx) of the zone say 报告期 = the period before the one in the URL.
    form_period_mismatch: bool = False
    # Forms of the zone say 表号 = another form's number (YQ1 -> YQ2 -> YQ3 -> YQ1, QY1 -> YQ1).
    form_number_mismatch: bool = False
    # Every request for release data (api-v1 data pages, xlsx forms and their index) answers 500
    # while the listing keeps working: a zone whose database is down behind a live front end.
    data_error_500: bool = False
    # The zone echoes the Authorization header it received (the bearer token), as a misconfigured
    # debug mode of a vendor's system would: in X-Echo-Authorization on every answer, in
    # WWW-Authenticate on every error, in a "request" field of every JSON answer, and where
    # ECHO_CASES say in the error bodies of some releases and in a record field of others.
    echo_token: bool = False
    # The releases of these periods (every dataset) come out late_days after their usual time:
    # a zone that misses the reporting calendar's deadline, and a revision as late again.
    late_periods: tuple[str, ...] = ()
    late_days: int = 0
    # The releases of these periods (every dataset) are not published while the fault is on: a
    # zone that does not report (missing, then overdue).
    withheld_periods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject values that cannot describe a fault."""
        for name in ("error_5xx", "rate_limit", "retry_after_s", "drop_connection", "late_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.huge_body_bytes < 0 or self.slow_s < 0:
            raise ValueError("huge_body_bytes and slow_s must be >= 0")
        if self.supersede_on_page is not None and self.supersede_on_page < 2:
            raise ValueError("supersede_on_page must be >= 2 (page 1 starts a release)")
        for name in ("revision_drift_on_page", "foreign_zone_on_page"):
            page = getattr(self, name)
            if page is not None and page < 1:
                raise ValueError(f"{name} must be >= 1")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        """Build Faults from a JSON object, checking names and types strictly."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        data = dict(data)
        for name, value in data.items():
            kind = str(known[name].type)
            if kind == "tuple[str, ...]":
                ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
                if ok:
                    data[name] = tuple(value)
            elif kind == "bool":
                ok = isinstance(value, bool)
            elif kind == "float":
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            elif kind == "int":
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:  # int | None
                ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
            if not ok:
                raise ValueError(f"{name}: expected {kind}, got {value!r}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Gate:
    """What the faults make of a request before it reaches its endpoint."""

    slow_s: float = 0.0
    # 503, 429 or 401 to answer instead of serving the request; None: serve it.
    status: int | None = None
    retry_after_s: int = 1


@dataclass(frozen=True)
class PageFaults:
    """What the faults do to one data page that is being served."""

    revision_drift: bool = False
    foreign_zone: bool = False


class FaultBook:
    """The live fault state of every zone, consumed atomically by concurrent request handlers."""

    def __init__(self) -> None:
        """Start with every zone healthy."""
        self._lock = threading.Lock()
        self._zones: dict[str, Faults] = {}

    def set(self, zone_code: str, faults: Faults) -> None:
        """Replace a zone's faults (copied: counters run down here, not in the caller's object)."""
        with self._lock:
            self._zones[zone_code] = replace(faults)

    def clear(self, zone_code: str | None = None) -> None:
        """Switch off the faults of one zone, or of every zone."""
        with self._lock:
            if zone_code is None:
                self._zones.clear()
            else:
                self._zones.pop(zone_code, None)

    def get(self, zone_code: str) -> Faults:
        """Return a copy of a zone's remaining faults."""
        with self._lock:
            return replace(self._zones.get(zone_code, Faults()))

    def all(self) -> dict[str, Faults]:
        """Return copies of the faults of the zones that have any set."""
        with self._lock:
            return {zone: replace(f) for zone, f in self._zones.items()}

    def gate(self, zone_code: str) -> Gate:
        """Consume the per-request faults of a zone: 503 first, then 429, then a revoked token."""
        with self._lock:
            f = self._zones.get(zone_code)
            if f is None:
                return Gate()
            status: int | None = None
            if f.error_5xx > 0:
                f.error_5xx -= 1
                status = 503
            elif f.rate_limit > 0:
                f.rate_limit -= 1
                status = 429
            elif f.bad_token:
                status = 401
            return Gate(slow_s=f.slow_s, status=status, retry_after_s=f.retry_after_s)

    def data_down(self, zone_code: str) -> bool:
        """Whether the zone answers 500 to every request for release data."""
        with self._lock:
            f = self._zones.get(zone_code)
            return f is not None and f.data_error_500

    def echoes_token(self, zone_code: str) -> bool:
        """Whether the zone echoes the Authorization header it received (``echo_token``)."""
        with self._lock:
            f = self._zones.get(zone_code)
            return f is not None and f.echo_token

    def take_supersede(self, zone_code: str, page: int) -> bool:
        """Whether this request of page ``page`` fires the one-shot supersede fault."""
        with self._lock:
            f = self._zones.get(zone_code)
            if f is None or f.supersede_on_page is None or f.supersede_on_page != page:
                return False
            f.supersede_on_page = None
            return True

    def page_faults(self, zone_code: str, page: int) -> PageFaults:
        """Consume the faults that alter the body of data page ``page``."""
        with self._lock:
            f = self._zones.get(zone_code)
            if f is None:
                return PageFaults()
            drift = f.revision_drift_on_page == page
            if drift:
                f.revision_drift_on_page = None
            return PageFaults(revision_drift=drift, foreign_zone=f.foreign_zone_on_page == page)

    def take_drop(self, zone_code: str) -> bool:
        """Whether this data page is to be cut off mid-body."""
        with self._lock:
            f = self._zones.get(zone_code)
            if f is None or f.drop_connection <= 0:
                return False
            f.drop_connection -= 1
            return True

    def huge_body_bytes(self, zone_code: str) -> int:
        """The size data pages of the zone are padded to (0: no padding)."""
        with self._lock:
            f = self._zones.get(zone_code)
            return 0 if f is None else f.huge_body_bytes

    def bad_records(self, zone_code: str) -> bool:
        """Whether the zone's releases carry the bad records."""
        with self._lock:
            f = self._zones.get(zone_code)
            return f is not None and f.bad_records

    def audit_breaks(self, zone_code: str) -> bool:
        """Whether the zone's releases break the release-level audit rules (AUDIT_BREAKS)."""
        with self._lock:
            f = self._zones.get(zone_code)
            return f is not None and f.audit_breaks

    def bad_enterprises(self, zone_code: str) -> bool:
        """Whether the zone's enterprise releases carry the bad enterprises."""
        with self._lock:
            f = self._zones.get(zone_code)
            return f is not None and f.bad_enterprises
