"""Risk scores outside the daily run: one account on demand, and the daily top list, as printable text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from paylake.bronze.file_log import read_file_log
from paylake.contract import SCORE_DATE, TableRef
from paylake.errors import UsageError
from paylake.lake.store import TableStore
from paylake.runtime.context import PaylakeContext
from paylake.scoring.evaluate import Evaluator, Restriction, for_account
from paylake.scoring.stored import scores_table

INVOICES = TableRef("bronze", "invoices")


def latest_data_date(store: TableStore) -> date:
    """The extract date of the newest invoice feed loaded into bronze: what "now" is for the lake's data.

    Raises:
        UsageError: no invoice feed has been loaded yet.
    """
    latest = read_file_log(store, INVOICES.name).latest_applied
    if latest is None:
        raise UsageError(f"no feed of {INVOICES} has been loaded yet; run the bronze layer first")
    return latest


def evaluator(context: PaylakeContext, restriction: Restriction | None = None) -> Evaluator:
    """An in-memory evaluator of the silver and gold layers of ``context``."""
    metadata = {layer: context.derived(layer) for layer in ("silver", "gold")}
    return Evaluator(context.store, metadata, restriction)


def score_account(context: PaylakeContext, account_id: str, as_of: date) -> dict[str, Any]:
    """One account's scores row as of ``as_of``, computed from bronze on demand (as the daily run would).

    Raises:
        UsageError: the account is not known on ``as_of``.
    """
    spec = scores_table(context.derived("gold"))
    scores = evaluator(context, for_account(account_id)).table(f"gold.{spec.config.table}", as_of)
    rows = scores.collect()
    if not rows:
        raise UsageError(f"account {account_id!r} is not known on {as_of}")
    return rows[0].asDict(recursive=True)


WORKLIST = TableRef("gold", "collections_worklist")
_CHANGE = {"UP": "up", "DOWN": "down", "NEW": "new", "SAME": ""}


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def top_accounts(context: PaylakeContext, as_of: date, limit: int = 10) -> str:
    """The first ``limit`` accounts of the stored collections worklist for ``as_of``, ranked by expected overdue
    exposure: tier and its change, score and its change, probability, overdue balance, oldest days past due,
    action, reasons, and the features whose points moved."""
    if not context.store.exists(WORKLIST):
        return f"{WORKLIST} does not exist yet; run the gold layer first"
    rows: Sequence[Any] = (
        context.store.read(WORKLIST, filters=[(SCORE_DATE, "=", as_of)]).orderBy("rank").limit(limit).collect()
    )
    since = rows[0]["previous_score_date"] if rows else None
    width = 120
    lines = [
        "=" * width,
        f"COLLECTIONS WORKLIST: TOP {limit} BY EXPECTED OVERDUE EXPOSURE (score date {as_of}; changes since "
        f"{since or 'no earlier score date'})",
        "=" * width,
        f"{'#':>2}  {'account':<12}{'name':<26}{'tier':<16}{'score':>9}{'p_late':>8}{'overdue USD':>13}"
        f"{'oldest':>8}{'expected USD':>14}",
    ]
    probability = next((c for c in rows[0].asDict() if c.startswith("p_late_")), None) if rows else None
    for r in rows:
        change = _CHANGE[r["tier_change"]]
        tier = f"{r['risk_tier']} ({change})" if change else r["risk_tier"]
        delta = f" {r['score_change']:+d}" if r["score_change"] else ""
        p_late = f"{r[probability]:.0%}" if probability and r[probability] is not None else "-"
        oldest = f"{r['oldest_overdue_days']} d" if r["oldest_overdue_days"] is not None else "-"
        lines.append(
            f"{r['rank']:>2}  {r['account_id']:<12}{(r['account_name'] or '')[:24]:<26}{tier:<16}"
            f"{str(r['risk_score']) + delta:>9}{p_late:>8}{_money(r['overdue_balance_usd']):>13}{oldest:>8}"
            f"{_money(r['expected_overdue_usd']):>14}"
        )
        lines.append(f"{'':>16}{r['recommended_action']}")
        lines += [f"{'':>16}- {reason}" for reason in r["risk_reasons"]]
        moved = [
            f"{m['feature']} {'new' if m['points_before'] is None else m['points_before']} -> {m['points_now']}"
            for m in r["points_moved"][:3]
        ]
        if moved:
            lines.append(f"{'':>16}points moved: {', '.join(moved)}")
    if not rows:
        lines.append(f"no worklist for {as_of}")
    lines.append("=" * width)
    return "\n".join(lines)
