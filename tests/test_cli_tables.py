"""status and quarantine list: a boxed table on a terminal, the plain table in a pipe."""

from __future__ import annotations

import io

from cli.common import table
from cli.tables import print_table

ROWS = [
    {"zone_code": "TY01", "period": "2026-10", "status": "loaded", "records_loaded": 1200},
    {"zone_code": "DT01", "period": "2026-10", "status": "failed", "records_loaded": 0},
]
COLUMNS = ["zone_code", "period", "status", "records_loaded"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_pipe_the_table_is_the_plain_one_scripts_read() -> None:
    out = io.StringIO()
    print_table(ROWS, COLUMNS, "no ledger rows match", file=out)
    assert out.getvalue() == table(ROWS, COLUMNS) + "\n"
    assert "\x1b[" not in out.getvalue()


def test_on_a_terminal_the_table_is_boxed_with_every_value() -> None:
    out = _Terminal()
    print_table(ROWS, COLUMNS, "no ledger rows match", file=out)
    text = out.getvalue()
    assert "┃" in text or "│" in text  # rich's box, not the plain rule of dashes
    for row in ROWS:
        line = next(ln for ln in text.splitlines() if str(row["zone_code"]) in ln)
        for value in row.values():
            assert str(value) in line


def test_a_value_with_markup_is_printed_as_it_is() -> None:
    """A zone's error text may hold [brackets]: rich must not read them as its markup."""
    out = _Terminal()
    print_table([{"last_error": "[bold]HTTP 500[/bold] from [zone]"}], ["last_error"], "", file=out)
    assert "[bold]HTTP 500[/bold] from [zone]" in out.getvalue()


def test_no_rows_prints_the_message_either_way() -> None:
    for out in (io.StringIO(), _Terminal()):
        print_table([], COLUMNS, "no ledger rows match", file=out)
        assert out.getvalue() == "no ledger rows match\n"
