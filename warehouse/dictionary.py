"""The data dictionary: docs/data-dictionary.md from the table definitions and dictionary.toml.

The page walks whatever ``warehouse.schema`` defines (every table of ``metadata``, every view of
``VIEWS``), so a column added there without a description in dictionary.toml is a problem that
``dictionary_problems`` names and ``render_dictionary`` refuses to hide. Then come the indicator
catalog, the zone registry, the evaluation method and the audit rules, read from the files the
pipeline itself uses. The output has no timestamps: the same inputs render the same bytes.

``python -m warehouse.dictionary [PATH]`` regenerates the page.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from sqlalchemy.dialects import sqlite

from warehouse import schema
from warehouse.paths import MARTS, PARQUET_TABLES

DESCRIPTIONS = Path(__file__).with_name("dictionary.toml")
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
AUDIENCES = ("statistician", "operator")
REGENERATE = "python -m warehouse.dictionary"

_TOP_KEYS = {"page", "vocab", "method", "calendar", "asof", "tables", "views"}
_TABLE_KEYS = {"audience", "zh", "en", "columns"}
_VIEW_KEYS = _TABLE_KEYS | {"source", "key"}
_TABLE_COLUMN_KEYS = {"zh", "en"}
# an expression column of a view has no declared type in SQLite, so the toml supplies it
_VIEW_COLUMN_KEYS = {"zh", "en", "type", "nullable"}


class DictionaryError(ValueError):
    """dictionary.toml does not describe the schema exactly; the message lists every problem."""


@dataclass(frozen=True)
class ColumnDef:
    """One column as the database defines it."""

    name: str
    type: str | None  # None: SQLite cannot tell (an expression column of a view)
    nullable: bool | None  # None: unknown (a view column)
    primary_key: bool = False
    unique: bool = False  # alone in a unique constraint
    sqlite_type: str | None = None  # as SQLite declares it ("" for a view's expression column)
    pg_type: str | None = None  # as PostgreSQL's format_type() names it; None: from the label


@dataclass(frozen=True)
class Relation:
    """A table or a view with its columns in order."""

    name: str
    kind: str  # "table" | "view"
    columns: tuple[ColumnDef, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class ColumnDoc:
    """A column with everything the page shows about it."""

    name: str
    type: str
    flags: str  # key and nullability, e.g. "PK · 非空"
    zh: str
    en: str
    sqlite: str = "—"  # the declared type on SQLite; "—" when a view's expression declares none
    postgres: str = "—"  # the type on PostgreSQL


@dataclass(frozen=True)
class RelationDoc:
    """A table or view with its description and described columns."""

    relation: Relation
    audience: str
    zh: str
    en: str
    key: tuple[str, ...]  # the primary key of a table, the logical key of a view
    columns: tuple[ColumnDoc, ...]


# --- what the database defines ---------------------------------------------------------------


_SQLITE = sqlite.dialect()


def _type_label(sql_type: object) -> str | None:
    # the variant wrapper of an id column keeps its base type in .impl (as in warehouse.arrow)
    base = getattr(sql_type, "impl", sql_type)
    if isinstance(base, Boolean):
        return "boolean"
    if isinstance(base, BigInteger):
        return "bigint"
    if isinstance(base, Integer):
        return "integer"
    if isinstance(base, Float):
        return "double precision"
    if isinstance(base, DateTime):
        return "timestamptz" if base.timezone else "timestamp"
    if isinstance(base, Text):
        return "text"
    if isinstance(base, String):
        return f"varchar({base.length})" if base.length else "text"
    return None


_PG_NAMES = {
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
}


def _pg_type(label: str) -> str:
    """A type label of this page as PostgreSQL's format_type() spells it."""
    if label.startswith("varchar("):
        return "character varying" + label[len("varchar") :]
    return _PG_NAMES.get(label, label)


def _table_relation(table: Any) -> Relation:
    pk = tuple(c.name for c in table.primary_key.columns)
    unique = tuple(
        tuple(c.name for c in con.columns)
        for con in table.constraints
        if isinstance(con, UniqueConstraint)
    )
    alone = {u[0] for u in unique if len(u) == 1}
    columns = tuple(
        ColumnDef(
            name=c.name,
            type=_type_label(c.type) or str(c.type).lower(),
            nullable=bool(c.nullable),
            primary_key=c.name in pk,
            unique=c.name in alone,
            # what SQLite stores is what the DDL declared: the type affinity pandas sees
            sqlite_type=str(c.type.compile(dialect=_SQLITE)),
        )
        for c in table.columns
    )
    return Relation(table.name, "table", columns, pk, unique)


def relations(
    metadata: MetaData | None = None, views: Mapping[str, str] | None = None
) -> list[Relation]:
    """Every table of the metadata in definition order, then every view as SQLite creates it."""
    metadata = schema.metadata if metadata is None else metadata
    views = schema.VIEWS if views is None else views
    found = [_table_relation(t) for t in metadata.tables.values()]
    # a view's columns exist only once it is created: build the schema in memory and ask
    engine = create_engine("sqlite://")
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            for statement in views.values():
                conn.execute(text(statement))
        inspector = inspect(engine)
        for name in views:
            with engine.connect() as conn:
                declared = {r[1]: r[2] for r in conn.execute(text(f'PRAGMA table_info("{name}")'))}
            columns = tuple(
                ColumnDef(
                    name=c["name"],
                    type=_type_label(c["type"]),
                    nullable=None,
                    sqlite_type=declared.get(c["name"], ""),
                )
                for c in inspector.get_columns(name)
            )
            found.append(Relation(name, "view", columns))
    finally:
        engine.dispose()
    return found


# --- what dictionary.toml says ---------------------------------------------------------------


def load_descriptions(path: Path = DESCRIPTIONS) -> dict[str, Any]:
    """The parsed dictionary.toml."""
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _unknown_keys(value: Any, allowed: set[str], where: str) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{where}: expected a table in warehouse/dictionary.toml"]
    return [
        f"{where}.{k}: unknown key in warehouse/dictionary.toml"
        for k in sorted(set(value) - allowed)
    ]


def _text_of(entry: Mapping[str, Any], lang: str) -> str:
    value = entry.get(lang)
    return value.strip() if isinstance(value, str) else ""


def _flags(key: bool, unique: bool, nullable: bool | None, key_label: str) -> str:
    parts = [key_label] if key else ["UQ"] if unique else []
    if nullable is not None:
        parts.append("可空" if nullable else "非空")
    return " · ".join(parts)


def _document_relation(
    rel: Relation, entry: Mapping[str, Any], by_name: Mapping[str, Relation], doc: Mapping[str, Any]
) -> tuple[RelationDoc, list[str]]:
    problems: list[str] = []
    section = "tables" if rel.kind == "table" else "views"
    where = f"[{section}.{rel.name}]"
    problems += _unknown_keys(entry, _TABLE_KEYS if rel.kind == "table" else _VIEW_KEYS, where)
    if not isinstance(entry, Mapping):
        entry = {}
    audience = entry.get("audience", "")
    if audience not in AUDIENCES:
        problems.append(f"{where}.audience: {audience!r} is not one of {', '.join(AUDIENCES)}")
    for lang, label in (("zh", "Chinese"), ("en", "English")):
        if not _text_of(entry, lang):
            problems.append(f"{rel.kind} {rel.name}: no {label} description ({lang}) in {where}")

    described = entry.get("columns", {})
    if not isinstance(described, Mapping):
        problems.append(f"{where}.columns: expected a table")
        described = {}
    names = {c.name for c in rel.columns}
    problems += [
        f"{where}.columns.{name}: {rel.name} has no column {name}; remove or rename the description"
        for name in described
        if name not in names
    ]

    # a view inherits type, nullability and description from its source table's same-name columns
    source: Relation | None = None
    inherited: Mapping[str, Any] = {}
    if rel.kind == "view" and "source" in entry:
        source = by_name.get(entry["source"])
        if source is None or source.kind != "table":
            problems.append(f"{where}.source: {entry['source']!r} is not a table")
            source = None
        else:
            inherited = doc.get("tables", {}).get(source.name, {}).get("columns", {})
    source_columns = {c.name: c for c in source.columns} if source else {}
    key = tuple(entry.get("key", ())) if rel.kind == "view" else rel.primary_key
    problems += [f"{where}.key: {rel.name} has no column {k}" for k in key if k not in names]

    columns: list[ColumnDoc] = []
    for col in rel.columns:
        own = described.get(col.name, {})
        allowed = _TABLE_COLUMN_KEYS if rel.kind == "table" else _VIEW_COLUMN_KEYS
        problems += _unknown_keys(own, allowed, f"{where}.columns.{col.name}")
        if not isinstance(own, Mapping):
            own = {}
        base = inherited.get(col.name, {}) if col.name in source_columns else {}
        texts = {lang: _text_of(own, lang) or _text_of(base, lang) for lang in ("zh", "en")}
        for lang, label in (("zh", "Chinese"), ("en", "English")):
            if not texts[lang]:
                problems.append(
                    f"{rel.kind} {rel.name}.{col.name}: no {label} description ({lang}) in "
                    f"{where}.columns"
                )
        src = source_columns.get(col.name)
        col_type = own.get("type") or (src.type if src else None) or col.type
        if not col_type:
            problems.append(
                f"view {rel.name}.{col.name}: its type is unknown (an expression); "
                f"give it `type` in {where}.columns"
            )
        nullable = own.get("nullable", src.nullable if src else col.nullable)
        if nullable is None:
            nullable = True  # a view promises no NOT NULL of its own
        columns.append(
            ColumnDoc(
                name=col.name,
                type=str(col_type or "?"),
                flags=_flags(
                    col.name in key,
                    col.unique,
                    nullable,
                    "PK" if rel.kind == "table" else "键",
                ),
                zh=texts["zh"],
                en=texts["en"],
                sqlite=col.sqlite_type or "—",
                postgres=_pg_type(str(col_type or "?")),
            )
        )
    return (
        RelationDoc(
            relation=rel,
            audience=str(audience),
            zh=_text_of(entry, "zh"),
            en=_text_of(entry, "en"),
            key=key,
            columns=tuple(columns),
        ),
        problems,
    )


def _prose_problems(doc: Mapping[str, Any]) -> list[str]:
    page, method, cal = doc.get("page", {}), doc.get("method", {}), doc.get("calendar", {})
    asof = doc.get("asof", {})
    problems = [
        f"[page].{key}: missing in warehouse/dictionary.toml"
        for key in ("intro_zh", "intro_en")
        if not _text_of(page, key)
    ]
    for where, items in (
        ("[[page.conventions]]", page.get("conventions")),
        ("[method].scoring", method.get("scoring")),
        ("[calendar].owed", cal.get("owed")),
        ("[calendar].states", cal.get("states")),
        ("[asof].rules", asof.get("rules")),
    ):
        if not isinstance(items, list) or not items:
            problems.append(f"{where}: missing in warehouse/dictionary.toml")
            continue
        problems += [
            f"{where} #{n}: no {lang} text in warehouse/dictionary.toml"
            for n, item in enumerate(items, start=1)
            for lang in ("zh", "en")
            if not isinstance(item, Mapping) or not _text_of(item, lang)
        ]
    examples = asof.get("examples")
    if not isinstance(examples, list) or not examples:
        problems.append("[[asof.examples]]: missing in warehouse/dictionary.toml")
    else:
        problems += [
            f"[[asof.examples]] #{n}: no {key} in warehouse/dictionary.toml"
            for n, item in enumerate(examples, start=1)
            for key in ("title", "lang", "code")
            if not isinstance(item, Mapping) or not _text_of(item, key)
        ]
    return problems


def _vocab_problems(doc: Mapping[str, Any]) -> list[str]:
    # the value lists the code declares: a value added there without a label would render blank
    from marts.method import BETTER, PILLARS
    from validation.registry import LEVELS, SEVERITIES
    from zonestats.catalog import BASES, DATASETS, FREQUENCIES

    both = ("zh", "en")
    wanted: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
        "audience": (AUDIENCES, both),
        "dataset": (DATASETS, both),
        "frequency": (FREQUENCIES, both),
        "basis": (BASES, both),
        "severity": (SEVERITIES, both),
        "level": (LEVELS, both),
        "better": (BETTER, both),
        "pillar": (PILLARS, ("en",)),  # the Chinese name is method.toml's
    }
    vocab = doc.get("vocab", {})
    problems = [f"[vocab.{k}]: unknown vocabulary" for k in sorted(set(vocab) - set(wanted))]
    for name, (values, langs) in wanted.items():
        problems += [
            f"[vocab.{name}] {value}: no {lang} label in warehouse/dictionary.toml"
            for value in values
            for lang in langs
            if not _text_of(vocab.get(name, {}).get(value, {}), lang)
        ]
    return problems


def _document(
    rels: Sequence[Relation], doc: Mapping[str, Any]
) -> tuple[list[RelationDoc], list[str]]:
    problems = [
        f"[{k}]: unknown section in warehouse/dictionary.toml" for k in sorted(set(doc) - _TOP_KEYS)
    ]
    by_name = {r.name: r for r in rels}
    docs: list[RelationDoc] = []
    for rel in rels:
        section = "tables" if rel.kind == "table" else "views"
        entry = doc.get(section, {}).get(rel.name)
        if entry is None:
            problems.append(
                f"{rel.kind} {rel.name}: not described in warehouse/dictionary.toml "
                f"(add [{section}.{rel.name}] with a description of each column)"
            )
            continue
        rel_doc, found = _document_relation(rel, entry, by_name, doc)
        docs.append(rel_doc)
        problems += found
    for section, kind in (("tables", "table"), ("views", "view")):
        problems += [
            f"[{section}.{name}] in warehouse/dictionary.toml: there is no {kind} {name}"
            for name in doc.get(section, {})
            if by_name.get(name) is None or by_name[name].kind != kind
        ]
    return docs, problems + _prose_problems(doc) + _vocab_problems(doc)


def dictionary_problems(
    rels: Sequence[Relation] | None = None, doc: Mapping[str, Any] | None = None
) -> list[str]:
    """Every way dictionary.toml fails to describe the schema exactly, one line each."""
    rels = relations() if rels is None else rels
    doc = load_descriptions() if doc is None else doc
    return _document(rels, doc)[1]


# --- rendering -------------------------------------------------------------------------------


def _cell(value: str) -> str:
    # a pipe ends a Markdown table cell even inside backticks; a newline ends the row
    return value.replace("|", "\\|").replace("\n", " ")


def _plain(value: str) -> str:
    # text from data files, not written as Markdown: keep `<…>` from reading as an HTML tag
    return _cell(value.replace("<", "&lt;"))


def _row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    return [_row(header), _row("---" for _ in header), *(_row(r) for r in rows)]


def _anchor(heading: str) -> str:
    # GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens (CJK kept)
    kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _factor(factor: Fraction) -> str:
    # exact decimals: 元 -> 万元 is 0.0001, not the float 0.00010000000000000002
    for digits in range(19):
        scaled = factor * 10**digits
        if scaled.denominator == 1:
            return format(Decimal(scaled.numerator).scaleb(-digits), "f")
    return f"{factor.numerator}/{factor.denominator}"


def _label(doc: Mapping[str, Any], vocab: str, value: str, lang: str = "zh") -> str:
    return str(doc["vocab"][vocab][value][lang])


def _both(doc: Mapping[str, Any], vocab: str, value: str) -> str:
    return f"{_label(doc, vocab, value, 'zh')} {_label(doc, vocab, value, 'en')}"


def _parquet(name: str) -> str | None:
    if name in PARQUET_TABLES:
        return f"`parquet/{name}/year=YYYY/zone_code=XX00/*.parquet`"
    if name in MARTS:
        return f"`parquet/marts/{name}/year=YYYY/{name}.parquet`"
    return None


_H_TABLES = "表与视图 Tables and views"
_H_CATALOG = "指标目录 Indicator catalog"
_H_ZONES = "示范区名录 Zone registry"
_H_METHOD = "综合评价方法 Evaluation method"
_H_RULES = "审核规则 Audit rules"
_H_CALENDAR = "报送日程 Reporting calendar"
_H_ASOF = "按日回看 As of a day"


def _render_relation(rd: RelationDoc, doc: Mapping[str, Any]) -> list[str]:
    rel = rd.relation
    kind = "表 Table" if rel.kind == "table" else "视图 View"
    lines = [
        f"### {rel.name}",
        "",
        f"{kind} · {_both(doc, 'audience', rd.audience)}",
        "",
        rd.zh,
        "",
        rd.en,
        "",
    ]
    facts: list[str] = []
    if rd.key:
        label = "主键 Primary key" if rel.kind == "table" else "逻辑键 Logical key (one row per)"
        facts.append(f"- {label}: " + ", ".join(f"`{k}`" for k in rd.key))
    for unique in rel.unique:
        facts.append("- 唯一约束 Unique: " + ", ".join(f"`{k}`" for k in unique))
    parquet = _parquet(rel.name)
    if parquet:
        facts.append(f"- Parquet: {parquet}")
    if facts:
        lines += [*facts, ""]
    lines += _table(
        ("列 Column", "SQLite", "PostgreSQL", "中文", "English", "键/空值 Key/null"),
        (
            (f"`{c.name}`", c.sqlite, c.postgres, _cell(c.zh), _cell(c.en), c.flags)
            for c in rd.columns
        ),
    )
    return [*lines, ""]


def _render_relations(docs: Sequence[RelationDoc], doc: Mapping[str, Any]) -> list[str]:
    lines = [f"## {_H_TABLES}", ""]
    for audience in AUDIENCES:
        group = [d for d in docs if d.audience == audience]
        lines += [f"**{_both(doc, 'audience', audience)}**", ""]
        lines += [
            f"- [{d.relation.name}](#{_anchor(d.relation.name)})"
            f" — {'表' if d.relation.kind == 'table' else '视图'}"
            for d in group
        ]
        lines.append("")
    for audience in AUDIENCES:
        for rd in (d for d in docs if d.audience == audience):
            lines += _render_relation(rd, doc)
    return lines


def _render_catalog(doc: Mapping[str, Any]) -> list[str]:
    from zonestats.catalog import BASES, DATASETS, FREQUENCIES
    from zonestats.runtime import shipped_catalog

    catalog = shipped_catalog()
    lines = [
        f"## {_H_CATALOG}",
        "",
        "来自 `zonestats/data/indicators.csv`。计量单位为标准计量单位，下限、上限按标准计量单位；"
        "其他可接受单位按“报送值 × 换算系数 = 标准单位数值”换算。",
        "",
        "From `zonestats/data/indicators.csv`. Units are canonical and so are the bounds; a value "
        "in another accepted unit is converted as reported value × factor = canonical value.",
        "",
        "- 频率 Frequency: "
        + " · ".join(f"`{f}` {_both(doc, 'frequency', f)}" for f in FREQUENCIES),
        "- 口径 Basis: " + " · ".join(f"`{b}` {_both(doc, 'basis', b)}" for b in BASES),
        "",
    ]
    header = (
        "代码 Code",
        "中文名",
        "English",
        "计量单位 Unit",
        "频率 Freq.",
        "口径 Basis",
        "下限 Min",
        "上限 Max",
        "必报 Mandatory",
        "整数 Integer",
        "其他可接受单位=换算系数 Other units=factor",
    )
    for dataset in DATASETS:
        inds = catalog.for_dataset(dataset)
        lines += [f"### {_both(doc, 'dataset', dataset)} (`{dataset}`)", ""]
        lines += _table(
            header,
            (
                (
                    f"`{i.code}`",
                    _plain(i.name_zh),
                    _plain(i.name_en),
                    _plain(i.unit),
                    f"`{i.frequency}`",
                    f"`{i.basis}`",
                    _num(i.min),
                    _num(i.max),
                    "是 yes" if i.mandatory else "否 no",
                    "是 yes" if i.integer else "否 no",
                    "；".join(
                        f"{_plain(u)}={_factor(f)}"
                        for u, f in i.unit_factors.items()
                        if u != i.unit
                    )
                    or "—",
                )
                for i in inds
            ),
        )
        lines.append("")
    return lines


def _render_zones() -> list[str]:
    from zonestats.runtime import shipped_catalog

    zones = shipped_catalog().zones.values()
    lines = [
        f"## {_H_ZONES}",
        "",
        "来自 `zonestats/data/zones.csv`。 From `zonestats/data/zones.csv`.",
        "",
    ]
    lines += _table(
        (
            "代码 Code",
            "中文名",
            "English",
            "所在市 City",
            "行政区划代码 Admin code",
            "接入方式 Adapter",
        ),
        (
            (
                f"`{z.zone_code}`",
                _plain(z.name_zh),
                _plain(z.name_en),
                _plain(z.city_zh),
                z.city_admin_code,
                f"`{z.adapter}`",
            )
            for z in zones
        ),
    )
    return [*lines, ""]


def _formula(metric: Any) -> str:
    if metric.kind == "ratio":
        times = "" if metric.multiplier == 1 else f" × {_num(metric.multiplier)}"
        return f"`{metric.numerator}` ÷ `{metric.denominator}`{times}"
    if metric.kind == "growth":
        return f"`{metric.indicator}`(Y) ÷ `{metric.indicator}`(Y−1) × 100 − 100"
    return f"`{metric.indicator}`（公布数 as reported）"


def _render_method(doc: Mapping[str, Any]) -> list[str]:
    from marts.method import load_method

    method = load_method()
    pillar_zh = {p.code: p.name_zh for p in method.pillars}
    lines = [
        f"## {_H_METHOD}",
        "",
        f"方法版本 Method version: `{method.version}`（`marts/method.toml`，写入每行集市数据的 "
        "`method_version` — written into every mart row's `method_version`）。"
        "依据 Basis: 晋政办发〔2024〕59号第二十条（综合评价）、第十条（转型）、第七条（研发补助）。",
        "",
        "### 支柱 Pillars",
        "",
    ]
    lines += _table(
        ("代码 Code", "中文", "English", "权重合计 Weight", "得分列 Score column"),
        (
            (
                f"`{p.code}`",
                _plain(p.name_zh),
                _label(doc, "pillar", p.code, "en"),
                _num(sum(m.weight for m in method.metrics_of(p.code))),
                f"`score_{p.code}`",
            )
            for p in method.pillars
        ),
    )
    lines += ["", "### 评价指标 Metrics", ""]
    lines += _table(
        (
            "代码 Code",
            "中文名",
            "支柱 Pillar",
            "单位 Unit",
            "计算方法 Formula",
            "方向 Direction",
            "权重 Weight",
        ),
        (
            (
                f"`{m.code}`",
                _plain(m.name_zh),
                _plain(pillar_zh[m.pillar]),
                _plain(m.unit),
                _formula(m),
                _both(doc, "better", m.better),
                _num(m.weight),
            )
            for m in method.metrics
        ),
    )
    g, t, rd = method.grading, method.transition, method.rd_subsidy
    bands = " · ".join(f"{b.grade} ≥ {_num(b.min)}" for b in g.bands)
    lines += ["", "### 评分与分级 Scoring and grading", ""]
    lines += [f"- {item['zh']}<br>{item['en']}" for item in doc["method"]["scoring"]]
    lines += [
        f"- 等级 Grades: {bands} · 其余 otherwise {g.otherwise}",
        f"- 关注名单 Watchlist (`watchlist`): 本年度与上年度均评为 {g.otherwise} — "
        f"graded {g.otherwise} in year Y and in Y−1（上年度无评级则不列入 — "
        "not without a grade in Y−1）",
        f"- 转型候选 Transition candidate (`transition_candidate`): `{t.numerator}` ÷ "
        f"`{t.denominator}` × 100 < {_num(t.below_pct)}",
        "",
        "### 研发费用省级补助 R&D subsidy (`mart_rd_subsidy`)",
        "",
        f"- 指标 Indicator: `{rd.indicator}`（企业月报 enterprise dataset）；"
        f"E = `Y-12` 累计值 cumulative，E₀ = `(Y−1)-12` 累计值（未报送记 0 — 0 when absent）",
        "- 存量 stock = min(E, E₀)；增量 increment = max(E − E₀, 0)",
        f"- E ≥ {_num(rd.threshold)} 万元: `provincial_cap` = {_num(rd.stock_rate_pct)}% × stock "
        f"+ {_num(rd.increment_rate_pct)}% × increment（省级补助上限 the province pays up to it）",
        f"- E < {_num(rd.threshold)} 万元: `provincial_cap` = 0, `city_reference` = true"
        "（市县可参照同样比例 cities and counties may apply the same rates）",
        "",
    ]
    return lines


def _render_calendar(doc: Mapping[str, Any]) -> list[str]:
    from zonestats.runtime import shipped_catalog

    cal = shipped_catalog().calendar
    offset = cal.tz.utcoffset(None)
    hours = int(offset.total_seconds() // 3600)
    overdue = str(cal.overdue_after_days)
    period = {"M": "`YYYY-MM`", "Q": "`YYYY-Qn`", "A": "`YYYY`"}
    lines = [
        f"## {_H_CALENDAR}",
        "",
        "截止时间为北京时间（`zonestats/data/calendar.toml`，UTC"
        f"{hours:+d}），两个数据集相同；示范区只对其发布的数据集负责（配置中的 `datasets`）。"
        f"<br>Deadlines in Beijing time (UTC{hours:+d}, `zonestats/data/calendar.toml`), the same "
        "for both datasets; a zone owes only the datasets it publishes (`datasets` in its config).",
        "",
    ]
    lines += _table(
        ("频率 Frequency", "报告期 Period", "截止 Due"),
        (
            (
                _both(doc, "frequency", d.frequency),
                period[d.frequency],
                f"报告期最后一个月之后第 {d.months_after} 个月的 {d.day} 日 {d.at:%H:%M} — "
                f"day {d.day} of the {_ordinal(d.months_after)} month after the period's last "
                f"month, {d.at:%H:%M}",
            )
            for d in cal.due.values()
        ),
    )
    lines += ["", "### 应报与到达 What is owed, when it arrived", ""]
    lines += [f"- {item['zh']}<br>{item['en']}" for item in doc["calendar"]["owed"]]
    lines += ["", "### 状态 States (`release_calendar.state`)", ""]
    lines += [
        f"- {item['zh'].replace('{overdue}', overdue)}<br>{item['en'].replace('{overdue}', overdue)}"
        for item in doc["calendar"]["states"]
    ]
    return [*lines, ""]


def _render_asof(doc: Mapping[str, Any]) -> list[str]:
    asof = doc["asof"]
    lines = [
        f"## {_H_ASOF}",
        "",
        "仓库在某一时点所存的数据：`zonestats asof`、`zonestats export --as-of`，以及下列视图和查询。"
        "<br>What the warehouse held at a moment: `zonestats asof`, `zonestats export --as-of`, "
        "and the views and queries below.",
        "",
    ]
    lines += [f"- {item['zh']}<br>{item['en']}" for item in asof["rules"]]
    for example in asof["examples"]:
        lines += ["", f"{example['title']}:", "", f"```{example['lang']}", example["code"].strip()]
        lines.append("```")
    return [*lines, ""]


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _render_rules(doc: Mapping[str, Any]) -> list[str]:
    from zonestats.runtime import shipped_rules

    lines = [
        f"## {_H_RULES}",
        "",
        "来自 `validation/rules.toml`，`quarantine.rule` 即规则编号；严重程度为默认值，配置项 "
        "`validation.severity` 可以调整。可认可：示范区对数据作出说明后，操作员可认可被剔除的记录，"
        "记录按原样入库。",
        "",
        "From `validation/rules.toml`; `quarantine.rule` is the rule id. Severities are the "
        "defaults, which `validation.severity` in the config may override. Acceptable: an operator "
        "may accept a record the rule held out once the zone explained it; it is then loaded as "
        "received.",
        "",
    ]
    lines += _table(
        (
            "规则 Rule",
            "严重程度 Severity",
            "层级 Level",
            "数据集 Datasets",
            "可认可 Acceptable",
            "说明",
            "Message",
        ),
        (
            (
                f"`{r.id}`",
                f"`{r.severity}` {_both(doc, 'severity', r.severity)}",
                _both(doc, "level", r.level),
                ", ".join(f"`{d}`" for d in r.datasets),
                "是 yes" if r.acceptable else "否 no",
                _plain(r.message_zh),
                _plain(r.message_en),
            )
            for r in shipped_rules().rules.values()
        ),
    )
    return [*lines, ""]


def _render(docs: Sequence[RelationDoc], doc: Mapping[str, Any]) -> str:
    page = doc["page"]
    lines = [
        "# 数据字典 Data dictionary",
        "",
        f"<!-- generated by `{REGENERATE}`; do not edit -->",
        "",
        page["intro_zh"],
        "",
        page["intro_en"],
        "",
        *(
            f"- [{h}](#{_anchor(h)})"
            for h in (
                _H_TABLES,
                _H_CATALOG,
                _H_ZONES,
                _H_METHOD,
                _H_CALENDAR,
                _H_ASOF,
                _H_RULES,
            )
        ),
        "",
        "## 约定 Conventions",
        "",
        *(f"- {c['zh']}<br>{c['en']}" for c in page["conventions"]),
        "",
        *_render_relations(docs, doc),
        *_render_catalog(doc),
        *_render_zones(),
        *_render_method(doc),
        *_render_calendar(doc),
        *_render_asof(doc),
        *_render_rules(doc),
    ]
    return "\n".join(lines).rstrip("\n") + "\n"


def render_dictionary() -> str:
    """The data dictionary page as Markdown; DictionaryError when a column lacks a description."""
    doc = load_descriptions()
    docs, problems = _document(relations(), doc)
    if problems:
        raise DictionaryError(
            "warehouse/dictionary.toml does not describe the schema:\n- " + "\n- ".join(problems)
        )
    return _render(docs, doc)


def write_dictionary(path: Path = DEFAULT_PATH) -> Path:
    """Render the page and put it at path (temp file, then rename); return the path."""
    content = render_dictionary().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate docs/data-dictionary.md (or PATH); 1 when dictionary.toml lags the schema."""
    parser = argparse.ArgumentParser(
        prog="python -m warehouse.dictionary", description=main.__doc__
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="output file")
    args = parser.parse_args(argv)
    try:
        written = write_dictionary(args.path)
    except DictionaryError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
