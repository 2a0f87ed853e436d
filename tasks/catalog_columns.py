"""The catalog of a dataset as arrays indexed by indicator position, joined to records by index."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from tasks.numeric import Bools, Floats
from validation.checks import FREQUENCY_RANK
from zonestats.catalog import Catalog


@dataclass(frozen=True)
class CatalogColumns:
    """One dataset's catalog as arrays indexed by indicator position (last row: unknown)."""

    index: dict[str, int]
    unknown: int
    code: npt.NDArray[np.object_]
    canonical_unit: npt.NDArray[np.object_]
    ind_frequency: npt.NDArray[np.object_]
    freq_rank: npt.NDArray[np.int8]
    basis: npt.NDArray[np.object_]
    is_rate: Bools
    min: Floats
    max: Floats
    integer: Bools
    allowed_units: npt.NDArray[np.object_]
    factors: dict[tuple[int, str], tuple[int, int]]  # (indicator, unit) -> numerator, denominator
    canonical_num: Floats  # the canonical unit's factor (1 in a sane catalog; NaN: unknown)
    canonical_den: Floats
    code_text: pa.StringArray  # code and canonical_unit as Arrow text, for the staged rows
    unit_text: pa.StringArray

    def positions(self, codes: Sequence[Any]) -> npt.NDArray[np.intp]:
        """Each code's position (``unknown`` for a code not in the catalog or not a string)."""
        # dict.get through map, one C-level pass; only strings are catalog keys
        return np.fromiter(map(self.index.get, codes, repeat(self.unknown)), np.intp, len(codes))

    def factor_of(self, ind: npt.NDArray[np.intp], units: Sequence[Any]) -> tuple[Floats, Floats]:
        """The numerator and denominator of each (indicator, unit); NaN where not allowed."""
        num = np.full(len(ind), np.nan)
        den = np.full(len(ind), np.nan)
        for i, (k, u) in enumerate(zip(ind.tolist(), units, strict=True)):
            f = self.factors.get((k, u)) if isinstance(u, str) else None
            if f is not None:
                num[i], den[i] = f
        return num, den


def _factor(factors: dict[str, Any], unit: str) -> tuple[float, float]:
    f = factors.get(unit)
    return (f.numerator, f.denominator) if f is not None else (math.nan, math.nan)


def catalog_columns(catalog: Catalog, dataset: str) -> CatalogColumns:
    """The catalog of a dataset as arrays (computed once per catalog and dataset)."""
    cache: dict[str, CatalogColumns] = catalog.__dict__.setdefault("_columns", {})
    if dataset not in cache:
        inds = catalog.for_dataset(dataset)
        n = len(inds)

        def col(values: list[Any], dtype: Any, missing: Any) -> np.ndarray:
            return np.array([*values, missing], dtype=dtype)

        cache[dataset] = CatalogColumns(
            index={i.code: k for k, i in enumerate(inds)},
            unknown=n,
            code=col([i.code for i in inds], object, None),
            canonical_unit=col([i.unit for i in inds], object, None),
            ind_frequency=col([i.frequency for i in inds], object, None),
            freq_rank=col([FREQUENCY_RANK.get(i.frequency, -1) for i in inds], np.int8, -1),
            basis=col([i.basis for i in inds], object, None),
            is_rate=col([i.basis == "ytd_rate" for i in inds], bool, False),
            min=col([np.nan if i.min is None else i.min for i in inds], np.float64, np.nan),
            max=col([np.nan if i.max is None else i.max for i in inds], np.float64, np.nan),
            integer=col([bool(i.integer) for i in inds], bool, False),
            allowed_units=col(["、".join(i.unit_factors) for i in inds], object, None),
            factors={
                (k, u): (f.numerator, f.denominator)
                for k, i in enumerate(inds)
                for u, f in i.unit_factors.items()
            },
            canonical_num=col([_factor(i.unit_factors, i.unit)[0] for i in inds], float, np.nan),
            canonical_den=col([_factor(i.unit_factors, i.unit)[1] for i in inds], float, np.nan),
            code_text=pa.array([*(i.code for i in inds), None], pa.string()),
            unit_text=pa.array([*(i.unit for i in inds), None], pa.string()),
        )
    return cache[dataset]


def catalog_facts(cat: CatalogColumns, ind: npt.NDArray[np.intp]) -> dict[str, np.ndarray]:
    """The catalog facts the checks read, by each row's indicator position ``ind``."""
    return {
        "ind": ind,
        "known": ind != cat.unknown,
        "freq_rank": cat.freq_rank[ind],
        "is_rate": cat.is_rate[ind],
        "min": cat.min[ind],
        "max": cat.max[ind],
        "integer": cat.integer[ind],
    }


def catalog_texts(cat: CatalogColumns) -> dict[str, tuple[str, np.ndarray]]:
    """The catalog facts only messages and the release rules read: made when read."""
    return {
        "canonical_unit": ("ind", cat.canonical_unit),
        "ind_frequency": ("ind", cat.ind_frequency),
        "basis": ("ind", cat.basis),
        "allowed_units": ("ind", cat.allowed_units),
    }
