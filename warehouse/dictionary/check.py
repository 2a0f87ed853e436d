"""The data dictionary's staleness check: every way dictionary.toml fails to describe the schema
and the vocabularies the code declares (its prose, the labels of statuses, rules, pillars)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from marts.method import BETTER, PILLARS
from validation.registry import LEVELS, SEVERITIES
from warehouse.dictionary.descriptions import (
    AUDIENCES,
    Relation,
    describe,
    load_descriptions,
    relations,
    text_of,
)
from zonestats.catalog import BASES, DATASETS, FREQUENCIES


def _prose_problems(doc: Mapping[str, Any]) -> list[str]:
    page, method, cal = doc.get("page", {}), doc.get("method", {}), doc.get("calendar", {})
    asof = doc.get("asof", {})
    problems = [
        f"[page].{key}: missing in warehouse/dictionary.toml"
        for key in ("intro_zh", "intro_en")
        if not text_of(page, key)
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
            if not isinstance(item, Mapping) or not text_of(item, lang)
        ]
    examples = asof.get("examples")
    if not isinstance(examples, list) or not examples:
        problems.append("[[asof.examples]]: missing in warehouse/dictionary.toml")
    else:
        problems += [
            f"[[asof.examples]] #{n}: no {key} in warehouse/dictionary.toml"
            for n, item in enumerate(examples, start=1)
            for key in ("title", "lang", "code")
            if not isinstance(item, Mapping) or not text_of(item, key)
        ]
    return problems


def _vocab_problems(doc: Mapping[str, Any]) -> list[str]:
    # the value lists the code declares: a value added there without a label would render blank
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
            if not text_of(vocab.get(name, {}).get(value, {}), lang)
        ]
    return problems


def dictionary_problems(
    rels: Sequence[Relation] | None = None, doc: Mapping[str, Any] | None = None
) -> list[str]:
    """Every way dictionary.toml fails to describe the schema exactly, one line each."""
    rels = relations() if rels is None else rels
    doc = load_descriptions() if doc is None else doc
    return describe(rels, doc)[1] + _prose_problems(doc) + _vocab_problems(doc)
