"""The data dictionary: every column described in both languages, and the committed page current."""

from __future__ import annotations

import copy
import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, Integer, MetaData, Table

from warehouse import schema
from warehouse.dictionary import render
from warehouse.dictionary.__main__ import main as regenerate
from warehouse.dictionary.check import dictionary_problems
from warehouse.dictionary.descriptions import load_descriptions, relations
from warehouse.dictionary.render import DEFAULT_PATH, render_dictionary, write_dictionary
from zonestats.catalog import shipped_catalog

ROOT = Path(__file__).resolve().parents[1]

OPERATOR_TABLES = (
    "watermark", "mart_build", "operator_action", "load_ledger", "dq_run", "load_commit",
    "obs_zone_base", "obs_enterprise_base",
)  # fmt: skip


def _copy_of_schema() -> MetaData:
    """A private copy of the warehouse metadata that a test may add to."""
    md = MetaData()
    for table in schema.metadata.tables.values():
        table.to_metadata(md)
    return md


def _section(page: str, heading: str) -> str:
    """The text under a level-2 heading, up to the next one."""
    start = page.index(f"\n## {heading}\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else None]


def test_every_column_of_every_table_and_view_is_described() -> None:
    problems = dictionary_problems()
    assert not problems, (
        "warehouse/dictionary.toml does not match warehouse/schema.py "
        "(describe each column in Chinese and English):\n- " + "\n- ".join(problems)
    )


def test_the_walk_covers_every_table_and_view() -> None:
    names = [r.name for r in relations()]
    assert names == [*schema.metadata.tables, *schema.VIEWS]
    doc = load_descriptions()
    for rel in relations():
        section = "tables" if rel.kind == "table" else "views"
        assert rel.name in doc[section], f"{rel.name} is not in [{section}] of dictionary.toml"


def test_a_column_added_without_a_description_is_named() -> None:
    md = _copy_of_schema()
    md.tables["obs_zone_base"].append_column(Column("price_index", Float(53)))
    problems = "\n".join(dictionary_problems(relations(md, schema.VIEWS), load_descriptions()))
    assert "obs_zone_base.price_index: no Chinese description (zh)" in problems
    assert "obs_zone_base.price_index: no English description (en)" in problems
    # the public view names its columns: a storage column does not reach readers unasked
    assert "obs_zone.price_index" not in problems.replace("obs_zone_base.", "")


def test_a_column_added_to_a_public_view_is_named() -> None:
    md = _copy_of_schema()
    md.tables["obs_zone_base"].append_column(Column("price_index", Float(53)))
    views = dict(schema.VIEWS)
    views["obs_zone"] = views["obs_zone"].replace(" FROM ", ", b.price_index FROM ", 1)
    problems = "\n".join(dictionary_problems(relations(md, views), load_descriptions()))
    assert "view obs_zone.price_index: no Chinese description (zh)" in problems
    # the current view selects o.*, so it gains the column too and must say so
    assert "view obs_zone_current.price_index" in problems


def test_the_public_observation_views_keep_the_contracts_columns() -> None:
    by_name = {r.name: r for r in relations()}
    for view, table in (("obs_zone", schema.obs_zone), ("obs_enterprise", schema.obs_enterprise)):
        assert by_name[view].kind == "view"
        # the contract's columns in the contract's order, for psql, DuckDB and pandas alike
        assert [c.name for c in by_name[view].columns] == [c.name for c in table.columns]
        assert [c.name for c in by_name[f"{view}_current"].columns] == [
            c.name for c in table.columns
        ]


def test_a_table_added_without_a_description_is_named() -> None:
    md = _copy_of_schema()
    Table("dim_park", md, Column("park_id", Integer, primary_key=True))
    problems = dictionary_problems(relations(md, schema.VIEWS), load_descriptions())
    assert any("table dim_park: not described" in p for p in problems), problems


def test_a_description_of_a_column_that_does_not_exist_is_named() -> None:
    doc = copy.deepcopy(load_descriptions())
    doc["tables"]["dim_zone"]["columns"]["zone_nmae"] = {"zh": "名称", "en": "name"}
    doc["views"]["zone_monthly"]["columns"]["qoq_pct"] = {"zh": "环比", "en": "on the month"}
    doc["tables"]["dim_gone"] = {"audience": "operator", "zh": "旧表", "en": "old", "columns": {}}
    problems = "\n".join(dictionary_problems(relations(), doc))
    assert "dim_zone has no column zone_nmae" in problems
    assert "zone_monthly has no column qoq_pct" in problems
    assert "there is no table dim_gone" in problems


def test_a_view_expression_column_needs_a_declared_type() -> None:
    views = {**schema.VIEWS, "zone_monthly_extra": "CREATE VIEW zone_monthly_extra AS "
             "SELECT zone_code, value * 2 AS doubled FROM obs_zone"}  # fmt: skip
    doc = copy.deepcopy(load_descriptions())
    doc["views"]["zone_monthly_extra"] = {
        "audience": "statistician",
        "zh": "测试",
        "en": "test",
        "columns": {"doubled": {"zh": "两倍", "en": "doubled"}},
        "source": "obs_zone_base",
    }
    problems = dictionary_problems(relations(schema.metadata, views), doc)
    assert problems == [
        "view zone_monthly_extra.doubled: its type is unknown (an expression); "
        "give it `type` in [views.zone_monthly_extra].columns"
    ]


def test_internal_tables_are_marked_for_operators() -> None:
    tables = load_descriptions()["tables"]
    for name in OPERATOR_TABLES:
        assert tables[name]["audience"] == "operator", name
    for name in ("quarantine", "dim_zone", "mart_zone_evaluation"):
        assert tables[name]["audience"] == "statistician", name
    views = load_descriptions()["views"]
    for name in ("obs_zone", "obs_enterprise", "obs_zone_current", "obs_enterprise_current"):
        assert views[name]["audience"] == "statistician", name


def test_the_raw_record_is_flagged_as_closed_to_the_reader_role() -> None:
    raw = load_descriptions()["tables"]["quarantine"]["columns"]["raw"]
    assert "只读角色无权读取" in raw["zh"]
    assert "not readable by the statisticians' reader role" in raw["en"]


def _staleness(committed: str, rendered: str) -> str | None:
    """None when the committed page equals the render; else the failure, with the diff's head."""
    if committed == rendered:
        return None
    diff = "\n".join(
        list(
            difflib.unified_diff(
                committed.splitlines(),
                rendered.splitlines(),
                "docs/data-dictionary.md (committed)",
                "render_dictionary()",
                lineterm="",
                n=0,
            )
        )[:30]
    )
    return (
        "docs/data-dictionary.md is stale: run `python -m warehouse.dictionary` and commit "
        f"the page\n{diff}"
    )


def _committed() -> str:
    return DEFAULT_PATH.read_text(encoding="utf-8") if DEFAULT_PATH.exists() else ""


def test_the_committed_page_is_current() -> None:
    stale = _staleness(_committed(), render_dictionary())
    if stale:
        pytest.fail(stale)


@pytest.mark.parametrize("hash_seed", ["0", "4242"])
def test_a_fresh_process_renders_the_committed_page(tmp_path: Path, hash_seed: str) -> None:
    # a new interpreter (another hash seed, nothing cached by this one) writes what is committed:
    # set or dict ordering, the clock or the working directory leaking into the page would show
    target = tmp_path / "dd.md"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "warehouse.dictionary", str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _staleness(_committed(), target.read_text(encoding="utf-8")) is None


def test_a_changed_description_makes_the_committed_page_stale_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = copy.deepcopy(load_descriptions())
    doc["tables"]["dim_zone"]["columns"]["zone_code"]["en"] = "the zone's code, as renamed"
    monkeypatch.setattr(render, "load_descriptions", lambda: doc)
    stale = _staleness(_committed(), render_dictionary())
    assert stale is not None
    assert "docs/data-dictionary.md is stale" in stale
    added = [line for line in stale.splitlines() if line.startswith("+") and "renamed" in line]
    assert added, stale
    assert "the zone's code, as renamed" in added[0]


def test_a_described_column_added_to_a_table_makes_the_page_stale_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    md = _copy_of_schema()
    md.tables["dim_zone"].append_column(Column("area_km2", Float(53)))
    walked = relations(md, schema.VIEWS)
    doc = copy.deepcopy(load_descriptions())
    doc["tables"]["dim_zone"]["columns"]["area_km2"] = {"zh": "面积", "en": "area in km²"}
    monkeypatch.setattr(render, "relations", lambda: walked)
    monkeypatch.setattr(render, "load_descriptions", lambda: doc)
    stale = _staleness(_committed(), render_dictionary())
    assert stale is not None
    added = [line for line in stale.splitlines() if line.startswith("+") and "area_km2" in line]
    assert added, stale
    assert "area in km²" in added[0]


def test_every_indicator_of_the_catalog_is_on_the_page() -> None:
    catalog_section = _section(render_dictionary(), "指标目录 Indicator catalog")
    for dataset in ("zone", "enterprise"):
        start = catalog_section.index(f"(`{dataset}`)\n")
        end = catalog_section.find("\n### ", start)
        block = catalog_section[start : end if end != -1 else None]
        missing = [
            i.code for i in shipped_catalog().for_dataset(dataset) if f"| `{i.code}` |" not in block
        ]
        assert not missing, f"indicators of {dataset} missing from the page: {missing}"
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    absent = [code for _, code in shipped_catalog().indicators if f"`{code}`" not in committed]
    assert not absent, f"not on docs/data-dictionary.md: {absent}"


def test_every_zone_and_metric_is_on_the_page() -> None:
    from marts.method import load_method

    page = render_dictionary()
    zones = _section(page, "示范区名录 Zone registry")
    assert all(f"| `{code}` |" in zones for code in shipped_catalog().zones)
    method = _section(page, "综合评价方法 Evaluation method")
    assert all(f"| `{m.code}` |" in method for m in load_method().metrics)


def test_write_dictionary_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "data-dictionary.md"
    target.parent.mkdir()
    target.write_text("old", encoding="utf-8")
    assert write_dictionary(target) == target
    assert target.read_text(encoding="utf-8") == render_dictionary()
    assert [p.name for p in target.parent.iterdir()] == ["data-dictionary.md"]


def test_main_writes_the_path_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "dd.md"
    assert regenerate([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_dictionary()
    assert str(target) in capsys.readouterr().out


def test_main_refuses_to_write_a_page_with_a_hole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    md = _copy_of_schema()
    md.tables["dim_zone"].append_column(Column("area_km2", Float(53)))
    walked = relations(md, schema.VIEWS)
    monkeypatch.setattr(render, "relations", lambda: walked)
    target = tmp_path / "dd.md"
    assert regenerate([str(target)]) == 1
    assert not target.exists()
    assert "dim_zone.area_km2" in capsys.readouterr().err


def _live_types(url: str, tmp_path: Path) -> dict[tuple[str, str], str]:
    """(relation, column) -> the type the live database reports, after a real schema build."""
    from pydantic import SecretStr
    from sqlalchemy import text

    from warehouse.store import Warehouse
    from zonestats.config import WarehouseSettings

    wh = Warehouse(WarehouseSettings(SecretStr(url), tmp_path / "data"))
    wh.ensure_schema(shipped_catalog())
    out: dict[tuple[str, str], str] = {}
    with wh.connect() as conn:
        if url.startswith("sqlite"):
            for rel in relations():
                for row in conn.execute(text(f'PRAGMA table_info("{rel.name}")')):
                    out[(rel.name, row[1])] = row[2] or "—"
        else:
            rows = conn.execute(
                text(
                    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'zonestats' AND a.attnum > 0 AND NOT a.attisdropped"
                )
            )
            out = {(r[0], r[1]): r[2] for r in rows}
    return out


def _documented_types(page: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(relation, column) -> (SQLite type, PostgreSQL type) as the dictionary page states them."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    relation = ""
    header: list[str] = []
    for line in page.splitlines():
        if line.startswith("### "):
            relation, header = line[4:].strip(), []
        elif line.startswith("| ") and relation:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not header:
                header = cells
            elif "SQLite" in header and cells[0].startswith("`"):
                col = cells[0].strip("`")
                out[(relation, col)] = (
                    cells[header.index("SQLite")],
                    cells[header.index("PostgreSQL")],
                )
    return out


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_page_states_each_columns_type_as_both_live_databases_report_it(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}" if db == "sqlite" else request.getfixturevalue("pg_url")
    live = _live_types(url, tmp_path)
    documented = _documented_types(render_dictionary())
    names = {r.name for r in relations()}
    expected = {k for k in live if k[0] in names}
    assert set(documented) == expected
    which = 0 if db == "sqlite" else 1
    wrong = {k: (v[which], live[k]) for k, v in documented.items() if v[which] != live[k]}
    assert not wrong, wrong
