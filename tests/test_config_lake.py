"""warehouse.data_dir on object storage: what the config accepts and the one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from warehouse.lake import Lake, storage_options
from zonestats.catalog import shipped_catalog
from zonestats.config import AppConfig, ConfigError, parse_config


def _parse(warehouse: str, env: dict[str, str] | None = None) -> AppConfig:
    text = f'[warehouse]\nurl = "sqlite:///x.db"\n{warehouse}\n'
    return parse_config(tomllib.loads(text), shipped_catalog(), env or {}, source="zonestats.toml")


def test_an_s3_data_dir_puts_the_lake_there_and_local_files_in_work_dir() -> None:
    wh = _parse('data_dir = "s3://zonestats-lake/prod/"\nwork_dir = "/srv/zs"').warehouse
    assert wh.lake == "s3://zonestats-lake/prod"
    assert wh.data_dir == Path("/srv/zs")
    assert Lake(wh.lake).table_uri("obs_zone_current") == (
        "s3://zonestats-lake/prod/parquet/obs_zone_current"
    )


def test_local_data_dir_is_unchanged() -> None:
    wh = _parse('data_dir = "var"').warehouse
    assert (wh.lake, wh.data_dir) == (None, Path("var"))


def test_the_environment_can_point_data_dir_and_work_dir_at_object_storage() -> None:
    env = {"ZONESTATS_DATA_DIR": "s3://other-bucket", "ZONESTATS_WORK_DIR": "/srv/w"}
    wh = _parse('data_dir = "var"', env).warehouse
    assert (wh.lake, wh.data_dir) == ("s3://other-bucket", Path("/srv/w"))


@pytest.mark.parametrize(
    ("warehouse", "key", "says"),
    [
        ('data_dir = "s3://zonestats-lake/p"', "warehouse.work_dir", "missing"),
        ('data_dir = "gs://bucket/p"\nwork_dir = "w"', "warehouse.data_dir", "s3://bucket/prefix"),
        ('data_dir = "s3://Bad_Bucket/p"\nwork_dir = "w"', "warehouse.data_dir", "bucket"),
        ('data_dir = "s3://zonestats-lake/../x"\nwork_dir = "w"', "warehouse.data_dir", "prefix"),
        ('data_dir = "var"\nwork_dir = "w"', "warehouse.work_dir", "unknown key"),
    ],
)
def test_a_bad_object_storage_setting_is_one_line_naming_the_key(
    warehouse: str, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(warehouse)
    assert info.value.key == key
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_storage_options_come_from_the_aws_variables() -> None:
    env = {
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
        "AWS_ENDPOINT_URL": "http://ignored",
        "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    opts = storage_options(env)
    assert opts["aws_endpoint_url"] == "http://127.0.0.1:9000"
    assert opts["aws_allow_http"] == "true"
    assert opts["aws_region"] == "cn-north-1"
    assert opts["aws_conditional_put"] == "etag"
    assert "aws_allow_http" not in storage_options({"AWS_ENDPOINT_URL": "https://s3.example"})
    # a lake's repr (what a log or an exception shows) is its URI alone, no option, no key
    assert repr(Lake("s3://zonestats-lake")) == "Lake('s3://zonestats-lake')"
