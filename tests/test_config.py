"""The run configuration: one TOML file, validated up front, with one-line errors naming the key."""

from __future__ import annotations

import dataclasses
import json
import logging
import tomllib
from pathlib import Path

import pytest

from zonestats.catalog import Catalog, load_catalog
from zonestats.config import (
    AppConfig,
    ConfigError,
    HttpSettings,
    RunSettings,
    ZoneSource,
    load_config,
    parse_config,
    resolve_config_path,
)

PASSWORD = "s3cr3t-Pw"
PG_URL = f"postgresql://u:{PASSWORD}@db.example/zonestats"

FULL = f"""
[warehouse]
url = "{PG_URL}"
data_dir = "/srv/zonestats"

[http]
connect_timeout_s = 3
timeout_s = 30.5
max_attempts = 7
backoff_base_s = 0.5
backoff_max_s = 20
max_retry_after_s = 120
max_body_mib = 16
page_size = 1000
max_pages = 2000
max_restarts = 0

[run]
max_concurrent_zones = 2
lookback_days = 40

[[zones]]
code = "TY01"
adapter = "api-v1"
base_url = "https://stats.ty01.example/api/v1/"
token_env = "ZONESTATS_TOKEN_TY01"
timeout_s = 90
enabled = true

[[zones]]
code = "YQ01"
adapter = "form-xlsx"
base_url = "http://10.1.2.3:8080/forms"
token_env = "YQ01_TOKEN"
enabled = false
"""

MINIMAL = """
[warehouse]
url = "sqlite:///var/warehouse.db"
data_dir = "var"

[[zones]]
code = "TY01"
adapter = "api-v1"
base_url = "https://stats.ty01.example/api/v1"
token_env = "TY01_TOKEN"
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def parse(text: str, catalog: Catalog, env: dict[str, str] | None = None) -> AppConfig:
    return parse_config(tomllib.loads(text), catalog, env or {}, source="zonestats.toml")


# --- happy path --------------------------------------------------------------------------------


def test_load_config_reads_every_key(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "zonestats.toml"
    path.write_text(FULL, encoding="utf-8")
    cfg = load_config(path, catalog, env={})
    assert cfg.source_path == str(path)
    assert cfg.warehouse.url.get_secret_value() == PG_URL
    assert cfg.warehouse.data_dir == Path("/srv/zonestats")
    assert cfg.http == HttpSettings(
        connect_timeout_s=3.0,
        timeout_s=30.5,
        max_attempts=7,
        backoff_base_s=0.5,
        backoff_max_s=20.0,
        max_retry_after_s=120.0,
        max_body_mib=16.0,
        page_size=1000,
        max_pages=2000,
        max_restarts=0,
    )
    assert isinstance(cfg.http.timeout_s, float)
    assert isinstance(cfg.http.connect_timeout_s, float)  # an integer in TOML, a float here
    assert isinstance(cfg.http.page_size, int)
    assert cfg.run == RunSettings(max_concurrent_zones=2, lookback_days=40)
    assert cfg.zones == (
        ZoneSource(
            code="TY01",
            adapter="api-v1",
            base_url="https://stats.ty01.example/api/v1",  # trailing slash dropped
            token_env="ZONESTATS_TOKEN_TY01",
            timeout_s=90.0,
            enabled=True,
        ),
        ZoneSource(
            code="YQ01",
            adapter="form-xlsx",
            base_url="http://10.1.2.3:8080/forms",
            token_env="YQ01_TOKEN",
            timeout_s=None,
            enabled=False,
        ),
    )


def test_defaults_when_optional_tables_are_absent(catalog: Catalog) -> None:
    cfg = parse(MINIMAL, catalog)
    assert cfg.http == HttpSettings()
    assert cfg.run == RunSettings()
    assert cfg.zones[0].timeout_s is None
    assert cfg.zones[0].enabled is True
    assert cfg.source_path == "zonestats.toml"


def test_no_zones_is_an_empty_tuple(catalog: Catalog) -> None:
    cfg = parse('[warehouse]\nurl = "sqlite://"\ndata_dir = "d"\n', catalog)
    assert cfg.zones == ()
    assert cfg.select(None) == ()


def test_the_warehouse_password_is_in_no_rendering_of_our_config_objects(catalog: Catalog) -> None:
    cfg = parse(FULL, catalog)
    assert cfg.warehouse.url.get_secret_value() == PG_URL  # kept for the connection
    shown = [
        repr(cfg),
        str(cfg),
        f"{cfg}",
        repr(cfg.warehouse),
        str(cfg.warehouse),
        json.dumps(dataclasses.asdict(cfg), default=str),
        json.dumps(dataclasses.asdict(cfg.warehouse), default=str),
        repr(dataclasses.asdict(cfg)),
        "%s %r" % (cfg, cfg.warehouse),  # noqa: UP031 - the form a log call uses
    ]
    for text in shown:
        assert PASSWORD not in text
        assert "db.example" not in text


def _pg_with_password(pg_url: str) -> str:
    # the test server trusts loopback, so a password in the URL is sent and ignored
    user, rest = pg_url.split("@", 1)
    return f"{user}:{PASSWORD}@{rest}"


@pytest.mark.postgres
def test_the_warehouse_password_is_not_in_the_output_or_logs_of_a_run(
    pg_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli.app import main
    from warehouse.store import _ENGINES

    url = _pg_with_password(pg_url)
    path = tmp_path / "zonestats.toml"
    path.write_text(
        f'[warehouse]\nurl = "{url}"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8"
    )
    caplog.set_level(logging.DEBUG)
    try:
        assert main(["db", "upgrade", "--config", str(path)]) == 0
        assert main(["status", "--config", str(path)]) == 0
        assert main(["status", "--json", "--config", str(path)]) == 0
    finally:
        engine = _ENGINES.pop(url, None)
        if engine is not None:
            engine.dispose()
    out = capsys.readouterr()
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records  # the run logged something, and that was searched
    for text in (out.out, out.err, logged):
        assert PASSWORD not in text


def test_the_password_is_not_in_the_error_when_the_warehouse_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from cli.app import main

    path = tmp_path / "zonestats.toml"
    url = f"postgresql+psycopg://etl:{PASSWORD}@127.0.0.1:1/zonestats"
    path.write_text(f'[warehouse]\nurl = "{url}"\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    code = main(["status", "--config", str(path)])
    out = capsys.readouterr()
    assert code != 0
    assert out.err.strip(), "the operator is told why"
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for text in (out.out, out.err, logged):
        assert PASSWORD not in text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            f'[warehouse]\nurl = "mysql://u:{PASSWORD}@h/db"\ndata_dir = "v"\n', id="scheme"
        ),
        pytest.param(
            f'[warehouse]\nurl = "postgresql://u:{PASSWORD}@h/db"\ndata_dir = "v"\ncolour = 1\n',
            id="unknown-key-beside-it",
        ),
        pytest.param(
            f'[warehouse]\nurl = "postgresql://u:{PASSWORD}@h/db"\n', id="missing-data-dir"
        ),
    ],
)
def test_a_bad_config_error_does_not_show_the_password(
    text: str, tmp_path: Path, catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.app import main

    path = tmp_path / "zonestats.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path, catalog, env={})
    assert PASSWORD not in str(exc.value)
    assert PASSWORD not in repr(exc.value)
    assert main(["status", "--config", str(path)]) == 2
    out = capsys.readouterr()
    assert PASSWORD not in out.err + out.out


# --- resolve_config_path ---------------------------------------------------------------------


def test_explicit_path_wins_over_the_environment() -> None:
    path = resolve_config_path("/etc/explicit.toml", {"ZONESTATS_CONFIG": "/etc/env.toml"})
    assert path == Path("/etc/explicit.toml")


def test_environment_wins_over_the_default() -> None:
    assert resolve_config_path(None, {"ZONESTATS_CONFIG": "/etc/env.toml"}) == Path("/etc/env.toml")
    assert resolve_config_path("", {"ZONESTATS_CONFIG": "/etc/env.toml"}) == Path("/etc/env.toml")


def test_default_is_zonestats_toml_in_the_working_directory() -> None:
    assert resolve_config_path(None, {}) == Path("zonestats.toml")
    assert resolve_config_path(None, {"ZONESTATS_CONFIG": ""}) == Path("zonestats.toml")
    assert not resolve_config_path(None, {}).is_absolute()


def test_load_config_uses_the_process_environment_by_default(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "zonestats.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    monkeypatch.setenv("ZONESTATS_DATA_DIR", str(tmp_path / "data"))
    cfg = load_config(path, catalog)
    assert cfg.warehouse.data_dir == tmp_path / "data"


# --- environment overrides -------------------------------------------------------------------


def test_env_overrides_the_warehouse_table(catalog: Catalog) -> None:
    env = {
        "ZONESTATS_WAREHOUSE_URL": "postgresql+psycopg://etl:pw2@10.0.0.5/stats",
        "ZONESTATS_DATA_DIR": "/data/override",
    }
    cfg = parse(FULL, catalog, env)
    assert cfg.warehouse.url.get_secret_value() == env["ZONESTATS_WAREHOUSE_URL"]
    assert cfg.warehouse.data_dir == Path("/data/override")


def test_env_supplies_a_warehouse_table_without_url_or_data_dir(catalog: Catalog) -> None:
    env = {"ZONESTATS_WAREHOUSE_URL": "sqlite:///w.db", "ZONESTATS_DATA_DIR": "var"}
    cfg = parse("[warehouse]\n", catalog, env)
    assert cfg.warehouse.url.get_secret_value() == "sqlite:///w.db"
    assert cfg.warehouse.data_dir == Path("var")


def test_empty_env_values_do_not_override(catalog: Catalog) -> None:
    cfg = parse(FULL, catalog, {"ZONESTATS_WAREHOUSE_URL": "", "ZONESTATS_DATA_DIR": ""})
    assert cfg.warehouse.url.get_secret_value() == PG_URL
    assert cfg.warehouse.data_dir == Path("/srv/zonestats")


def test_bad_url_from_env_is_rejected_without_showing_it(catalog: Catalog) -> None:
    env = {"ZONESTATS_WAREHOUSE_URL": f"mysql://u:{PASSWORD}@h/db"}
    with pytest.raises(ConfigError) as exc:
        parse(FULL, catalog, env)
    assert exc.value.key == "warehouse.url"
    assert PASSWORD not in str(exc.value)


# --- errors ----------------------------------------------------------------------------------

ZONE = """
[[zones]]
code = "TY01"
adapter = "api-v1"
base_url = "https://stats.ty01.example/api/v1"
token_env = "TY01_TOKEN"
"""
WAREHOUSE = '[warehouse]\nurl = "sqlite:///w.db"\ndata_dir = "var"\n'


def zone_with(line: str) -> str:
    return WAREHOUSE + ZONE + line + "\n"


BAD = [
    pytest.param("warehose = 1\n" + WAREHOUSE, "warehose", id="unknown-top-key"),
    pytest.param(WAREHOUSE + 'password = "x"\n', "warehouse.password", id="unknown-warehouse-key"),
    pytest.param(WAREHOUSE + "[http]\nretries = 3\n", "http.retries", id="unknown-http-key"),
    pytest.param(WAREHOUSE + "[run]\nparallel = 3\n", "run.parallel", id="unknown-run-key"),
    pytest.param(zone_with('token = "abc"'), "zones[0].token", id="unknown-zone-key"),
    pytest.param(ZONE, "warehouse", id="missing-warehouse"),
    pytest.param('warehouse = "sqlite:///w.db"\n', "warehouse", id="warehouse-not-a-table"),
    pytest.param('[warehouse]\ndata_dir = "var"\n', "warehouse.url", id="missing-url"),
    pytest.param('[warehouse]\nurl = 5\ndata_dir = "var"\n', "warehouse.url", id="url-not-text"),
    pytest.param(
        f'[warehouse]\nurl = "mysql://u:{PASSWORD}@h/db"\ndata_dir = "var"\n',
        "warehouse.url",
        id="url-scheme-mysql",
    ),
    pytest.param(
        '[warehouse]\nurl = "/var/w.db"\ndata_dir = "var"\n', "warehouse.url", id="url-a-path"
    ),
    pytest.param('[warehouse]\nurl = "sqlite://"\n', "warehouse.data_dir", id="missing-data-dir"),
    pytest.param("zones = 3\n" + WAREHOUSE, "zones", id="zones-not-an-array"),
    pytest.param("zones = [1]\n" + WAREHOUSE, "zones[0]", id="zone-not-a-table"),
    pytest.param(
        WAREHOUSE + ZONE.replace('token_env = "TY01_TOKEN"\n', ""),
        "zones[0].token_env",
        id="zone-missing-token-env",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01"', '"ZZ99"'), "zones[0].code", id="unknown-zone-code"
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01"', '"ty01"'), "zones[0].code", id="lowercase-zone-code"
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"api-v1"', '"api-v2"'),
        "zones[TY01].adapter",
        id="unknown-adapter",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace("https://stats", "ftp://stats"),
        "zones[TY01].base_url",
        id="base-url-ftp",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace("https://stats.ty01.example/api/v1", "stats.ty01.example"),
        "zones[TY01].base_url",
        id="base-url-no-scheme",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01_TOKEN"', '"tk-9f8e7d6c5b4a"'),
        "zones[TY01].token_env",
        id="token-env-pasted-token-dash",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01_TOKEN"', '"Bearer 9f8e7d6c5b4a"'),
        "zones[TY01].token_env",
        id="token-env-with-space",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01_TOKEN"', '"1TOKEN"'),
        "zones[TY01].token_env",
        id="token-env-leading-digit",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01_TOKEN"', '""'),
        "zones[TY01].token_env",
        id="token-env-empty",
    ),
    pytest.param(
        WAREHOUSE + ZONE.replace('"TY01_TOKEN"', "42"),
        "zones[0].token_env",
        id="token-env-not-text",
    ),
    pytest.param(zone_with("timeout_s = true"), "zones[TY01].timeout_s", id="zone-timeout-true"),
    pytest.param(zone_with("timeout_s = -5"), "zones[TY01].timeout_s", id="zone-timeout-negative"),
    pytest.param(zone_with("timeout_s = 0"), "zones[TY01].timeout_s", id="zone-timeout-zero"),
    pytest.param(zone_with('timeout_s = "30"'), "zones[TY01].timeout_s", id="zone-timeout-text"),
    pytest.param(zone_with('enabled = "yes"'), "zones[TY01].enabled", id="zone-enabled-text"),
    pytest.param(WAREHOUSE + ZONE + ZONE, "zones[TY01].code", id="zone-configured-twice"),
    pytest.param(WAREHOUSE + "[http]\npage_size = 1001\n", "http.page_size", id="page-size-1001"),
    pytest.param(WAREHOUSE + "[http]\npage_size = 0\n", "http.page_size", id="page-size-0"),
    pytest.param(WAREHOUSE + "[http]\npage_size = 500.0\n", "http.page_size", id="page-size-float"),
    pytest.param(
        WAREHOUSE + "[http]\ntimeout_s = true\n", "http.timeout_s", id="http-timeout-true"
    ),
    pytest.param(WAREHOUSE + "[http]\ntimeout_s = -1\n", "http.timeout_s", id="http-timeout-neg"),
    pytest.param(WAREHOUSE + "[http]\nmax_attempts = 0\n", "http.max_attempts", id="attempts-0"),
    pytest.param(WAREHOUSE + "[http]\nmax_pages = true\n", "http.max_pages", id="max-pages-true"),
    pytest.param(WAREHOUSE + "[run]\nlookback_days = 0\n", "run.lookback_days", id="lookback-0"),
    pytest.param(
        WAREHOUSE + "[run]\nmax_concurrent_zones = -2\n",
        "run.max_concurrent_zones",
        id="concurrency-negative",
    ),
]


@pytest.mark.parametrize(("text", "key"), BAD)
def test_wrong_config_raises_one_line_error_naming_the_key(
    text: str, key: str, catalog: Catalog
) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(text, catalog)
    message = str(exc.value)
    assert exc.value.key == key
    assert message.startswith(f"zonestats.toml: {key}: ")
    assert "\n" not in message
    assert PASSWORD not in message
    assert "9f8e7d6c5b4a" not in message  # a token pasted into token_env is not echoed


def test_unknown_key_error_lists_the_allowed_keys(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match=r"expected one of: data_dir, url\)$"):
        parse(WAREHOUSE + 'user = "etl"\n', catalog)


def test_page_size_of_exactly_1000_is_allowed(catalog: Catalog) -> None:
    assert parse(WAREHOUSE + "[http]\npage_size = 1000\n", catalog).http.page_size == 1000


def test_error_when_the_file_is_missing(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "nope.toml", catalog, env={})
    assert exc.value.key == "--config"
    assert "nope.toml" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_bad_toml_is_a_one_line_config_error_with_the_path(
    tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / "zonestats.toml"
    path.write_text('[warehouse]\nurl = "sqlite:///w.db\ndata_dir = "var"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(path, catalog, env={})
    message = str(exc.value)
    assert exc.value.key == "toml"
    assert message.startswith(f"{path}: toml: ")
    assert "line 2" in message
    assert "\n" not in message


def test_error_through_load_config_names_the_file(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "zonestats.toml"
    path.write_text(WAREHOUSE + ZONE.replace('"api-v1"', '"sftp"'), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"zonestats\.toml: zones\[TY01\]\.adapter: unknown adapter 'sftp'"
    ):
        load_config(path, catalog, env={})


# The following wrong configurations are accepted today (see the report of this test file).


def test_negative_max_restarts_is_rejected(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(WAREHOUSE + "[http]\nmax_restarts = -1\n", catalog)
    assert exc.value.key == "http.max_restarts"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("lookback_days = 0.5", "run.lookback_days"),
        ("max_concurrent_zones = 2.5", "run.max_concurrent_zones"),
    ],
)
def test_run_counts_must_be_whole_numbers(line: str, key: str, catalog: Catalog) -> None:
    # 0.5 days would silently become a look-back of 0 days, 2.5 zones would become 2
    with pytest.raises(ConfigError) as exc:
        parse(WAREHOUSE + "[run]\n" + line + "\n", catalog)
    assert exc.value.key == key


@pytest.mark.parametrize(
    ("line", "key"),
    [("http = 5", "http"), ('run = "fast"', "run")],
)
def test_optional_table_given_as_a_value_is_a_config_error(
    line: str, key: str, catalog: Catalog
) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(line + "\n" + WAREHOUSE, catalog)
    assert exc.value.key == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param(WAREHOUSE + "[http]\ntimeout_s = nan\n", "http.timeout_s", id="http"),
        pytest.param(zone_with("timeout_s = nan"), "zones[TY01].timeout_s", id="zone"),
    ],
)
def test_timeout_nan_is_rejected(text: str, key: str, catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(text, catalog)
    assert exc.value.key == key


def test_token_env_with_a_trailing_newline_is_not_a_variable_name(catalog: Catalog) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(WAREHOUSE + ZONE.replace('"TY01_TOKEN"', '"TY01_TOKEN\\n"'), catalog)
    assert exc.value.key == "zones[TY01].token_env"


# --- AppConfig.select / zone -----------------------------------------------------------------

THREE = (
    WAREHOUSE
    + ZONE
    + ZONE.replace('"TY01"', '"DT01"').replace("TY01_TOKEN", "DT01_TOKEN")
    + "enabled = false\n"
    + ZONE.replace('"TY01"', '"CZ01"').replace("TY01_TOKEN", "CZ01_TOKEN")
)


def test_select_returns_the_enabled_zones_in_config_order(catalog: Catalog) -> None:
    cfg = parse(THREE, catalog)
    assert [z.code for z in cfg.zones] == ["TY01", "DT01", "CZ01"]
    assert [z.code for z in cfg.select(None)] == ["TY01", "CZ01"]
    assert [z.code for z in cfg.select([])] == ["TY01", "CZ01"]


def test_select_limits_to_the_codes_given(catalog: Catalog) -> None:
    cfg = parse(THREE, catalog)
    assert [z.code for z in cfg.select(["CZ01"])] == ["CZ01"]
    assert [z.code for z in cfg.select(["CZ01", "TY01"])] == ["TY01", "CZ01"]
    # a disabled zone stays out even when named
    assert cfg.select(["DT01"]) == ()


def test_select_of_an_unconfigured_code_is_a_config_error(catalog: Catalog) -> None:
    cfg = parse(THREE, catalog)
    with pytest.raises(ConfigError) as exc:
        cfg.select(["TY01", "LL01", "XX99"])
    assert exc.value.key == "--zones"
    assert str(exc.value) == "--zones: not configured: LL01, XX99"


def test_zone_lookup(catalog: Catalog) -> None:
    cfg = parse(THREE, catalog)
    assert cfg.zone("DT01").enabled is False
    assert cfg.zone("DT01").token_env == "DT01_TOKEN"
    with pytest.raises(KeyError):
        cfg.zone("LL01")


WAREHOUSE_ONLY = """
[warehouse]
url = "sqlite:///w.db"
data_dir = "var"
"""


def test_evaluation_method_file_is_put_in_force_or_named_in_the_error(
    tmp_path: Path, catalog: Catalog
) -> None:
    from marts.method import load_method
    from tasks.runtime import method_for

    assert method_for(parse(WAREHOUSE_ONLY, catalog)).version == load_method().version
    shipped = (Path(__file__).parents[1] / "marts" / "method.toml").read_text(encoding="utf-8")
    own = tmp_path / "method.toml"
    own.write_text(shipped.replace('method_version = "2024-59.1"', 'method_version = "local-2"'))
    config = parse(WAREHOUSE_ONLY + f'\n[evaluation]\nmethod = "{own.as_posix()}"\n', catalog)
    assert method_for(config).version == "local-2"
    # weights that no longer sum to 100: a config error naming the setting, not a crash later
    own.write_text(shipped.replace("weight = 15", "weight = 14", 1))
    with pytest.raises(ConfigError, match=r"evaluation\.method: .*100"):
        method_for(config)
    missing = parse(WAREHOUSE_ONLY + '\n[evaluation]\nmethod = "/nowhere/method.toml"\n', catalog)
    with pytest.raises(ConfigError, match=r"evaluation\.method: cannot read it"):
        method_for(missing)
    with pytest.raises(ConfigError, match=r"evaluation\.weights"):
        parse(WAREHOUSE_ONLY + "\n[evaluation]\nweights = 1\n", catalog)
