"""The summary block printed after a layer run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from paylake.records import TableResult

TITLES = {
    "bronze": "BRONZE LAYER INGESTION SUMMARY",
    "silver": "SILVER LAYER TRANSFORMATION SUMMARY",
    "gold": "GOLD LAYER SUMMARY",
}


def render_summary(layer: str, results: Sequence[TableResult], run_id: str, as_of: date) -> str:
    """The seed's summary block: totals, then one line per table (and the error of a failed table)."""
    rule = "=" * 100
    counts = {status: sum(r.status == status for r in results) for status in ("SUCCESS", "FAILED", "SKIPPED")}
    lines = [
        rule,
        TITLES.get(layer, f"{layer.upper()} LAYER SUMMARY"),
        rule,
        f"Run: {run_id}   As of: {as_of.isoformat()}",
        f"Total Tables: {len(results)}",
        f"  Success: {counts['SUCCESS']}",
        f"  Failed: {counts['FAILED']}",
        f"  Skipped: {counts['SKIPPED']}",
        "-" * 100,
    ]
    if layer == "bronze":
        lines.append(
            f"{'table':<26}{'status':<9}{'files':>6}{'read':>11}{'loaded':>11}{'rejected':>10}{'flagged':>9}"
            f"{'new_vers':>10}{'closed':>8}{'seconds':>9}"
        )
    else:
        lines.append(
            f"{'table':<26}{'status':<9}{'rows':>11}{'written':>11}{'rejected':>10}{'flagged':>9}{'seconds':>9}"
        )
    for r in results:
        if layer == "bronze":
            lines.append(
                f"{r.table:<26}{r.status:<9}{r.files:>6}{r.rows_read:>11}{r.rows_loaded:>11}{r.rows_rejected:>10}"
                f"{r.rows_flagged:>9}{r.new_versions:>10}{r.closed_versions:>8}{r.seconds:>9.1f}"
            )
        else:
            lines.append(
                f"{r.table:<26}{r.status:<9}{r.rows_read:>11}{r.rows_loaded:>11}{r.rows_rejected:>10}"
                f"{r.rows_flagged:>9}{r.seconds:>9.1f}"
            )
        if r.error:
            lines.append(f"    {r.error}")
        if r.warning:
            lines.append(f"    WARNING: {r.warning}")
        if r.rows_held_back:
            lines.append(f"    {r.rows_held_back} row(s) held back: nothing loaded, they load once the batch passes")
    lines.append(rule)
    return "\n".join(lines)
