"""What the HTTP server and the endpoint modules (api_v1, forms) see of the simulator: protocols,
so that they depend on this module and not on ``zonesim.simulator``, which imports them (no
import circle), plus the record of one request that both sides write and read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from zonesim.enterprise import EnterpriseRelease
from zonesim.enterprise_wire import EnterpriseRow
from zonesim.faults import FaultBook, Faults
from zonesim.model import DatasetModel, Release
from zonesim.record import Record
from zonestats.catalog import Catalog
from zonestats.periods import Period


@dataclass(frozen=True)
class RequestRecord:
    """One request the server saw, and the status it answered."""

    zone: str | None  # None: admin or unknown zone prefix
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    status: int = 0
    # the answer quoted the Authorization header received (the echo_token fault)
    echoed: bool = False


class SimulatorView(Protocol):
    """The simulator as its endpoints see it (``zonesim.simulator.Simulator`` is one)."""

    seed: int
    catalog: Catalog
    zone_codes: tuple[str, ...]
    form_zones: tuple[str, ...]
    fault_book: FaultBook

    def faults(self, zone_code: str) -> Faults:
        """Return what is left of a zone's faults."""
        ...

    def dataset(self, name: str) -> DatasetModel | None:
        """Return the model of a dataset this simulator serves, or None."""
        ...

    def latest_revision(self, zone_code: str, dataset: str, period: str) -> int | None:
        """Return the latest revision of a release published at as_of, or None."""
        ...

    def release_list(self, zone_code: str, dataset: str = "zone") -> list[tuple[datetime, Record]]:
        """Return (published_at, entry) of every release /releases lists now, oldest first."""
        ...

    def release(self, zone_code: str, dataset: str, period: str, revision: int) -> Release:
        """Return one release as served now (faults included)."""
        ...

    def canonical_values(
        self, zone_code: str, dataset: str, period: str, revision: int
    ) -> dict[str, Any]:
        """Return the ground truth behind a release's records, before faults."""
        ...

    def publish_revision(
        self, zone_code: str, dataset: str, period: str, published_at: datetime | None = None
    ) -> int:
        """Publish a new revision of a published release and return its number."""
        ...

    def form_bytes(self, zone_code: str, form: str, period: str) -> bytes:
        """Return the exact bytes of a form's workbook now."""
        ...

    def form_index(self, zone_code: str, form: str) -> dict[str, Any]:
        """Return a form's index.json now."""
        ...

    def year_before(self, zone_code: str, period: Period) -> dict[str, Decimal]:
        """Return revision 1 of the same period a year earlier."""
        ...

    def form_enterprise_release(
        self, zone_code: str, period: Period, revision: int
    ) -> EnterpriseRelease:
        """Return the enterprise release a QY1 form lists."""
        ...

    def form_enterprise_rows(
        self, zone_code: str, period: Period, revision: int
    ) -> list[EnterpriseRow]:
        """Return the enterprises a QY1 form lists."""
        ...


class ServedSimulator(SimulatorView, Protocol):
    """The simulator as its HTTP server sees it: the endpoints' view plus auth, the admin API's
    clock and faults, and the request log."""

    @property
    def as_of(self) -> datetime:
        """The simulated now."""
        ...

    @as_of.setter
    def as_of(self, moment: datetime) -> None: ...

    def token(self, zone_code: str) -> str:
        """Return the bearer token of a zone."""
        ...

    def set_faults(self, zone_code: str, faults: Faults) -> None:
        """Replace the faults of one zone."""
        ...

    def clear_faults(self, zone_code: str | None = None) -> None:
        """Switch off the faults of every zone (or of one)."""
        ...

    def record_request(self, record: RequestRecord) -> None:
        """Log one request the server answered."""
        ...
