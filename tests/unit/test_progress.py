"""Progress lines: plain when not on a terminal, a ticking line replaced by the result on one."""

from __future__ import annotations

import io
import re
import time
from datetime import date

from paylake.records import TableResult
from paylake.reporting.progress import Progress
from paylake.reporting.summary import render_summary


def test_plain_lines_when_not_interactive() -> None:
    stream = io.StringIO()
    progress = Progress(stream)  # a StringIO is no TTY
    progress.started("silver", "invoice_details", 3, 4)
    result = TableResult(
        table="invoice_details", status="SUCCESS", rows_read=6028, rows_loaded=6020, rows_rejected=8, seconds=4.0
    )
    progress.finished("silver", result, 3, 4)
    assert stream.getvalue().splitlines() == [
        "[silver 3/4] invoice_details: running",
        "[silver 3/4] invoice_details: SUCCESS 6,028 rows read, 6,020 loaded, 8 rejected in 4.0 s (1,507 rows/s)",
    ]


def test_a_terminal_line_ticks_then_shows_the_result() -> None:
    stream = io.StringIO()
    progress = Progress(stream, interactive=True)
    progress.started("gold", "customer_payment_metrics", 1, 3)
    time.sleep(1.2)
    progress.finished("gold", TableResult(table="customer_payment_metrics", status="FAILED", seconds=1.2), 1, 3)
    text = stream.getvalue()
    assert re.search(r"\r\[gold 1/3\] customer_payment_metrics: running \d s", text)
    assert text.endswith(
        "\r[gold 1/3] customer_payment_metrics: FAILED 0 rows read, 0 loaded, 0 rejected in 1.2 s\x1b[K\n"
    )


def test_a_failed_batch_shows_its_held_back_rows_in_the_progress_line_and_the_summary() -> None:
    failed = TableResult(
        table="invoices",
        status="FAILED",
        files=1,
        rows_read=4,
        rows_rejected=3,
        rows_held_back=1,
        seconds=2.0,
        error="Data quality check failed: 25% pass rate (threshold 90%) in invoices_20260311.csv",
    )
    stream = io.StringIO()
    Progress(stream).finished("bronze", failed, 3, 4)
    assert stream.getvalue() == (
        "[bronze 3/4] invoices: FAILED 4 rows read, 0 loaded, 3 rejected, 1 held back in 2.0 s (2 rows/s)\n"
    )
    block = render_summary("bronze", [failed], "r1", date(2026, 3, 11)).splitlines()
    row = block.index(next(line for line in block if line.startswith("invoices")))
    assert block[row].split()[:6] == ["invoices", "FAILED", "1", "4", "0", "3"]
    assert block[row + 1 : row + 3] == [
        f"    {failed.error}",
        "    1 row(s) held back: nothing loaded, they load once the batch passes",
    ]
