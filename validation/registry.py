"""The rule registry: rules are declared in rules.toml; code reads them and never hard-codes one."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

SEVERITIES = ("error", "warning")
LEVELS = ("page", "record", "release", "cross-period", "cross-dataset")
# the keys every declaration may have; any other key is a parameter of the rule's check
_DECLARATION_KEYS = {
    "severity", "level", "datasets", "on", "message_zh", "message_en", "acceptable",
}  # fmt: skip


class RuleError(ValueError):
    """A rule declaration that cannot be used."""


@dataclass(frozen=True)
class Rule:
    """One audit rule as declared."""

    id: str
    severity: str
    level: str
    datasets: tuple[str, ...]
    on: str  # "record" or "value": what one failure points at
    message_zh: str
    message_en: str
    # an operator may accept a record this rule held out (the zone explained the figure); rules
    # whose records cannot be represented as an observation (no number, no indicator) may not
    acceptable: bool = False
    # the rule's parameters as declared (indicators compared, tolerances, bounds)
    params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, fields: Mapping[str, Any]) -> str:
        """The readable message for one failing record, Chinese first."""
        safe = _Defaulting(fields)
        return f"{self.message_zh.format_map(safe)} | {self.message_en.format_map(safe)}"


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True)
class RuleSet:
    """All rules in force, by id."""

    rules: dict[str, Rule]

    def __getitem__(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def for_dataset(self, dataset: str, level: str | None = None) -> list[Rule]:
        """The rules that apply to a dataset (and level)."""
        return [
            r
            for r in self.rules.values()
            if dataset in r.datasets and (level is None or r.level == level)
        ]

    def at_levels(self, *levels: str) -> RuleSet:
        """The rules of some levels only (e.g. the record rules, to test them on their own)."""
        return RuleSet({k: r for k, r in self.rules.items() if r.level in levels})


def parse_rules(doc: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> RuleSet:
    """Build the rule set from a rules.toml document, with optional severity overrides."""
    rules: dict[str, Rule] = {}
    for rule_id, decl in doc.items():
        if not isinstance(decl, Mapping):
            raise RuleError(f"rule {rule_id}: expected a table")
        severity = (overrides or {}).get(rule_id, decl.get("severity"))
        if severity not in SEVERITIES:
            raise RuleError(f"rule {rule_id}: severity {severity!r} is not error or warning")
        if decl.get("level") not in LEVELS:
            raise RuleError(f"rule {rule_id}: level {decl.get('level')!r} is unknown")
        for key in ("message_zh", "message_en"):
            if not isinstance(decl.get(key), str) or not decl[key]:
                raise RuleError(f"rule {rule_id}: {key} is missing")
        on = decl.get("on", "record")
        if on not in ("record", "value"):
            raise RuleError(f"rule {rule_id}: on {on!r} is not record or value")
        acceptable = decl.get("acceptable", False)
        if not isinstance(acceptable, bool):
            raise RuleError(f"rule {rule_id}: acceptable must be true or false")
        rules[rule_id] = Rule(
            id=rule_id,
            severity=severity,
            level=decl["level"],
            datasets=tuple(decl.get("datasets", ())),
            on=on,
            message_zh=decl["message_zh"],
            message_en=decl["message_en"],
            acceptable=acceptable,
            params={k: v for k, v in decl.items() if k not in _DECLARATION_KEYS},
        )
    for rule_id in overrides or {}:
        if rule_id not in rules:
            raise RuleError(f"severity override for unknown rule {rule_id}")
    return RuleSet(rules)


def load_rules(overrides: Mapping[str, str] | None = None) -> RuleSet:
    """Load the rules shipped in validation/rules.toml."""
    text = resources.files("validation").joinpath("rules.toml").read_text(encoding="utf-8")
    return parse_rules(tomllib.loads(text), overrides)
