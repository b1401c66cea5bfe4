"""How steady the score is when nothing happens to an account: between two consecutive score dates, an account
with no event of its own (no invoice issued, falling due or paid, no change to its record) should keep its tier.
Its score may still move (days past due grow, windows slide), and the backtest measures how much."""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.contract import EFFECTIVE_FROM

# date -> account -> (score, tier)
Scored = Mapping[date, Mapping[str, tuple[float, str]]]


@dataclass(frozen=True)
class Stability:
    """Accounts scored on two consecutive dates with no event of their own in between ("quiet"), how many of
    them changed tier, and the median absolute change of their score."""

    step_days: int
    quiet: int
    tier_changes: int
    median_abs_change: float | None

    @property
    def tier_change_share(self) -> float | None:
        return self.tier_changes / self.quiet if self.quiet else None


def busy_accounts(invoices: DataFrame, accounts: DataFrame, dates: Sequence[date]) -> dict[date, set[str]]:
    """Per score date after the first: the accounts with an event of their own since the score date before it.

    Args:
        invoices: silver.invoice_details as of the lake's latest date (issue, due and payment dates).
        accounts: bronze.accounts with its SCD2 history (a new version is an event on its effective date).
    """
    first, last = dates[0], dates[-1]
    events = (
        invoices.select("account_id", F.explode(F.array("invoice_date", "due_date", "paid_date")).alias("day"))
        .unionByName(accounts.select("account_id", F.to_date(EFFECTIVE_FROM).alias("day")))
        .where((F.col("day") > F.lit(first)) & (F.col("day") <= F.lit(last)))
        .distinct()
    )
    busy: dict[date, set[str]] = {day: set() for day in dates[1:]}
    for row in events.collect():
        busy[dates[bisect_left(dates, row["day"])]].add(row["account_id"])  # the first score date on or after it
    return busy


def stability(scored: Scored, busy: Mapping[date, set[str]], step_days: int) -> Stability:
    """The :class:`Stability` of the scores on consecutive dates of ``scored``."""
    dates = sorted(scored)
    changes: list[float] = []
    tier_changes = 0
    for before, after in zip(dates, dates[1:], strict=False):
        for account, (score, tier) in scored[after].items():
            if account in busy.get(after, set()) or account not in scored[before]:
                continue
            earlier_score, earlier_tier = scored[before][account]
            changes.append(abs(score - earlier_score))
            tier_changes += tier != earlier_tier
    median = statistics.median(changes) if changes else None
    return Stability(step_days, len(changes), tier_changes, median)
