"""The Data Docs made to work offline: Great Expectations' HTML pages and stylesheets rewritten
without any external reference (statisticians open them without internet)."""

from __future__ import annotations

import ast
import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


def make_offline(docs_dir: Path, pages: Sequence[Path]) -> None:
    """Rewrite the given Data Docs pages (and GX's stylesheets) to work without internet.

    Only the pages this run wrote: the site keeps every earlier run's pages, already rewritten.
    """
    for page in pages:
        if page.suffix == ".html" and page.is_file():
            text = page.read_text(encoding="utf-8")
            text = _static_links_from(page, Path(docs_dir), offline_html(text))
            page.write_text(text, encoding="utf-8")
    # GX copies its stylesheets again on every build; the pages inline theirs, but a copy may be
    # opened on its own
    for sheet in (docs_dir / "static").rglob("*.css"):
        text = sheet.read_text(encoding="utf-8")
        offline = _EXTERNAL_CSS_URL.sub("none", text)
        if offline != text:
            sheet.write_text(offline, encoding="utf-8")


_STATIC_REF = re.compile(r"""\b(src|href)="((?:\.\./|\./)*)static/""")


def _static_links_from(page: Path, docs_dir: Path, text: str) -> str:
    """Point the page's links to the site's static/ folder at it, from wherever the page is.

    GX counts the levels of a validation page one short (its favicon link ends in
    ``validations/static/``), so the path is worked out from the page's own place.
    """
    up = os.path.relpath(docs_dir.resolve() / "static", page.parent.resolve())
    return _STATIC_REF.sub(lambda m: f'{m[1]}="{Path(up).as_posix()}/', text)


# --- making GX's pages work offline --------------------------------------------------------------
# GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs and its logo
# from S3 (with the context id appended). Statisticians open the docs without internet, so every
# external reference goes, the one JS-drawn table (the index) is written as static HTML, and a
# small stylesheet and a jQuery-free "Failed Only" filter are put inline.

_OFFLINE_MARK = '<style id="zonestats-offline">'
_EXTERNAL = r"""["']https?://[^"']*["']"""
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.I | re.S)
_EXTERNAL_LINK = re.compile(rf"<link\b[^>]*\bhref={_EXTERNAL}[^>]*>\s*", re.I)
_EXTERNAL_IMG = re.compile(rf"<img\b[^>]*\bsrc={_EXTERNAL}[^>]*>", re.I | re.S)
_EXTERNAL_ANCHOR = re.compile(rf"<a\b[^>]*\bhref={_EXTERNAL}[^>]*>(.*?)</a>", re.I | re.S)
_EXTERNAL_CSS_URL = re.compile(r"""url\(\s*["']?https?://[^)]*\)""", re.I)
_ANY_EXTERNAL_ATTR = re.compile(rf"\b(src|href)\s*=\s*{_EXTERNAL}", re.I)
_FOOTER = re.compile(r"<footer\b.*?</footer>\s*", re.I | re.S)
_CLEAR_FILTERS = re.compile(r"<button\b[^>]*clearTableFilters[^>]*>.*?</button>\s*", re.I | re.S)
# bootstrap-table: an empty <table data-toggle="table"> that a later script fills from its rows
_BOOTSTRAP_TABLE = re.compile(
    r"""<table\s+id="(?P<id>[^"]+)"[^>]*?data-toggle="table"\s*>\s*</table>"""
    r"""(?:\s*<script>.*?</script>)*?\s*"""
    r"""<script>\s*\$\('#(?P=id)'\)\.bootstrapTable\((?P<args>.*?)\);.*?</script>""",
    re.S,
)

OFFLINE_STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Microsoft YaHei",
       sans-serif; margin: 0; color: #212529; background: #fff; font-size: 14px; line-height: 1.45; }
a { color: #0b5ed7; }
nav.navbar { display: flex; align-items: center; padding: 0 1.5rem; border-bottom: 1px solid #dee2e6;
             background: #f8f9fa; height: auto !important; min-height: 3rem; }
nav.navbar nav { display: flex; align-items: center; }
.zs-brand { font-weight: 600; font-size: 1.1rem; color: #212529; }
.breadcrumb { list-style: none; display: flex; gap: .4rem; margin: 0 0 0 1rem; padding: 0; }
.breadcrumb-item + .breadcrumb-item::before { content: "/"; padding-right: .4rem; color: #6c757d; }
.container-fluid { padding: 1rem 1.5rem; }
.row { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; }
.row > .col-12 { flex: 1 1 100%; }
.row > .col-6 { flex: 1 1 40%; }
.col-md-2 { flex: 0 0 15rem; max-width: 15rem; }
.col-md-10 { flex: 1 1 30rem; min-width: 0; }
.d-none { display: none; }
.d-md-block { display: block; }
.d-md-inline-flex { display: inline-flex; }
[hidden] { display: none !important; }
h1, h2, h3, h4, h5, h6 { margin: .6rem 0 .4rem; font-weight: 600; }
.lead { color: #495057; }
.alert { padding: .5rem .75rem; border-radius: 4px; margin: .5rem 0; }
.alert-secondary { background: #e9ecef; border: 1px solid #dee2e6; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 1rem; }
.card-header { background: #f1f3f5; padding: .4rem .6rem; border-bottom: 1px solid #dee2e6; }
.card-body { padding: .6rem; }
.collapse:not(.show) { display: none; }
[data-toggle="collapse"] { cursor: pointer; }
.collapse [style*="color:red"] { color: #495057 !important; }
.nav { list-style: none; padding: 0; margin: 0; }
.nav-tabs { display: flex; gap: 1rem; border-bottom: 1px solid #dee2e6; margin: .5rem 0; }
.nav-tabs .nav-link { display: inline-block; padding: .3rem .2rem; text-decoration: none; }
.tab-pane { margin-bottom: 1.5rem; }
.btn { display: inline-block; padding: .2rem .6rem; margin: .1rem; border: 1px solid #0b5ed7;
       border-radius: 4px; background: #fff; color: #0b5ed7; cursor: pointer; }
.btn-group input { margin-right: .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; }
th, td { border: 1px solid #dee2e6; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f1f3f5; font-weight: 600; }
tbody tr:nth-child(even) > td { background: #fafbfc; }
.table-responsive { overflow-x: auto; }
.badge { display: inline-block; padding: 0 .35rem; border-radius: 3px; background: #e9ecef;
         font-family: ui-monospace, monospace; font-size: 90%; }
code, pre { background: #f6f8fa; padding: 0 .25rem; border-radius: 3px; white-space: pre-wrap; }
.text-danger { color: #b02a37; } .text-success { color: #146c43; } .text-info { color: #087990; }
i.fas, i.far, i.fa { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "✔"; }
.fa-times::before, .fa-times-circle::before { content: "✘"; }
.fa-comment::before { content: "✎"; }
.fa-question-circle::before { content: "?"; }
.ge-success-icon::after { content: " passed"; }
.ge-failed-icon::after { content: " failed"; }
@media (prefers-color-scheme: dark) {
  .table { color: #212529 !important; background-color: transparent; }
}
"""

# GX's "Show All" / "Failed Only" buttons and its collapsed blocks; its own code needs jQuery
OFFLINE_SCRIPT = """
function zonestatsShowSucceeded(show) {
  var display = show ? "" : "none";
  document.querySelectorAll(".hide-succeeded-validation-target-child").forEach(function (el) {
    el.parentElement.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validation-target").forEach(function (el) {
    el.style.display = display;
  });
  document.querySelectorAll(".hide-succeeded-validations-column-section-target-child")
    .forEach(function (el) {
      var section = el.parentElement.parentElement;
      section.style.display = display;
      document.querySelectorAll('a[href="#' + section.id + '"]').forEach(function (a) {
        a.style.display = display;
      });
    });
}
function showAllValidations() { zonestatsShowSucceeded(true); }
function hideSucceededValidations() { zonestatsShowSucceeded(false); }
// "Show more info..." and the notes icons open the collapsed block beside them; GX repeats
// one collapse id across a section, so the block is found by nearness, not by its id
document.addEventListener("click", function (event) {
  var toggle = event.target.closest('[data-toggle="collapse"]');
  for (var el = toggle && toggle.parentElement; el; el = el.parentElement) {
    var block = Array.prototype.find.call(el.querySelectorAll(".collapse"), function (c) {
      return !c.contains(toggle);
    });
    if (block) {
      event.preventDefault();
      block.classList.toggle("show");
      return;
    }
  }
});
"""


def offline_html(text: str) -> str:
    """A Data Docs page with no http(s) reference left: static tables, inline style, no CDN."""
    if _OFFLINE_MARK in text:
        return text  # a page of an earlier run, already rewritten
    text = _BOOTSTRAP_TABLE.sub(_static_table, text)
    text = _CLEAR_FILTERS.sub("", text)
    # every script left needs jQuery or a CDN library, none of which is there offline
    text = _SCRIPT.sub("", text)
    text = _EXTERNAL_LINK.sub("", text)
    text = _FOOTER.sub("", text)  # a fixed newsletter footer
    text = _EXTERNAL_IMG.sub('<span class="zs-brand">zonestats · data quality</span>', text)
    text = _EXTERNAL_ANCHOR.sub(r"\1", text)
    text = _EXTERNAL_CSS_URL.sub("none", text)
    # whatever a later GX template adds: the page must not reach out
    text = _ANY_EXTERNAL_ATTR.sub(r'\1="#"', text)
    head = f"{_OFFLINE_MARK}{OFFLINE_STYLE}</style>\n<script>{OFFLINE_SCRIPT}</script>\n</head>"
    return text.replace("</head>", head, 1)


def _static_table(match: re.Match[str]) -> str:
    """The table a bootstrap-table script would have drawn, from the columns and rows it holds."""
    args = match["args"]
    columns = _literal_array(args, "columns")
    rows = _literal_array(args, "data")
    if columns is None or rows is None:
        return match[0]  # not the shape we know: left for the general clean-up
    shown = [c for c in columns if isinstance(c, dict) and c.get("visible", True)]
    head = "".join(
        f"<th>{html.escape(str(c.get('title', c.get('field', ''))))}</th>" for c in shown
    )
    body = []
    for row in rows:
        cells = [_cell(row.get(c.get("field"))) for c in shown]
        link = row.get("_table_row_link_path")
        # the script made the whole row a link; offline the first cell links (unless it does)
        if link and cells and "<a " not in cells[0]:
            cells[0] = f'<a href="{html.escape(str(link))}">{cells[0] or "open"}</a>'
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        f'<table id="{html.escape(match["id"])}" class="table zs-static-table">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _cell(value: Any) -> str:
    """A cell as GX rendered it (already HTML), or escaped text for a plain value."""
    if value is None:
        return ""
    return value if isinstance(value, str) else html.escape(_json(value))


def _literal_array(args: str, key: str) -> list[Any] | None:
    """The array after ``key:`` in a bootstrap-table option object (JSON or a Python repr)."""
    found = re.search(rf"\b{key}:\s*\[", args)
    if found is None:
        return None
    start = found.end() - 1
    end = _closing_bracket(args, start)
    if end is None:
        return None
    literal = args[start : end + 1]
    try:
        parsed = json.loads(literal)
    except ValueError:
        try:
            # Jinja writes the column list as Python's repr: single quotes, True/False
            parsed = ast.literal_eval(literal)
        except (ValueError, SyntaxError):
            return None
    return parsed if isinstance(parsed, list) else None


def _closing_bracket(text: str, start: int) -> int | None:
    """The index of the bracket that closes the one at ``start``, skipping quoted strings."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i
    return None
