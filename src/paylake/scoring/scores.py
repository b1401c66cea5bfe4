"""Risk scores outside the daily run: one account on demand, and the daily top list, as printable text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pyspark.sql import functions as F

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


def top_accounts(context: PaylakeContext, as_of: date, limit: int = 10) -> str:
    """The ``limit`` riskiest accounts of the stored scores for ``as_of``: score, tier, action and reasons."""
    spec = scores_table(context.derived("gold"))
    ref = TableRef("gold", spec.config.table)
    if not context.store.exists(ref):
        return f"{ref} does not exist yet; run the gold layer first"
    rows: Sequence[Any] = (
        context.store.read(ref, filters=[(SCORE_DATE, "=", as_of)])
        .orderBy(F.desc("risk_score"), F.desc_nulls_last("open_balance_usd"), "account_id")
        .limit(limit)
        .collect()
    )
    width = 100
    lines = ["=" * width, f"TOP {limit} RISKIEST ACCOUNTS (score date {as_of})", "=" * width]
    lines.append(f"{'#':>2}  {'account':<12}{'name':<30}{'score':>6}  {'tier':<9}{'open USD':>12}  action")
    for rank, r in enumerate(rows, 1):
        balance = f"{r['open_balance_usd']:,.0f}" if r["open_balance_usd"] is not None else "-"
        name = (r["account_name"] or "")[:28]
        lines.append(
            f"{rank:>2}  {r['account_id']:<12}{name:<30}{r['risk_score']:>6}  {r['risk_tier']:<9}{balance:>12}  "
            f"{r['recommended_action']}"
        )
        lines += [f"{'':>16}- {reason}" for reason in r["risk_reasons"]]
    if not rows:
        lines.append(f"no scores for {as_of}")
    lines.append("=" * width)
    return "\n".join(lines)
