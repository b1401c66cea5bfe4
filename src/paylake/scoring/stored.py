"""One account's stored score: its row of the daily run's scores table in a local lake, read with delta-rs.

No Spark is started, so ``paylake score ACC`` answers in about a second: the row holds the score, tier, action,
reasons, every feature's value and its points, exactly as the daily run wrote them (``--recompute`` computes
them again from bronze instead).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from deltalake import DeltaTable

from paylake.errors import UsageError

SCORE_DATE = "score_date"


def _score_dates(table: DeltaTable) -> list[date]:
    if SCORE_DATE in table.metadata().partition_columns:
        return sorted({date.fromisoformat(str(p[SCORE_DATE])) for p in table.partitions()})
    days = table.to_pyarrow_dataset().to_table(columns=[SCORE_DATE]).column(SCORE_DATE)
    return sorted(set(pc.unique(days).to_pylist()))


def stored_score(lake_root: str | Path, table: str, account_id: str, as_of: date | None = None) -> dict[str, Any]:
    """The stored row of ``account_id`` in ``gold.<table>`` for ``as_of`` (default: the latest score date).

    Raises:
        UsageError: the table does not exist, has no row for the date, or the account has none on it.
    """
    folder = Path(lake_root) / "gold" / table
    if not (folder / "_delta_log").is_dir():
        raise UsageError(f"gold.{table} does not exist in {lake_root} yet; run the gold layer first")
    scores = DeltaTable(str(folder))
    dates = _score_dates(scores)
    day = as_of or (dates[-1] if dates else None)
    if day is None or day not in dates:
        known = f"score dates {dates[0]} to {dates[-1]}" if dates else "no score date"
        raise UsageError(f"gold.{table} has no scores for {day}; it holds {known} (--recompute computes any date)")
    rows = (
        scores.to_pyarrow_dataset()
        .to_table(filter=(pc.field(SCORE_DATE) == day) & (pc.field("account_id") == account_id))
        .to_pylist()
    )
    if not rows:
        raise UsageError(f"account {account_id!r} is not known on {day}")
    row: dict[str, Any] = rows[0]
    return row
