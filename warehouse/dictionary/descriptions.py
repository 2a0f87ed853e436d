"""What the database defines (tables, views, columns, types) and what dictionary.toml says of it:
the described relations the data dictionary shows."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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

DESCRIPTIONS = Path(__file__).resolve().parents[1] / "dictionary.toml"
AUDIENCES = ("statistician", "operator")

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


def text_of(entry: Mapping[str, Any], lang: str) -> str:
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
        if not text_of(entry, lang):
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
        texts = {lang: text_of(own, lang) or text_of(base, lang) for lang in ("zh", "en")}
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
            zh=text_of(entry, "zh"),
            en=text_of(entry, "en"),
            key=key,
            columns=tuple(columns),
        ),
        problems,
    )


def describe(
    rels: Sequence[Relation], doc: Mapping[str, Any]
) -> tuple[list[RelationDoc], list[str]]:
    """The relations with their descriptions, and every way the descriptions miss the schema."""
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
    return docs, problems
