"""What a config puts in force for a run: its audit rules and its evaluation method.

The one place where validation's and the marts' declarations meet a config: the CLI checks a
config here before it runs anything, and the steps ask here with the config they were given.
Read once per process (the files are shipped, not edited at run time)."""

from __future__ import annotations

from functools import lru_cache

from marts.method import Method, MethodError, load_method
from validation.registry import RuleError, RuleSet, load_rules
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ConfigError


@lru_cache(maxsize=8)
def shipped_rules(severity: tuple[tuple[str, str], ...] = ()) -> RuleSet:
    """The audit rules of validation/rules.toml with the config's severity overrides, read once."""
    return load_rules(dict(severity))


def rules_for(config: AppConfig) -> RuleSet:
    """The rules in force for a config; an override naming no rule is a config error."""
    try:
        return shipped_rules(config.validation.severity)
    except RuleError as exc:
        raise ConfigError("validation.severity", str(exc), config.source_path) from None


def method_for(config: AppConfig) -> Method:
    """The evaluation method a configuration puts in force (a bad file is a config error)."""
    try:
        return load_method(config.evaluation.method_path, shipped_catalog())
    except MethodError as exc:
        raise ConfigError("evaluation.method", str(exc), config.source_path or "config") from exc
    except OSError as exc:
        raise ConfigError(
            "evaluation.method", f"cannot read it: {exc}", config.source_path or "config"
        ) from exc
