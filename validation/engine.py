"""Run the rules of a dataset over a normalized batch: pandera carries the checks, named by rule id."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from validation.checks import CHECKS
from validation.registry import Rule, RuleSet

QUARANTINE_COLUMNS = ["record_no", "record_key", "rule", "severity", "message", "raw"]


class RegistryMismatch(RuntimeError):
    """A declared rule without a check, or a check without a declaration."""


@dataclass(frozen=True)
class BatchResult:
    """A validated batch: rows to load, and one quarantine row per (record, broken rule)."""

    good: pd.DataFrame
    quarantine: pd.DataFrame
    errored_records: int
    warned_records: int


def build_schema(rules: RuleSet, dataset: str) -> pa.DataFrameSchema:
    """The pandera schema of a dataset's record-level rules; each check is named by its rule id."""
    declared = rules.for_dataset(dataset, "record")
    missing = [
        r.id
        for r in rules.for_dataset(dataset)
        if r.level in ("page", "record") and r.id not in CHECKS
    ]
    if missing:
        raise RegistryMismatch(f"rules without a check: {', '.join(missing)}")
    return pa.DataFrameSchema(
        columns={
            "record_no": pa.Column("int64"),
            "value": pa.Column("float64", nullable=True),
        },
        checks=[pa.Check(CHECKS[r.id], name=r.id) for r in declared],
        strict=False,
    )


# The columns the checks read; pandera reports every column of a failing row, so only these go in.
CHECK_COLUMNS = [
    "record_no",
    "page_zone",
    "zone_code",
    "malformed",
    "known",
    "ind_frequency",
    "release_frequency",
    "unit_ok",
    "value_unparsable",
    "value_missing",
    "value",
    "min",
    "max",
    "integer",
    "status",
    "conflict",
]


def failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """(row index, rule id) of every failed check, deduplicated; empty when all pass."""
    try:
        schema.validate(frame[[c for c in CHECK_COLUMNS if c in frame.columns]], lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        unknown = set(fc["check"]) - {c.name for c in schema.checks}
        if unknown:
            # a dtype or column failure means normalization broke its contract: a bug, not data
            raise RegistryMismatch(f"schema failures outside the rules: {sorted(unknown)}") from exc
        fc = fc.dropna(subset=["index"])
        return (
            fc[["index", "check"]]
            .drop_duplicates()
            .astype({"index": "int64"})
            .rename(columns={"check": "rule"})
            .reset_index(drop=True)
        )
    return pd.DataFrame({"index": pd.Series(dtype="int64"), "rule": pd.Series(dtype="string")})


def _fmt(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _message(rule: Rule, row: dict[str, Any], context: dict[str, Any]) -> str:
    fields = {k: _fmt(v) for k, v in row.items()}
    fields["value"] = row.get("value_text") if row.get("value_text") is not None else "—"
    fields.update(context)
    prefix = f"[{context['zone']} {context['period']} r{context['revision']} #{row['record_no']} {row['record_key']}] "
    return prefix + rule.message(fields)


class Validator:
    """The rules of one dataset, ready to run over normalized batches."""

    def __init__(self, rules: RuleSet, dataset: str) -> None:
        self.rules = rules
        self.dataset = dataset
        self.schema = build_schema(rules, dataset)
        self.page_rules = rules.for_dataset(dataset, "page")

    def _page_failures(
        self, frame: pd.DataFrame, context: dict[str, Any]
    ) -> tuple[pd.DataFrame, list[dict[str, Any]], pd.Index]:
        """Hold out whole pages that fail a page rule: one quarantine row per page, key page:<n>.

        Returns the frame without held-out pages, the page rows, and the index of the rows whose
        page broke a warning-level page rule (they load, and count as warned).
        """
        rows: list[dict[str, Any]] = []
        warned = pd.Index([], dtype="int64")
        for rule in self.page_rules:
            failing = ~CHECKS[rule.id](frame)
            if not failing.any():
                continue
            for page, grp in frame[failing].groupby("page", sort=True):
                first = grp.iloc[0]
                fields = {
                    "page": int(page),
                    "page_zone": first["page_zone"],
                    "record_key": f"page:{page}",
                    **context,
                }
                prefix = f"[{context['zone']} {context['period']} r{context['revision']} page:{page}, {len(grp)} records] "
                rows.append(
                    {
                        "record_no": 0,
                        "record_key": f"page:{page}",
                        "rule": rule.id,
                        "severity": rule.severity,
                        "message": prefix + rule.message(fields),
                        "raw": "[" + ",".join(grp["raw"]) + "]",
                        "_records": len(grp),
                        "_error": rule.severity == "error",
                    }
                )
            if rule.severity == "error":
                frame = frame[~failing]
            else:
                warned = warned.union(frame.index[failing])
        return frame, rows, warned

    def validate_batch(self, frame: pd.DataFrame, context: dict[str, Any]) -> BatchResult:
        """Split a normalized batch into good rows and quarantine rows, vectorized over the batch."""
        frame, page_rows, page_warned = self._page_failures(frame, context)
        page_errors = sum(r["_records"] for r in page_rows if r["_error"])
        result = _validate_records(frame, self.schema, self.rules, context, page_warned)
        if not page_rows:
            return result
        pages = pd.DataFrame(page_rows)[QUARANTINE_COLUMNS]
        return BatchResult(
            good=result.good,
            quarantine=pd.concat([pages, result.quarantine], ignore_index=True),
            errored_records=result.errored_records + page_errors,
            warned_records=result.warned_records,
        )


def _validate_records(
    frame: pd.DataFrame,
    schema: pa.DataFrameSchema,
    rules: RuleSet,
    context: dict[str, Any],
    also_warned: pd.Index | None = None,
) -> BatchResult:
    failed = failures(schema, frame)
    failed["severity"] = failed["rule"].map(lambda r: rules[r].severity)
    errors = failed[failed["severity"] == "error"]
    bad_idx = errors["index"].unique()
    warn_idx = failed.loc[failed["severity"] == "warning", "index"].unique()
    good = frame.drop(index=bad_idx)
    if failed.empty:
        q = pd.DataFrame(columns=QUARANTINE_COLUMNS)
    else:
        rows = frame.loc[failed["index"]].reset_index(drop=True)
        # messages are made only for failing records: the checks themselves stay vectorized
        cols = [
            "record_no",
            "record_key",
            "indicator",
            "value_text",
            "unit",
            "status",
            "allowed_units",
            "min",
            "max",
            "ind_frequency",
            "release_frequency",
            "page",
            "page_zone",
            "raw",
        ]
        records = rows[cols].rename(columns={"ind_frequency": "frequency"}).to_dict("records")
        messages = [
            _message(rules[rule], rec, context)
            for rule, rec in zip(failed["rule"], records, strict=True)
        ]
        q = pd.DataFrame(
            {
                "record_no": rows["record_no"].astype("int64"),
                "record_key": rows["record_key"].astype(str),
                "rule": failed["rule"].astype(str),
                "severity": failed["severity"].astype(str),
                "message": messages,
                "raw": rows["raw"].astype(str),
            }
        )
    return BatchResult(
        good=good,
        quarantine=q,
        errored_records=len(bad_idx),
        warned_records=len(
            (set(warn_idx) | set(also_warned if also_warned is not None else [])) - set(bad_idx)
        ),
    )
