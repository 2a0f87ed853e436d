"""The data dictionary page: docs/data-dictionary.md rendered from the described relations, the
catalog, the zone registry, the evaluation method, the reporting calendar and the audit rules."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from marts.method import load_method
from validation.registry import load_rules
from warehouse.dictionary.check import dictionary_problems
from warehouse.dictionary.descriptions import (
    AUDIENCES,
    DictionaryError,
    RelationDoc,
    describe,
    load_descriptions,
    relations,
)
from warehouse.paths import MARTS, PARQUET_TABLES
from zonestats.catalog import BASES, DATASETS, FREQUENCIES, shipped_catalog

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"
REGENERATE = "python -m warehouse.dictionary"


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
            for r in load_rules().rules.values()
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
    rels = relations()
    problems = dictionary_problems(rels, doc)
    if problems:
        raise DictionaryError(
            "warehouse/dictionary.toml does not describe the schema:\n- " + "\n- ".join(problems)
        )
    docs, _ = describe(rels, doc)
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
