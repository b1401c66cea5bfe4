"""Risk scores outside the daily run: one account on demand, and the daily top list, as printable text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from pyspark.sql import functions as F

from paylake.bronze.file_log import read_file_log
from paylake.config.loader import DerivedMetadata, DerivedTable
from paylake.contract import BUILT_AT, STALE_INPUTS, TableRef
from paylake.errors import UsageError
from paylake.gold.customer_metrics import SCORE_DATE, CustomerMetricsParams
from paylake.gold.scorecard import Scorecard
from paylake.lake.store import TableStore
from paylake.runtime.context import PaylakeContext
from paylake.scoring.evaluate import Evaluator, Restriction, for_account

SCORES_BUILDER = "customer_payment_metrics"
INVOICES = TableRef("bronze", "invoices")


def scores_table(gold: DerivedMetadata) -> DerivedTable:
    """The gold table built by the scoring builder.

    Raises:
        UsageError: no gold YAML uses the builder.
    """
    for spec in gold.tables.values():
        if spec.builder.name == SCORES_BUILDER:
            return spec
    raise UsageError(f"no gold table uses the {SCORES_BUILDER} builder, so there is no scorecard")


def scorecard_of(spec: DerivedTable) -> Scorecard:
    """The scorecard configured in the scores table's YAML."""
    assert isinstance(spec.params, CustomerMetricsParams)  # guaranteed by the builder registry
    return spec.params.scorecard


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


def explain(row: Mapping[str, Any], scorecard: Scorecard, source: str = "recomputed from bronze") -> str:
    """A printable explanation: score, tier, action, and every feature's value and points; ``source`` says where
    the row comes from (``stored`` by the daily run, or recomputed)."""
    points = dict(row["risk_points"])
    built = row.get(BUILT_AT)
    origin = f"as the daily run stored it at {built:%Y-%m-%d %H:%M} UTC" if source == "stored" and built else source
    lines = [
        f"Account {row['account_id']} ({row['account_name']}), score date {row[SCORE_DATE]} ({origin})",
        *([f"Built on stale inputs: {row['stale_inputs']}"] if row.get(STALE_INPUTS) else []),
        f"Risk score {row['risk_score']} / 100   tier {row['risk_tier']}",
        f"Action: {row['recommended_action']}",
        "Reasons:",
        *[f"  - {reason}" for reason in row["risk_reasons"]],
        "",
        f"{'feature':<34}{'value':>16}{'points':>8}{'max':>6}",
    ]
    for feature in scorecard.features:
        value = row[feature.feature]
        lines.append(
            f"{feature.feature:<34}{feature.shown(value):>16}{points[feature.feature]:>8}{feature.max_points:>6}"
        )
    earned = sum(points.values())
    lines.append(f"{'total':<34}{'':>16}{earned:>8}{scorecard.max_points:>6}")
    lines.append(f"score = round(100 x {earned} / {scorecard.max_points}) = {row['risk_score']}")
    return "\n".join(lines)


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
