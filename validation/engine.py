"""Run the rules of a dataset over a normalized batch: pandera carries the checks, named by rule id.

A batch is one frame of records (zone dataset: a record is an indicator row; enterprise dataset:
a record is an enterprise) and, for the enterprise dataset, a long frame of its values. Rules
declared ``on = "value"`` run over the values; a failed value holds out its whole record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa

from validation.checks import CHECKS
from validation.registry import Rule, RuleSet

QUARANTINE_COLUMNS = ["record_no", "record_key", "rule", "severity", "message", "raw"]

# The columns the checks read; pandera reports every column of a failing row, so only these go in.
CHECK_COLUMNS = [
    "record_no", "page_zone", "zone_code", "malformed", "known", "ind_frequency",
    "release_frequency", "unit_ok", "value_unparsable", "value_missing", "value", "min", "max",
    "integer", "basis", "status", "conflict", "uscc", "uscc_allowed", "industry_code", "above_scale_ok",
]  # fmt: skip
# The fields a message may name, taken from the failing row.
MESSAGE_COLUMNS = [
    "record_no", "record_key", "indicator", "value_text", "unit", "status", "allowed_units",
    "min", "max", "ind_frequency", "release_frequency", "page", "page_zone", "uscc",
    "industry_code", "above_scale_raw",
]  # fmt: skip


class RegistryMismatch(RuntimeError):
    """A declared rule without a check, or a schema failure that no rule explains."""


@dataclass(frozen=True)
class BatchResult:
    """A validated batch: rows to load, and one quarantine row per (record, broken rule)."""

    good: pd.DataFrame
    quarantine: pd.DataFrame
    errored_records: int
    warned_records: int
    good_values: pd.DataFrame | None = None  # enterprise dataset: the values of the good records


def build_schema(
    rules: RuleSet, dataset: str, on: tuple[str, ...] = ("record", "value")
) -> pa.DataFrameSchema:
    """The pandera schema of a dataset's record-level rules (those ``on`` the given targets)."""
    declared = [r for r in rules.for_dataset(dataset, "record") if r.on in on]
    missing = [
        r.id
        for r in rules.for_dataset(dataset)
        if r.level in ("page", "record") and r.id not in CHECKS
    ]
    if missing:
        raise RegistryMismatch(f"rules without a check: {', '.join(missing)}")
    return pa.DataFrameSchema(
        columns={"record_no": pa.Column("int64")},
        checks=[pa.Check(CHECKS[r.id], name=r.id) for r in declared],
        strict=False,
    )


def failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """(row index, rule id) of every failed check, deduplicated; empty when all pass."""
    empty = pd.DataFrame({"index": pd.Series(dtype="int64"), "rule": pd.Series(dtype="string")})
    if not schema.checks or frame.empty:
        return empty
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
    return empty


def _fmt(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value is pd.NA:
        return "—"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _message(rule: Rule, row: dict[str, Any], context: dict[str, Any]) -> str:
    fields = {k: _fmt(v) for k, v in row.items()}
    fields["value"] = row.get("value_text") if isinstance(row.get("value_text"), str) else "—"
    fields.update(context)
    prefix = (
        f"[{context['zone']} {context['period']} r{context['revision']}"
        f" #{row['record_no']} {row['record_key']}] "
    )
    return prefix + rule.message(fields)


class Validator:
    """The rules of one dataset, ready to run over normalized batches."""

    def __init__(self, rules: RuleSet, dataset: str) -> None:
        self.rules = rules
        self.dataset = dataset
        self.page_rules = rules.for_dataset(dataset, "page")
        if dataset == "zone":
            # a zone record is one value: record and value rules run over the same frame
            self.schema = build_schema(rules, dataset, ("record", "value"))
            self.value_schema: pa.DataFrameSchema | None = None
        else:
            self.schema = build_schema(rules, dataset, ("record",))
            self.value_schema = build_schema(rules, dataset, ("value",))

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
                fields = {
                    "page": int(page),
                    "page_zone": grp.iloc[0]["page_zone"],
                    "record_key": f"page:{page}",
                    **context,
                }
                prefix = (
                    f"[{context['zone']} {context['period']} r{context['revision']}"
                    f" page:{page}, {len(grp)} records] "
                )
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

    def validate_batch(
        self, frame: pd.DataFrame, context: dict[str, Any], values: pd.DataFrame | None = None
    ) -> BatchResult:
        """Split a normalized batch into good rows and quarantine rows, vectorized over the batch."""
        frame, page_rows, page_warned = self._page_failures(frame, context)
        page_errors = sum(r["_records"] for r in page_rows if r["_error"])
        if values is not None:
            values = values[values["record_no"].isin(frame["record_no"])]
        result = self._records(frame, values, context, page_warned)
        if not page_rows:
            return result
        pages = pd.DataFrame(page_rows)[QUARANTINE_COLUMNS]
        return BatchResult(
            good=result.good,
            quarantine=pd.concat([pages, result.quarantine], ignore_index=True),
            errored_records=result.errored_records + page_errors,
            warned_records=result.warned_records,
            good_values=result.good_values,
        )

    def _records(
        self,
        frame: pd.DataFrame,
        values: pd.DataFrame | None,
        context: dict[str, Any],
        also_warned: pd.Index,
    ) -> BatchResult:
        rules = self.rules
        failed = failures(self.schema, frame)
        # each failure as (record_no, rule) with the row whose fields the message names
        detail = frame.loc[failed["index"], _message_columns(frame)].reset_index(drop=True)
        detail["rule"] = failed["rule"].to_numpy()
        if values is not None and self.value_schema is not None:
            vfailed = failures(self.value_schema, values)
            vrows = values.loc[vfailed["index"], _message_columns(values)].reset_index(drop=True)
            vrows["rule"] = vfailed["rule"].to_numpy()
            # one row per (record, rule): the first broken value names the figure
            vrows = vrows.drop_duplicates(subset=["record_no", "rule"])
            detail = pd.concat([detail, vrows], ignore_index=True)
        detail["severity"] = detail["rule"].map(lambda r: rules[r].severity)
        bad = set(detail.loc[detail["severity"] == "error", "record_no"])
        warned_nos = set(detail.loc[detail["severity"] == "warning", "record_no"])
        warned_nos |= set(frame.loc[frame.index.intersection(also_warned), "record_no"])
        good = frame[~frame["record_no"].isin(bad)]
        good_values = values[~values["record_no"].isin(bad)] if values is not None else None
        if detail.empty:
            q = pd.DataFrame(columns=QUARANTINE_COLUMNS)
        else:
            by_no = frame.set_index("record_no")
            detail["record_key"] = detail["record_no"].map(by_no["record_key"]).astype(str)
            detail["raw"] = detail["record_no"].map(by_no["raw"]).astype(str)
            # messages are made only for failing records: the checks themselves stay vectorized
            records = detail.rename(columns={"ind_frequency": "frequency"}).to_dict("records")
            q = pd.DataFrame(
                {
                    "record_no": detail["record_no"].astype("int64"),
                    "record_key": detail["record_key"],
                    "rule": detail["rule"].astype(str),
                    "severity": detail["severity"].astype(str),
                    "message": [_message(rules[r["rule"]], r, context) for r in records],
                    "raw": detail["raw"],
                }
            ).sort_values(["record_no", "rule"], kind="stable", ignore_index=True)
        return BatchResult(
            good=good,
            quarantine=q,
            errored_records=len(bad),
            warned_records=len(warned_nos - bad),
            good_values=good_values,
        )


def _message_columns(frame: pd.DataFrame) -> list[str]:
    """The message columns present in a frame."""
    return [c for c in MESSAGE_COLUMNS if c in frame.columns]
