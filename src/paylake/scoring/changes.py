"""`paylake changes`: which accounts changed tier between two stored score dates, which are new, and the features
whose points moved, from gold.customer_payment_metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from paylake.contract import SCORE_DATE, TableRef
from paylake.errors import UsageError
from paylake.runtime.context import PaylakeContext
from paylake.scoring.stored import scorecard_of, scores_table


@dataclass(frozen=True)
class Change:
    """One account whose tier differs between the two dates (``before`` is None for a new account)."""

    account_id: str
    account_name: str | None
    before: tuple[int, str] | None  # score, tier
    now: tuple[int, str]
    moved: list[tuple[str, int, int]]  # feature, points before, points now; largest change first


def _moved(before: Mapping[str, int], now: Mapping[str, int]) -> list[tuple[str, int, int]]:
    moved = [(f, before.get(f, 0), points) for f, points in now.items() if before.get(f, 0) != points]
    return sorted(moved, key=lambda m: (-abs(m[2] - m[1]), m[0]))


def tier_changes(
    earlier: Mapping[str, Mapping[str, Any]], later: Mapping[str, Mapping[str, Any]], tiers: list[str]
) -> list[Change]:
    """Accounts of ``later`` whose tier is not their tier in ``earlier`` (or who are not in it): the highest tier
    now first, then the largest score rise. Rows map account ids to their scores rows."""
    found = []
    for account, row in later.items():
        old = earlier.get(account)
        if old is not None and old["risk_tier"] == row["risk_tier"]:
            continue
        found.append(
            Change(
                account,
                row.get("account_name"),
                None if old is None else (old["risk_score"], old["risk_tier"]),
                (row["risk_score"], row["risk_tier"]),
                _moved(dict(old["risk_points"]) if old is not None else {}, dict(row["risk_points"])),
            )
        )
    rank = {tier: i for i, tier in enumerate(tiers)}

    def order(c: Change) -> tuple[int, int, str]:
        rise = c.now[0] - (c.before[0] if c.before else 0)
        return (-rank.get(c.now[1], -1), -rise, c.account_id)

    return sorted(found, key=order)


def changes(context: PaylakeContext, as_of: date | None, since: date | None) -> str:
    """The printable tier changes of the stored scores from ``since`` (default: the score date before ``as_of``)
    to ``as_of`` (default: the latest).

    Raises:
        UsageError: no scores stored, or a date that has none.
    """
    spec = scores_table(context.derived("gold"))
    ref = TableRef("gold", spec.config.table)
    if not context.store.exists(ref):
        raise UsageError(f"{ref} does not exist yet; run the gold layer first")
    table = context.store.read(ref)
    held: list[date] = sorted(r[0] for r in table.select(SCORE_DATE).distinct().collect())
    listed = ", ".join(map(str, held[-5:])) or "none"
    now = as_of or (held[-1] if held else None)
    if now is None or now not in held:
        raise UsageError(f"no scores stored for {now}; the latest score dates held: {listed}")
    earlier_dates = [d for d in held if d < now]
    before = since or (earlier_dates[-1] if earlier_dates else None)
    if before is None or before not in held or before >= now:
        raise UsageError(f"no earlier scores to compare {now} with (--since {before}); score dates held: {listed}")
    columns = ["account_id", "account_name", "risk_score", "risk_tier", "risk_points", SCORE_DATE]
    rows = table.where(F.col(SCORE_DATE).isin(before, now)).select(*columns).collect()
    by_date: dict[date, dict[str, Mapping[str, Any]]] = {before: {}, now: {}}
    for row in rows:
        by_date[row[SCORE_DATE]][row["account_id"]] = row.asDict()
    card = scorecard_of(spec)
    found = tier_changes(by_date[before], by_date[now], [t.name for t in card.tiers])
    gone = sorted(set(by_date[before]) - set(by_date[now]))
    return render(found, gone, before, now)


def render(found: list[Change], gone: list[str], before: date, now: date) -> str:
    new = sum(c.before is None for c in found)
    up = sum(c.before is not None and c.now[0] > c.before[0] for c in found)
    width = 110
    lines = [
        "=" * width,
        f"TIER CHANGES {before} -> {now}: {len(found) - new} changed tier ({up} up, {len(found) - new - up} down), "
        f"{new} new, {len(gone)} no longer scored",
        "=" * width,
        f"{'account':<12}{'name':<28}{'tier':<22}{'score':<12}points moved (largest first)",
    ]
    for c in found:
        tier = f"{c.before[1]} -> {c.now[1]}" if c.before else f"new: {c.now[1]}"
        score = f"{c.before[0]} -> {c.now[0]}" if c.before else str(c.now[0])
        moved = ", ".join(f"{f} {a}->{b}" for f, a, b in c.moved[:3]) or "-"
        lines.append(f"{c.account_id:<12}{(c.account_name or '')[:26]:<28}{tier:<22}{score:<12}{moved}")
    if gone:
        lines.append(f"no longer scored: {', '.join(gone[:20])}{' ...' if len(gone) > 20 else ''}")
    lines.append("=" * width)
    return "\n".join(lines)
