"""The Prefect events zonestats emits, for automations to react to.

``zonestats.release.overdue``: a release turned overdue by the reporting calendar. Its resource
is the release (``zonestats.release.<zone>.<dataset>.<period>``, with the zone, dataset and
period as labels), its related resource the zone (``zonestats.zone.<zone>``), its payload the
deadline, the days late and the moment computed. A run without a Prefect API emits nothing:
there is no server to send to (Prefect would start a temporary one for it, for nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

OVERDUE_EVENT = "zonestats.release.overdue"
RELEASE_RESOURCE = "zonestats.release"


def can_emit() -> bool:
    """True when events reach a Prefect server: inside a Prefect run, or with an API configured."""
    from zonestats.steps import in_prefect_run, prefect_api_configured

    return in_prefect_run() or prefect_api_configured()


def release_resource(zone_code: str, dataset: str, period: str) -> dict[str, str]:
    """The Prefect resource of one release: its id names the zone, dataset and period."""
    return {
        "prefect.resource.id": f"{RELEASE_RESOURCE}.{zone_code}.{dataset}.{period}",
        "prefect.resource.name": f"{zone_code} {dataset} {period}",
        "zonestats.zone": zone_code,
        "zonestats.dataset": dataset,
        "zonestats.period": period,
    }


def emit_overdue(notice: Mapping[str, Any]) -> str | None:
    """Emit the overdue event of one release; its id, or None when it could not be sent.

    ``notice``: zone_code, dataset, period, deadline, deadline_local, days_late, extended, as_of.
    """
    if not can_emit():
        return None
    from prefect.events import emit_event

    zone, dataset, period = notice["zone_code"], notice["dataset"], notice["period"]
    event = emit_event(
        OVERDUE_EVENT,
        resource=release_resource(zone, dataset, period),
        related=[
            {"prefect.resource.id": f"zonestats.zone.{zone}", "prefect.resource.role": "zone"}
        ],
        payload={
            "zone_code": zone,
            "dataset": dataset,
            "period": period,
            "deadline": notice["deadline"].isoformat(),
            "deadline_local": notice["deadline_local"],
            "days_late": int(notice["days_late"]),
            "extended": bool(notice["extended"]),
            "as_of": notice["as_of"].isoformat(),
        },
    )
    return str(event.id) if event is not None else None
