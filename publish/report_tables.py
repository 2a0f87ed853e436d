"""The report's HTML tables (ranking, punctuality, zone codes) and the cells they are made of."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from publish.report_charts import GRADE_COLOURS, NO_GRADE
from publish.wording import PILLARS, flag_zh, is_missing, missing_metrics_zh


def esc(value: Any) -> str:
    """A value as HTML text (None as nothing), quotes escaped for attributes too."""
    return html.escape("" if value is None else str(value), quote=True)


def score(value: Any) -> str:
    """A score or percentage to one decimal; a dash when missing."""
    return "—" if is_missing(value) else f"{float(value):.1f}"


def th(zh: str, en: str) -> str:
    """A bilingual header cell."""
    return f'<th>{esc(zh)}<span class="en">{esc(en)}</span></th>'


def _flag_html(value: Any) -> str:
    flag = flag_zh(value)
    return '<span class="flag">是</span>' if flag == "是" else (flag or "—")


def _zone_cell(code: str, names: dict[str, dict[str, Any]]) -> str:
    """A zone's Chinese name with its code in English type."""
    return (
        f"<td>{esc(names.get(code, {}).get('name_zh', code))}"
        f' <span class="en">{esc(code)}</span></td>'
    )


def data_table(head: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """A data table: bilingual (zh, en) header cells, then a row per sequence of ready cells."""
    cells = "".join(th(zh, en) for zh, en in head)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f'<table class="data"><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>'


def ranking_table(ev: pd.DataFrame, names: dict[str, dict[str, Any]]) -> str:
    """The evaluation in rank order: grade, composite and pillar scores, the flags."""
    head = [
        ("排名", "Rank"),
        ("示范区", "Zone"),
        ("等级", "Grade"),
        ("综合得分", "Composite"),
        *((zh, en) for _, zh, en in PILLARS),
        ("观察名单", "Watchlist"),
        ("转型候选", "Transition candidate"),
        ("缺失指标", "Missing metrics"),
    ]
    rows = []
    for r in ev.to_dict("records"):
        grade = "" if is_missing(r.get("grade")) else str(r["grade"])
        badge = (
            f'<span class="grade" style="background:{GRADE_COLOURS.get(grade, NO_GRADE)}">'
            f"{esc(grade)}</span>"
            if grade
            else "—"
        )
        watch, trans = (_flag_html(r.get(col)) for col in ("watchlist", "transition_candidate"))
        pillars = "".join(f'<td class="num">{score(r.get(col))}</td>' for col, _, _ in PILLARS)
        rows.append(
            [
                f'<td class="c">{"—" if is_missing(r["_rank"]) else int(r["_rank"])}</td>',
                _zone_cell(str(r["zone_code"]), names),
                f'<td class="c">{badge}</td>',
                f'<td class="num">{score(r.get("composite"))}</td>',
                pillars,
                f'<td class="c">{watch}</td><td class="c">{trans}</td>',
                f"<td>{esc(missing_metrics_zh(r.get('missing_metrics'))) or '—'}</td>",
            ]
        )
    return data_table(head, rows)


def punctuality_table(punct: pd.DataFrame, names: dict[str, dict[str, Any]]) -> str:
    """Per zone the year's releases due, on time, late, missing, overdue; rate and mean delay."""
    head = [
        ("示范区", "Zone"),
        ("应报", "Due"),
        ("按时", "On time"),
        ("迟报", "Late"),
        ("缺报", "Missing"),
        ("逾期未报", "Overdue"),
        ("按时率", "On time, %"),
        ("平均逾期天数", "Mean days late"),
    ]
    rows = [
        [
            _zone_cell(str(r["zone_code"]), names),
            *(
                f'<td class="num">{int(r[c])}</td>'
                for c in ("due", "on_time", "late", "missing", "overdue")
            ),
            f'<td class="num">{score(r["on_time_pct"])}</td>',
            f'<td class="num">{score(r["mean_days_late"])}</td>',
        ]
        for r in punct.to_dict("records")
    ]
    return data_table(head, rows)


def zone_table(codes: list[str], names: dict[str, dict[str, Any]]) -> str:
    """The zones' codes with their Chinese and English names and their city."""
    head = [
        ("代码", "Code"),
        ("示范区", "Zone"),
        ("英文名称", "English name"),
        ("所在城市", "City"),
    ]
    rows = [
        [
            f"<td>{esc(c)}</td>",
            *(
                f"<td>{esc(names.get(c, {}).get(k, ''))}</td>"
                for k in ("name_zh", "name_en", "city_zh")
            ),
        ]
        for c in codes
    ]
    return data_table(head, rows)
