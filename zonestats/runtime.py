"""Process-wide loaders for the shipped declarations (catalog, rules) and the Prefect defaults."""

from __future__ import annotations

import os
from functools import lru_cache

from marts.method import Method, MethodError, load_method
from validation.registry import RuleError, RuleSet, load_rules
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ConfigError

PREFECT_DEFAULTS = {
    # telemetry would try the internet and print ERROR tracebacks offline
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    # a fresh ephemeral server takes ~12 s here, over half of Prefect's default 20 s
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def prefect_environment() -> None:
    """Set Prefect's offline-safe defaults unless the operator set them (call before importing prefect)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


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
