"""The simulator: state shared by the HTTP server and the Python API (time, revisions, faults)."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from decimal import Decimal
from types import TracebackType
from typing import Any

from zonesim import data, forms
from zonesim.enterprise import EnterpriseDataset, EnterpriseRelease
from zonesim.enterprise_wire import EnterpriseRow
from zonesim.faults import FaultBook, Faults
from zonesim.model import DatasetModel, Release
from zonesim.record import Record
from zonesim.schedule import (
    CST,
    FREQUENCY_ORDER,
    Timeline,
    iso,
    natural_timeline,
    periods_of_year,
    to_cst,
)
from zonesim.server import SimulatorServer
from zonesim.view import RequestRecord
from zonestats.periods import Period, PeriodError, infer_frequency, parse_period

MAX_REQUESTS_KEPT = 100_000
# Form files kept in memory, and sha256 digests (small: many more). A client lists a zone's
# forms (index.json builds every file for its sha256) before it fetches them: the cache holds
# what a zone's indexes built (the demo's three form zones: ~10 MB) so that no file is built
# twice, within a byte budget (a QY1 file of a scaled-up zone is several MB).
FORM_FILES_KEPT = 1024
FORM_BYTES_KEPT = 64 << 20
FORM_DIGESTS_KEPT = 4096


def _token(seed: int, zone_code: str) -> str:
    return "zs-" + hashlib.sha256(f"zonesim:{seed}:{zone_code}".encode()).hexdigest()[:24]


class Simulator:
    """A fake of the zones' online statistics systems, serving zone-api.md over HTTP: api-v1
    (datasets ``zone`` and ``enterprise``) for every zone, and form-xlsx for the zones whose
    adapter is ``form-xlsx``.

    One port serves every zone of the registry under ``/{zone}/api/v1``. Everything served is a
    deterministic function of ``seed``, ``as_of``, ``enterprise_scale`` and what was done through
    this object (forced revisions, faults).
    """

    def __init__(
        self,
        seed: int = 2026,
        as_of: datetime | None = None,
        start_year: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        enterprise_scale: float = 1.0,
    ) -> None:
        """Set up the simulated zones; nothing listens until start(). ``enterprise_scale``
        multiplies every zone's number of enterprises (a few hundred to ~2,000 at 1)."""
        self.seed = seed
        self.catalog = data.catalog()
        self.zone_codes: tuple[str, ...] = tuple(self.catalog.zones)
        self._lock = threading.RLock()
        self._as_of = to_cst(as_of) if as_of is not None else datetime.now(CST)
        self.start_year = start_year if start_year is not None else self._as_of.year - 2
        self.host = host
        self._port = port
        self._enterprise = EnterpriseDataset(enterprise_scale)
        self.enterprise_scale = enterprise_scale
        self._datasets: dict[str, DatasetModel] = {
            "zone": data.ZoneDataset(),
            "enterprise": self._enterprise,
        }
        self.form_zones: tuple[str, ...] = forms.form_zones(self.catalog)
        self._form_files: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._form_digests: OrderedDict[tuple[Any, ...], str] = OrderedDict()
        # (zone, dataset, period) -> revisions forced by publish_revision, in order
        self._forced: dict[tuple[str, str, str], Timeline] = {}
        # Bounded so that a simulator left running under a benchmark does not grow without end.
        self._requests: deque[RequestRecord] = deque(maxlen=MAX_REQUESTS_KEPT)
        self._tokens = {z: _token(seed, z) for z in self.zone_codes}
        self.fault_book = FaultBook()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        """Bind the port and serve in a daemon thread; returns self for chaining."""
        with self._lock:
            if self._server is not None:
                return self
            server = SimulatorServer((self.host, self._port), self)
            self._server = server
            self._port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"zonesim:{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        """Start serving for the duration of a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    @property
    def port(self) -> int:
        """The port served (the one asked for until start() binds an ephemeral one)."""
        return self._port

    def base_url(self, zone_code: str) -> str:
        """Return a zone's api-v1 base URL, e.g. http://127.0.0.1:8765/TY01/api/v1."""
        self._zone(zone_code)
        return f"http://{self.host}:{self.port}/{zone_code}/api/v1"

    def token(self, zone_code: str) -> str:
        """Return the bearer token a zone accepts (deterministic from seed and zone)."""
        return self._tokens[self._zone(zone_code)]

    @staticmethod
    def token_env(zone_code: str) -> str:
        """Return the name of the environment variable conventionally holding a zone's token."""
        return f"ZONESTATS_TOKEN_{zone_code}"

    # ---- time --------------------------------------------------------------------------------

    @property
    def as_of(self) -> datetime:
        """The simulated present: only releases published at or before it exist."""
        with self._lock:
            return self._as_of

    @as_of.setter
    def as_of(self, moment: datetime) -> None:
        with self._lock:
            self._as_of = to_cst(moment)

    # ---- faults and request log ------------------------------------------------------------

    def set_faults(self, zone_code: str, faults: Faults) -> None:
        """Replace the faults of one zone (takes effect with the next request)."""
        self.fault_book.set(self._zone(zone_code), faults)

    def clear_faults(self, zone_code: str | None = None) -> None:
        """Switch off the faults of every zone (or of one)."""
        self.fault_book.clear(zone_code)

    def faults(self, zone_code: str) -> Faults:
        """Return what is left of a zone's faults (counters run down as requests consume them)."""
        return self.fault_book.get(self._zone(zone_code))

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request seen so far, oldest first (a snapshot; the last MAX_REQUESTS_KEPT)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests seen so far."""
        with self._lock:
            self._requests.clear()

    def record_request(self, record: RequestRecord) -> None:
        """Log one request (called by the server before it answers)."""
        with self._lock:
            self._requests.append(record)

    # ---- releases ----------------------------------------------------------------------------

    def _zone(self, zone_code: str) -> str:
        if zone_code not in self._tokens:
            raise KeyError(f"unknown zone {zone_code!r}")
        return zone_code

    def dataset(self, name: str) -> DatasetModel | None:
        """Return the model of a dataset this simulator serves, or None."""
        return self._datasets.get(name)

    def resolve_period(self, dataset: str, text: str) -> Period | None:
        """Parse a period of a dataset within the served years, or None when there is none."""
        model = self._datasets.get(dataset)
        frequency = infer_frequency(text) if isinstance(text, str) else None
        if model is None or frequency is None or frequency not in model.frequencies:
            return None
        try:
            period = parse_period(text, frequency)
        except PeriodError:
            return None
        if not self.start_year <= period.year <= self.as_of.year:
            return None
        return period

    def _period(self, dataset: str, text: str) -> Period:
        period = self.resolve_period(dataset, text)
        if period is None:
            raise KeyError(f"no {dataset} period {text!r} in {self.start_year}..{self.as_of.year}")
        return period

    def _timeline(self, zone_code: str, dataset: str, period: Period) -> Timeline:
        faults = self.fault_book.get(zone_code)
        if period.text in faults.withheld_periods:
            return []
        natural = natural_timeline(self.seed, zone_code, dataset, period)
        if period.text in faults.late_periods:
            natural = [(n, at + timedelta(days=faults.late_days)) for n, at in natural]
        forced = self._forced.get((zone_code, dataset, period.text))
        if not forced:
            return natural
        # A forced revision takes the next number; a natural revision it overtook never appears.
        return [rv for rv in natural if rv[0] < forced[0][0]] + forced

    def _latest(self, zone_code: str, dataset: str, period: Period) -> tuple[int, datetime] | None:
        with self._lock:
            visible = [
                rv for rv in self._timeline(zone_code, dataset, period) if rv[1] <= self._as_of
            ]
        return visible[-1] if visible else None

    def latest_revision(self, zone_code: str, dataset: str, period: str) -> int | None:
        """Return the latest revision of a release published at as_of, or None if unpublished."""
        resolved = self.resolve_period(dataset, period)
        if resolved is None or zone_code not in self._tokens:
            return None
        latest = self._latest(zone_code, dataset, resolved)
        return None if latest is None else latest[0]

    def release_list(self, zone_code: str, dataset: str = "zone") -> list[tuple[datetime, Record]]:
        """Return (published_at, entry) of every release /releases lists now, oldest first."""
        model = self._datasets[dataset]
        with self._lock:
            as_of = self._as_of
            rows: list[tuple[datetime, int, Period, int]] = []
            for year in range(self.start_year, as_of.year + 1):
                for period in periods_of_year(year, model.frequencies):
                    latest = self._latest(self._zone(zone_code), dataset, period)
                    if latest is not None:
                        rows.append(
                            (latest[1], FREQUENCY_ORDER[period.frequency], period, latest[0])
                        )
        rows.sort(key=lambda row: (row[0], row[1], row[2]))
        return [
            (
                published,
                {
                    "period": period.text,
                    "frequency": period.frequency,
                    "revision": revision,
                    "published_at": iso(published),
                    "record_count": self.record_count(zone_code, dataset, period.text, revision),
                },
            )
            for published, _, period, revision in rows
        ]

    def releases(self, zone_code: str, dataset: str = "zone") -> list[dict[str, Any]]:
        """Ground truth: what /releases would list now (without since), oldest first."""
        return [entry for _, entry in self.release_list(zone_code, dataset)]

    def release(self, zone_code: str, dataset: str, period: str, revision: int) -> Release:
        """Return one release as served now (faults included), generated page by page."""
        model = self._datasets.get(dataset)
        if model is None:
            raise KeyError(f"unknown dataset {dataset!r}")
        resolved = self._period(dataset, period)
        with self._lock:
            known = [n for n, _ in self._timeline(self._zone(zone_code), dataset, resolved)]
        if revision not in known:
            raise KeyError(f"{zone_code} {dataset} {period} has no revision {revision}")
        return model.release(self.seed, zone_code, resolved, revision, self.faults(zone_code))

    def record_count(self, zone_code: str, dataset: str, period: str, revision: int) -> int:
        """Return how many records a release has as served now."""
        return len(self.release(zone_code, dataset, period, revision))

    def record_slice(
        self, zone_code: str, dataset: str, period: str, revision: int, start: int, stop: int
    ) -> list[Record]:
        """Return records start..stop-1 of a release as served now (what one page carries)."""
        return self.release(zone_code, dataset, period, revision).slice(start, stop)

    def records(self, zone_code: str, dataset: str, period: str, revision: int) -> list[Record]:
        """Ground truth: exactly the records served for a release, bad records included."""
        release = self.release(zone_code, dataset, period, revision)
        return release.slice(0, len(release))

    def enterprises(self, zone_code: str, period: str, revision: int) -> list[Record]:
        """Ground truth: exactly the enterprise records served for a release (bad ones included
        under the bad_enterprises fault), in the order served."""
        return self.records(zone_code, "enterprise", period, revision)

    def enterprise_count(self, zone_code: str, period: str) -> int:
        """Return how many enterprises a zone has in a month (without injected bad records)."""
        resolved = self._period("enterprise", period)
        return self._enterprise.count(self.seed, self._zone(zone_code), resolved.year)

    def canonical_values(
        self, zone_code: str, dataset: str, period: str, revision: int
    ) -> dict[str, Any]:
        """Ground truth behind records(), before faults. zone: indicator → Decimal in the
        catalog unit (None: not reported; an indicator without a record is left out);
        enterprise: uscc → indicator → Decimal (indicators not reported are left out)."""
        model = self._datasets.get(dataset)
        if model is None:
            raise KeyError(f"unknown dataset {dataset!r}")
        resolved = self._period(dataset, period)
        return model.canonical_values(self.seed, self._zone(zone_code), resolved, revision)

    def publish_revision(
        self, zone_code: str, dataset: str, period: str, published_at: datetime | None = None
    ) -> int:
        """Publish a new revision of a published release (a few values change slightly) and
        return its number; published_at defaults to as_of, so it is the latest at once."""
        resolved = self._period(dataset, period)
        key = (self._zone(zone_code), dataset, resolved.text)
        with self._lock:
            latest = self._latest(zone_code, dataset, resolved)
            if latest is None:
                raise ValueError(
                    f"{zone_code} {dataset} {period} is not published at {iso(self._as_of)}"
                )
            forced = self._forced.get(key, [])
            number = max([latest[0], *(n for n, _ in forced)]) + 1
            previous = max(t for n, t in self._timeline(zone_code, dataset, resolved) if n < number)
            when = to_cst(published_at) if published_at is not None else max(self._as_of, previous)
            if when < previous:
                raise ValueError(f"published_at {iso(when)} is before revision {number - 1}")
            self._forced[key] = [*forced, (number, when)]
        return number

    # ---- form-xlsx -------------------------------------------------------------------------

    def _form_release(self, zone_code: str, form: str, period: str) -> tuple[Period, Timeline]:
        """The period of a form and the visible timeline of its release; KeyError when the zone
        has no forms, the form or period does not exist or nothing is published yet."""
        if self._zone(zone_code) not in self.form_zones:
            raise KeyError(f"{zone_code} publishes no forms")
        spec = forms.FORMS.get(form)
        if spec is None:
            raise KeyError(f"unknown form {form!r}")
        resolved = self.resolve_period(spec.dataset, period)
        if resolved is None or resolved.frequency != spec.frequency:
            raise KeyError(f"form {form} has no period {period!r}")
        with self._lock:
            visible = [
                rv
                for rv in self._timeline(zone_code, spec.dataset, resolved)
                if rv[1] <= self._as_of
            ]
        if not visible:
            raise KeyError(f"{zone_code} {form} {period} is not published at {iso(self.as_of)}")
        return resolved, visible

    def _form_key(self, zone_code: str, form: str, period: str) -> tuple[Any, ...]:
        resolved, visible = self._form_release(zone_code, form, period)
        faults = self.faults(zone_code)
        revision, published = visible[-1]
        return (
            zone_code,
            form,
            resolved.text,
            revision,
            published,
            visible[0][1],
            faults.form_period_mismatch,
            faults.form_number_mismatch,
            faults.bad_enterprises and forms.FORMS[form].dataset == "enterprise",
        )

    def form_document(self, zone_code: str, form: str, period: str) -> forms.FormDocument:
        """Ground truth: the layout of a form file as served now (quirks, rows, records)."""
        resolved, visible = self._form_release(zone_code, form, period)
        (revision, published), created = visible[-1], visible[0][1]
        return forms.build(
            self, zone_code, form, resolved, revision, published, created, self.faults(zone_code)
        )

    def form_bytes(self, zone_code: str, form: str, period: str) -> bytes:
        """Ground truth: the exact bytes of ``{base}/forms/{form}/{period}.xlsx`` now."""
        key = self._form_key(zone_code, form, period)
        with self._lock:
            cached = self._form_files.get(key)
            if cached is not None:
                self._form_files.move_to_end(key)
                return cached
        resolved, visible = self._form_release(zone_code, form, period)
        (revision, published), created = visible[-1], visible[0][1]
        body = forms.file_bytes(
            self, zone_code, form, resolved, revision, published, created, self.faults(zone_code)
        )
        with self._lock:
            self._form_files[key] = body
            kept = sum(len(b) for b in self._form_files.values())
            while len(self._form_files) > 1 and (
                len(self._form_files) > FORM_FILES_KEPT or kept > FORM_BYTES_KEPT
            ):
                kept -= len(self._form_files.popitem(last=False)[1])
            self._form_digests[key] = hashlib.sha256(body).hexdigest()
            while len(self._form_digests) > FORM_DIGESTS_KEPT:
                self._form_digests.popitem(last=False)
        return body

    def form_sha256(self, zone_code: str, form: str, period: str) -> str:
        """Return the sha256 (hex) of the form file served now."""
        key = self._form_key(zone_code, form, period)
        with self._lock:
            digest = self._form_digests.get(key)
        return digest or hashlib.sha256(self.form_bytes(zone_code, form, period)).hexdigest()

    def form_records(self, zone_code: str, form: str, period: str) -> list[Record]:
        """Ground truth: what a form file carries, in api-v1 record shapes. Zone forms:
        {indicator, value, unit}, one per row (value None for a blank cell); QY1: the enterprise
        records. Values are plain decimal strings in the unit of their row or column (``units``
        names a QY1 column not in the catalog unit); codes without the trailing spaces."""
        return [dict(r) for r in self.form_document(zone_code, form, period).records]

    def form_quirks(self, zone_code: str, form: str, period: str) -> frozenset[str]:
        """Return the quirks of a form file (see zonesim.forms for where each one goes)."""
        resolved, _ = self._form_release(zone_code, form, period)
        return forms.quirks(self.form_zones.index(zone_code), form, resolved)

    def form_periods(self, zone_code: str, form: str) -> list[str]:
        """Return the periods of a form published now, oldest first."""
        if self._zone(zone_code) not in self.form_zones or form not in forms.FORMS:
            raise KeyError(f"{zone_code} has no form {form!r}")
        spec = forms.FORMS[form]
        out: list[str] = []
        for year in range(self.start_year, self.as_of.year + 1):
            for period in periods_of_year(year, (spec.frequency,)):
                if self._latest(zone_code, spec.dataset, period) is not None:
                    out.append(period.text)
        return out

    def form_index(self, zone_code: str, form: str) -> dict[str, Any]:
        """Ground truth: ``{base}/forms/{form}/index.json`` now."""
        entries = []
        for period in self.form_periods(zone_code, form):
            _, visible = self._form_release(zone_code, form, period)
            entries.append(
                {
                    "period": period,
                    "updated_at": iso(visible[-1][1]),
                    "sha256": self.form_sha256(zone_code, form, period),
                }
            )
        return {"form": form, "periods": entries}

    def year_before(self, zone_code: str, period: Period) -> dict[str, Decimal]:
        """Revision 1 of the same period a year earlier (上年同期 of the forms, informative)."""
        earlier = parse_period(
            period.text.replace(str(period.year), str(period.year - 1), 1), period.frequency
        )
        return dict(data.base_values(self.seed, zone_code, earlier))

    def form_enterprise_release(
        self, zone_code: str, period: Period, revision: int
    ) -> EnterpriseRelease:
        """The enterprise release a QY1 form lists (with the bad cases a form can carry, if on)."""
        return self._enterprise.form_release(
            self.seed, zone_code, period, revision, self.faults(zone_code)
        )

    def form_enterprise_rows(
        self, zone_code: str, period: Period, revision: int
    ) -> list[EnterpriseRow]:
        """The enterprises a QY1 form lists (with the bad cases a form can carry, if on)."""
        release = self._enterprise.form_release(
            self.seed, zone_code, period, revision, self.faults(zone_code)
        )
        return release.rows(0, len(release))
