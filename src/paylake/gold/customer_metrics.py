"""gold.customer_payment_metrics: per account and score date, its accounts-receivable position, its payment
behaviour and its risk score, tier, action and reasons (see :mod:`paylake.gold.scorecard`)."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel
from paylake.contract import DERIVED_TAIL, SCORE_DATE
from paylake.frames import map_agg
from paylake.gold.scorecard import Scorecard, score

PROFILE_COLUMNS = (
    "account_name",
    "segment",
    "region",
    "country_code",
    "industry",
    "account_status",
    "is_deleted",
    "credit_limit",
    "payment_terms_days",
    "tenure_days",
    "last_credit_limit_change_pct",
    "credit_limit_cut_recently",
    "payment_terms_shortened_recently",
    "on_hold_recently",
    "days_since_status_change",
)


class CustomerMetricsParams(StrictModel):
    """Parameters of :func:`customer_payment_metrics`.

    Attributes:
        dso_window_days: DSO-style days relate the open balance to the sales of this many days.
        scorecard: the risk scorecard (features, bins, tiers, actions).
    """

    dso_window_days: int = Field(default=90, ge=1)
    scorecard: Scorecard


def feature_columns(df: DataFrame) -> list[str]:
    """The business columns of a table: without the bookkeeping paylake adds (``as_of``, ``stale_inputs``,
    ``_...``)."""
    return [c for c in df.columns if c not in DERIVED_TAIL and not c.startswith("_")]


@register("gold", CustomerMetricsParams)
def customer_payment_metrics(
    profiles: DataFrame, history: DataFrame, invoices: DataFrame, *, params: CustomerMetricsParams, as_of: date
) -> DataFrame:
    """One row per account known on ``as_of``, with ``score_date`` = ``as_of``.

    Adds to the account's profile and payment history: ``ar_by_aging_bucket_usd`` (open USD per aging bucket),
    ``overdue_share`` (overdue over open balance), ``invoiced_usd_<n>d`` and ``dso_days`` (open balance over
    the sales of the last n days, times n), then the scorecard's columns.

    Args:
        profiles: silver.account_profiles as of ``as_of``.
        history: silver.account_payment_history as of ``as_of``.
        invoices: silver.invoice_details as of ``as_of``.
    """
    window = params.dso_window_days
    recent = F.col("invoice_date") > F.lit(as_of - timedelta(days=window))
    aging = (
        invoices.where(F.col("is_open"))
        .groupBy("account_id", "aging_bucket")
        .agg(F.round(F.sum("outstanding_amount_usd"), 2).alias("usd"))
        .groupBy("account_id")
        .agg(map_agg("aging_bucket", "usd").alias("ar_by_aging_bucket_usd"))
    )
    sales = invoices.groupBy("account_id").agg(
        F.round(F.sum(F.when(recent, F.col("invoice_amount_usd")).otherwise(0.0)), 2).alias(f"invoiced_usd_{window}d")
    )
    history_columns = [c for c in feature_columns(history) if c not in ("account_id", "credit_limit")]
    invoiced = F.coalesce(F.col(f"invoiced_usd_{window}d"), F.lit(0.0))
    features = (
        profiles.select("account_id", *PROFILE_COLUMNS)
        .join(history.select("account_id", *history_columns), "account_id", "left")
        .join(aging, "account_id", "left")
        .join(sales, "account_id", "left")
        .select(
            F.lit(as_of).alias(SCORE_DATE),
            "account_id",
            *PROFILE_COLUMNS,
            *history_columns,
            F.coalesce("ar_by_aging_bucket_usd", F.create_map().cast("map<string,double>")).alias(
                "ar_by_aging_bucket_usd"
            ),
            F.when(F.col("open_balance_usd") > 0, F.round(F.col("overdue_balance_usd") / F.col("open_balance_usd"), 4))
            .otherwise(F.lit(0.0))
            .alias("overdue_share"),
            invoiced.alias(f"invoiced_usd_{window}d"),
            F.when(invoiced > 0, F.round(F.col("open_balance_usd") / invoiced * window, 1)).alias("dso_days"),
        )
    )
    return score(features, params.scorecard)
