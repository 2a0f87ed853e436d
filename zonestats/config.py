"""The run configuration: one TOML file, read in the entry point and passed down.

``--config PATH`` wins, then ``$ZONESTATS_CONFIG``, then ``./zonestats.toml``.
``$ZONESTATS_WAREHOUSE_URL`` and ``$ZONESTATS_DATA_DIR`` override the ``[warehouse]`` table.
Relative paths in the file (a sqlite URL's file, ``data_dir``, ``evaluation.method``) are relative
to the file's directory; relative paths in those variables, to the working directory.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from zonestats.calendar import period_of
from zonestats.catalog import DATASETS, Catalog
from zonestats.periods import PeriodError

ADAPTERS = ("api-v1", "form-xlsx")
DEFAULT_CONFIG_NAME = "zonestats.toml"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key and fits on one line."""

    def __init__(self, key: str, message: str, source: str | None = None) -> None:
        where = f"{source}: " if source else ""
        # one line, whatever a key or value from the file contains
        super().__init__(" ".join(f"{where}{key}: {message}".splitlines()))
        self.key = key


@dataclass(frozen=True)
class HttpSettings:
    """How the zone clients talk HTTP; the defaults suit a provincial network."""

    connect_timeout_s: float = 5.0
    timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 300.0
    max_body_mib: float = 64.0
    page_size: int = 500
    max_pages: int = 100_000
    max_restarts: int = 3


@dataclass(frozen=True)
class ZoneSource:
    """One configured source: which zone, through which adapter, where, and which token variable."""

    code: str
    adapter: str
    base_url: str
    token_env: str
    timeout_s: float | None = None
    enabled: bool = True
    datasets: tuple[str, ...] = DATASETS  # what this zone publishes, pulled in this order
    # the first period the zone owes (release_calendar): every period ending in its month or
    # later; None: from the first period the zone was seen publishing
    first_period: str | None = None


@dataclass(frozen=True)
class ValidationSettings:
    """Local adjustments of the audit rules."""

    # real credit codes known to fail the GB 32100 check (old registrations); they pass
    uscc_allow: frozenset[str] = frozenset()
    # rule id -> "error" | "warning", overriding validation/rules.toml
    severity: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the clean data go: a SQLAlchemy URL (kept secret: it may hold a password) and a root."""

    url: SecretStr
    # local files: staging, raw pages, quality reports, Data Docs, exports, reports, and the
    # Parquet tree unless ``lake`` is set (then this is ``warehouse.work_dir``)
    data_dir: Path
    # ``s3://bucket/prefix`` when ``warehouse.data_dir`` names object storage: the observation,
    # quarantine and current tables are Delta tables under it (warehouse/lake.py)
    lake: str | None = None


@dataclass(frozen=True)
class RunSettings:
    """How a nightly run behaves."""

    max_concurrent_zones: int = 4
    lookback_days: int = 35
    # a run's claims (zones, releases) hold this long past its last heartbeat: a run that died
    # frees them after at most this
    lease_s: int = 60
    # how often a live run renews its claims; at most half the lease, so one late beat is harmless
    heartbeat_s: int = 15
    # how long a run waits for a zone another live run holds before it reports the zone busy
    zone_wait_s: int = 60
    # consecutive releases of a zone failing on server or network errors before the zone's
    # other releases are left for the next run
    zone_breaker_failures: int = 3
    # no release starts after this many seconds of a run; what is left is recorded failed
    deadline_s: int = 4 * 3600
    # how zones fan out: "threads" in this process (one machine), or "deployments": one
    # zone-pull deployment run per zone, picked up by any worker of the pool
    fan_out: str = "threads"


FAN_OUTS = ("threads", "deployments")


@dataclass(frozen=True)
class EvaluationSettings:
    """The evaluation method in force: the shipped marts/method.toml unless a file is named."""

    method_path: Path | None = None


@dataclass(frozen=True)
class AppConfig:
    """Everything a run needs, built once in the entry point."""

    warehouse: WarehouseSettings
    zones: tuple[ZoneSource, ...]
    http: HttpSettings = field(default_factory=HttpSettings)
    run: RunSettings = field(default_factory=RunSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    source_path: str | None = None

    def zone(self, code: str) -> ZoneSource:
        """Return the configured source of a zone or raise KeyError."""
        for z in self.zones:
            if z.code == code:
                return z
        raise KeyError(code)

    def select(self, codes: list[str] | None) -> tuple[ZoneSource, ...]:
        """Return the enabled zones, limited to ``codes`` when given (unknown codes are an error)."""
        if not codes:
            return tuple(z for z in self.zones if z.enabled)
        known = {z.code for z in self.zones}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise ConfigError("--zones", f"not configured: {', '.join(unknown)}")
        return tuple(z for z in self.zones if z.code in codes and z.enabled)


def resolve_config_path(explicit: str | None, env: Mapping[str, str]) -> Path:
    """Apply the precedence --config, $ZONESTATS_CONFIG, ./zonestats.toml."""
    if explicit:
        return Path(explicit)
    if env.get("ZONESTATS_CONFIG"):
        return Path(env["ZONESTATS_CONFIG"])
    return Path(DEFAULT_CONFIG_NAME)


def _check_keys(table: Mapping[str, Any], allowed: set[str], prefix: str, src: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{prefix}{key}",
                f"unknown key (expected one of: {', '.join(sorted(allowed))})",
                src,
            )


def _typed(
    table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], prefix: str, src: str
) -> Any:
    value = table[key]
    # bool is an int in Python; a timeout of `true` is a typo, not a number
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{prefix}{key}", f"expected a number, got {value!r}", src)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{prefix}{key}", f"expected {name}, got {value!r}", src)
    return value


def _positive(table: Mapping[str, Any], key: str, prefix: str, src: str) -> float:
    value = _typed(table, key, (int, float), prefix, src)
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{prefix}{key}", f"must be positive, got {value!r}", src)
    return float(value)


def _table(data: Mapping[str, Any], key: str, src: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a [{key}] table", src)
    return value


def _parse_http(table: Mapping[str, Any], src: str) -> HttpSettings:
    defaults = HttpSettings()
    allowed = set(HttpSettings.__dataclass_fields__)
    _check_keys(table, allowed, "http.", src)
    values: dict[str, Any] = {}
    for key in table:
        default = getattr(defaults, key)
        if isinstance(default, int):
            value = _typed(table, key, int, "http.", src)
            least = 0 if key == "max_restarts" else 1
            if value < least:
                raise ConfigError(f"http.{key}", f"must be at least {least}, got {value}", src)
            values[key] = value
        else:
            values[key] = _positive(table, key, "http.", src)
    if values.get("page_size", defaults.page_size) > 1000:
        raise ConfigError("http.page_size", "zone-api.md allows at most 1000", src)
    return replace(defaults, **values)


def _parse_zone(i: int, table: Any, catalog: Catalog, src: str) -> ZoneSource:
    prefix = f"zones[{i}]."
    if not isinstance(table, Mapping):
        raise ConfigError(f"zones[{i}]", "expected a table", src)
    _check_keys(table, set(ZoneSource.__dataclass_fields__), prefix, src)
    for key in ("code", "adapter", "base_url", "token_env"):
        if key not in table:
            raise ConfigError(f"{prefix}{key}", "missing", src)
        _typed(table, key, str, prefix, src)
    code = table["code"]
    if code not in catalog.zones:
        raise ConfigError(f"{prefix}code", f"{code!r} is not a zone of the registry", src)
    prefix = f"zones[{code}]."
    if table["adapter"] not in ADAPTERS:
        raise ConfigError(
            f"{prefix}adapter",
            f"unknown adapter {table['adapter']!r} (expected one of {', '.join(ADAPTERS)})",
            src,
        )
    if not re.match(r"^https?://[^\s/]+", table["base_url"]):
        raise ConfigError(f"{prefix}base_url", "expected an http:// or https:// URL", src)
    if not _ENV_NAME.match(table["token_env"]):
        # the value must be a variable's NAME; a token pasted here would leak into files
        raise ConfigError(f"{prefix}token_env", "expected the name of an environment variable", src)
    timeout = _positive(table, "timeout_s", prefix, src) if "timeout_s" in table else None
    enabled = _typed(table, "enabled", bool, prefix, src) if "enabled" in table else True
    datasets: tuple[str, ...] = DATASETS
    if "datasets" in table:
        listed = _typed(table, "datasets", list, prefix, src)
        if not listed or any(d not in DATASETS for d in listed) or len(set(listed)) != len(listed):
            raise ConfigError(
                f"{prefix}datasets", f"expected a list of distinct {', '.join(DATASETS)}", src
            )
        # the zone dataset first: enterprise figures are checked against the zone's totals
        datasets = tuple(d for d in DATASETS if d in listed)
    first_period = None
    if "first_period" in table:
        first_period = _typed(table, "first_period", str, prefix, src)
        try:
            period_of(first_period)
        except PeriodError as exc:
            raise ConfigError(f"{prefix}first_period", str(exc), src) from None
    return ZoneSource(
        code=code,
        adapter=table["adapter"],
        base_url=table["base_url"].rstrip("/"),
        token_env=table["token_env"],
        timeout_s=timeout,
        enabled=enabled,
        datasets=datasets,
        first_period=first_period,
    )


# S3 bucket names: 3-63 lower-case letters, digits, dots and hyphens; a prefix of plain segments
_S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[A-Za-z0-9._=-]+)*/?\Z")


def _parse_data_dir(data_dir: str, work_dir: object, src: str) -> tuple[str | None, Path]:
    """The lake URI (None: local disk) and the local directory of a warehouse's files."""
    if "://" not in data_dir:
        if work_dir is not None:
            raise ConfigError(
                "warehouse.work_dir",
                "only with an s3:// data_dir (else data_dir holds it all)",
                src,
            )
        return None, Path(data_dir)
    if not _S3_URL.match(data_dir) or "/../" in f"{data_dir}/" or "/./" in f"{data_dir}/":
        raise ConfigError(
            "warehouse.data_dir",
            "expected a local directory or s3://bucket/prefix (bucket: lower-case letters, "
            "digits, dots, hyphens; prefix: letters, digits, . _ = -)",
            src,
        )
    if not isinstance(work_dir, str) or not work_dir:
        raise ConfigError(
            "warehouse.work_dir",
            "missing: an s3:// data_dir needs a local directory for staging, raw pages and "
            "reports (or set ZONESTATS_WORK_DIR)",
            src,
        )
    return data_dir.rstrip("/"), Path(work_dir)


def _from_file(base_dir: Path | None, value: str) -> str:
    """A path written in the config file, made relative to the file's directory."""
    # a value with a scheme (s3://bucket/…) is a URL, not a path
    if base_dir is None or "://" in value or Path(value).is_absolute():
        return value
    return str(base_dir / value)


def _sqlite_from_file(base_dir: Path | None, url: str) -> str:
    """A sqlite URL of the config file whose database file is relative to the file's directory."""
    m = re.match(r"^(sqlite(?:\+\w+)?:///)([^?]*)(\?.*)?$", url)
    if base_dir is None or m is None or m.group(2) in ("", ":memory:"):
        return url
    return m.group(1) + _from_file(base_dir, m.group(2)) + (m.group(3) or "")


def parse_config(
    data: Mapping[str, Any],
    catalog: Catalog,
    env: Mapping[str, str],
    source: str = "config",
    base_dir: Path | None = None,
) -> AppConfig:
    """Validate a parsed TOML document and apply the environment overrides.

    ``base_dir``: the config file's directory, that relative paths in the file are relative to.
    """
    _check_keys(data, {"warehouse", "zones", "http", "run", "validation", "evaluation"}, "", source)
    wh = data.get("warehouse")
    if not isinstance(wh, Mapping):
        raise ConfigError("warehouse", "missing [warehouse] table", source)
    lake_dir = "://" in str(env.get("ZONESTATS_DATA_DIR") or wh.get("data_dir") or "")
    # work_dir exists only beside an object-store data_dir
    _check_keys(
        wh, {"url", "data_dir"} | ({"work_dir"} if lake_dir else set()), "warehouse.", source
    )
    url = env.get("ZONESTATS_WAREHOUSE_URL") or wh.get("url")
    if not env.get("ZONESTATS_WAREHOUSE_URL") and isinstance(url, str):
        url = _sqlite_from_file(base_dir, url)
    data_dir = env.get("ZONESTATS_DATA_DIR") or wh.get("data_dir")
    if not env.get("ZONESTATS_DATA_DIR") and isinstance(data_dir, str) and data_dir:
        data_dir = _from_file(base_dir, data_dir)
    if not isinstance(url, str) or not url:
        raise ConfigError("warehouse.url", "missing (or set ZONESTATS_WAREHOUSE_URL)", source)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", url):
        raise ConfigError(
            "warehouse.url", "expected a sqlite:// or postgresql:// SQLAlchemy URL", source
        )
    if not isinstance(data_dir, str) or not data_dir:
        raise ConfigError("warehouse.data_dir", "missing (or set ZONESTATS_DATA_DIR)", source)
    work_dir = env.get("ZONESTATS_WORK_DIR") or wh.get("work_dir")
    if not env.get("ZONESTATS_WORK_DIR") and isinstance(work_dir, str) and work_dir:
        work_dir = _from_file(base_dir, work_dir)
    lake, local_dir = _parse_data_dir(data_dir, work_dir, source)
    zones_raw = data.get("zones", [])
    if not isinstance(zones_raw, list):
        raise ConfigError("zones", "expected [[zones]] entries", source)
    zones = tuple(_parse_zone(i, z, catalog, source) for i, z in enumerate(zones_raw))
    seen: set[str] = set()
    for z in zones:
        if z.code in seen:
            raise ConfigError(f"zones[{z.code}].code", "configured twice", source)
        seen.add(z.code)
    run_raw = _table(data, "run", source)
    _check_keys(run_raw, set(RunSettings.__dataclass_fields__), "run.", source)
    run_values: dict[str, Any] = {}
    for key in run_raw:
        if key == "fan_out":
            fan_out = _typed(run_raw, key, str, "run.", source)
            if fan_out not in FAN_OUTS:
                raise ConfigError(
                    "run.fan_out", f"must be one of {', '.join(FAN_OUTS)}, got {fan_out!r}", source
                )
            run_values[key] = fan_out
            continue
        value = _typed(run_raw, key, int, "run.", source)
        if value < 1:
            raise ConfigError(f"run.{key}", f"must be at least 1, got {value}", source)
        run_values[key] = value
    run = replace(RunSettings(), **run_values)
    if run.heartbeat_s * 2 > run.lease_s:
        raise ConfigError(
            "run.heartbeat_s",
            f"must be at most half of run.lease_s ({run.lease_s}), got {run.heartbeat_s}",
            source,
        )
    return AppConfig(
        warehouse=WarehouseSettings(url=SecretStr(url), data_dir=local_dir, lake=lake),
        zones=zones,
        http=_parse_http(_table(data, "http", source), source),
        run=run,
        validation=_parse_validation(_table(data, "validation", source), source),
        evaluation=_parse_evaluation(_table(data, "evaluation", source), source, base_dir),
        source_path=source,
    )


def _parse_evaluation(
    table: Mapping[str, Any], src: str, base_dir: Path | None = None
) -> EvaluationSettings:
    _check_keys(table, {"method"}, "evaluation.", src)
    if "method" not in table:
        return EvaluationSettings()
    path = table["method"]
    if not isinstance(path, str) or not path:
        raise ConfigError("evaluation.method", "expected the path of a method.toml", src)
    return EvaluationSettings(method_path=Path(_from_file(base_dir, path)))


def _parse_validation(table: Mapping[str, Any], src: str) -> ValidationSettings:
    _check_keys(table, {"uscc_allow", "severity"}, "validation.", src)
    allow = table.get("uscc_allow", [])
    if not isinstance(allow, list) or not all(isinstance(c, str) for c in allow):
        raise ConfigError("validation.uscc_allow", "expected a list of credit codes", src)
    severity = table.get("severity", {})
    if not isinstance(severity, Mapping) or not all(
        v in ("error", "warning") for v in severity.values()
    ):
        raise ConfigError(
            "validation.severity", 'expected a table of rule = "error" | "warning"', src
        )
    return ValidationSettings(
        uscc_allow=frozenset(c.strip().upper() for c in allow),
        severity=tuple(sorted(severity.items())),
    )


def load_config(path: Path, catalog: Catalog, env: Mapping[str, str] | None = None) -> AppConfig:
    """Read and validate the TOML file at ``path``."""
    env = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "--config", f"no config file at {path} (pass --config PATH or set ZONESTATS_CONFIG)"
        ) from None
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("toml", str(exc), str(path)) from None
    return parse_config(data, catalog, env, source=str(path), base_dir=path.absolute().parent)
