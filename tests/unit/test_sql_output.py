"""`paylake sql` output: CSV cells a spreadsheet would run as formulas are defused, and a table shows control
characters escaped instead of sending them to the terminal."""

from __future__ import annotations

import csv
import io

from paylake.analytics.lake_sql import QueryResult, render

RESULT = QueryResult(
    ["name", "amount", "note"],
    [
        ['=HYPERLINK("http://x")', -5, "\x1b[31mred\r\x07"],
        ["+1", 1.5, "-2+3"],
        ["@SUM(A1)", None, "line\nbreak"],
        ["plain", 0, "\tindent"],
    ],
)


def test_csv_prefixes_formula_like_text_and_keeps_numbers_and_data() -> None:
    rows = list(csv.reader(io.StringIO(render(RESULT, "csv"))))
    assert rows[0] == ["name", "amount", "note"]
    assert [row[0] for row in rows[1:]] == ['\'=HYPERLINK("http://x")', "'+1", "'@SUM(A1)", "plain"]
    assert [row[1] for row in rows[1:]] == ["-5", "1.5", "", "0"]  # numbers are not formulas
    assert rows[1][2] == "\x1b[31mred\r\x07" and rows[2][2] == "'-2+3" and rows[4][2] == "'\tindent"


def test_a_table_escapes_control_characters() -> None:
    table = render(RESULT)
    assert "\x1b" not in table and "\x07" not in table and "\r" not in table
    assert "\\x1b[31mred\\r\\x07" in table and "line\\nbreak" in table
    assert table.splitlines()[-1] == "(4 rows)"
