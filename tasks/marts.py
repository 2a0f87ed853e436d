"""Build the marts of a year from the current observations, when their inputs changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from marts.evaluation import evaluate, evaluation_columns, missing_inputs
from marts.method import Method
from marts.monthly import zone_monthly
from marts.rd_subsidy import rd_subsidy
from warehouse import marts as store
from warehouse.store import Warehouse
from zonestats.catalog import Catalog
from zonestats.config import WarehouseSettings
from zonestats.steps import run_logger, step

#: the columns of the current zone observations the marts are computed from
_OBS_COLUMNS = (
    "zone_code", "indicator_code", "period", "frequency", "revision", "value", "unit", "status",
)  # fmt: skip


@dataclass(frozen=True)
class MartBuild:
    """One mart's year: rebuilt or left as it was, and where its Parquet file is."""

    mart: str
    year: int
    rows: int
    rebuilt: bool
    path: Path | None
    #: the year-end periods the mart needs and nobody loaded: it was left empty
    missing: tuple[str, ...] = ()


def _evaluation(
    year: int, obs: pd.DataFrame, zones: list[str], method: Method, loaded: set[str]
) -> pd.DataFrame:
    if missing_inputs(year, loaded, method):
        # no grades made from nothing: the year stays empty (a stale one is cleared)
        return pd.DataFrame(columns=evaluation_columns(method))
    # watchlist needs the grades of the year before, computed the same way from the same
    # tables; a year before without its figures has no grades, so nobody is D "twice"
    previous = (
        None if missing_inputs(year - 1, loaded, method) else evaluate(year - 1, obs, zones, method)
    )
    return evaluate(year, obs, zones, method, previous)


def build_year(
    settings: WarehouseSettings,
    catalog: Catalog,
    method: Method,
    year: int,
    force: bool = False,
) -> list[MartBuild]:
    """Build zone_monthly, the evaluation and the R&D subsidy of a year (unchanged: skipped)."""
    wh = Warehouse(settings)
    out: list[MartBuild] = []
    # the evaluation of Y reads Y and Y-1 and grades Y-1 too (which reads Y-2)
    inputs = store.inputs_fingerprint(wh, year - 2, year, extra=method.version)
    zones = sorted(catalog.zones)
    loaded = store.loaded_periods(wh, year - 1, year)
    missing = tuple(missing_inputs(year, loaded, method))
    if missing:
        run_logger().info(
            "mart_zone_evaluation %s left empty: no zone has loaded %s yet",
            year,
            ", ".join(missing),
        )
    obs: pd.DataFrame | None = None

    def observations() -> pd.DataFrame:
        nonlocal obs
        if obs is None:
            obs = store.zone_observations(wh, year - 2, year)
        return obs

    plans = {
        "zone_monthly": lambda: zone_monthly(
            observations()[observations()["period"].str.startswith(str(year))], catalog
        ),
        "mart_zone_evaluation": lambda: _evaluation(year, observations(), zones, method, loaded),
        "mart_rd_subsidy": lambda: rd_subsidy(
            year,
            store.enterprise_observations(
                wh, [f"{year}-12", f"{year - 1}-12"], method.rd_subsidy.indicator
            ),
            store.reference(wh, "dim_enterprise"),
            method,
        ),
    }
    for mart, compute in plans.items():
        gone = missing if mart == "mart_zone_evaluation" else ()
        if not force and store.built_from(wh, mart, year) == inputs:
            out.append(MartBuild(mart, year, -1, rebuilt=False, path=None, missing=gone))
            continue
        rows = compute()
        path = store.replace_mart_year(wh, mart, year, rows, inputs, method.version)
        out.append(MartBuild(mart, year, len(rows), rebuilt=True, path=path, missing=gone))
    return out


build_marts = step(name="build-marts")(build_year)


def evaluation_as_of(
    settings: WarehouseSettings, catalog: Catalog, method: Method, year: int, at: datetime
) -> pd.DataFrame:
    """The evaluation of a year from the zone figures as held at a moment (nothing written).

    The same computation as the mart's, over what the warehouse held then, by the method in
    force now: what an export of that day would have carried.
    """
    from warehouse.history import observations_as_of

    held = observations_as_of(Warehouse(settings), "zone", at, years=(year - 2, year))
    obs = held[list(_OBS_COLUMNS)]
    # a period counts as loaded once some zone's figures of it were held (as loaded_periods)
    loaded = {p for p in obs["period"] if str(year - 1) <= p < str(year + 1)}
    return _evaluation(year, obs, sorted(catalog.zones), method, loaded)
