"""gold.payment_health_dashboard: one denormalised row per score date for BI: the portfolio's receivables,
its risk mix and trend, the data quality of the latest bronze batches, and the accounts to act on first."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel
from paylake.contract import SCORE_DATE
from paylake.frames import map_agg


class DashboardParams(StrictModel):
    """Parameters of :func:`payment_health_dashboard`.

    Attributes:
        high_risk_tiers: tiers whose open balance counts as high-risk exposure.
        top_accounts: how many of the riskiest accounts to list.
    """

    high_risk_tiers: list[str] = Field(default_factory=lambda: ["HIGH", "CRITICAL"], min_length=1)
    top_accounts: int = Field(default=10, ge=1, le=100)


def _as_map(df: DataFrame, key: str, value: Column, name: str) -> DataFrame:
    """One row: ``{key: value}`` over the groups of ``df`` by ``key``, as column ``name``."""
    grouped = df.groupBy(key).agg(value.alias("_v"))
    return grouped.agg(F.coalesce(map_agg(key, "_v"), F.create_map()).alias(name))


def _high_risk_exposure(tiers: list[str]) -> Column:
    """Open USD balance of the accounts in ``tiers``."""
    return F.round(F.sum(F.when(F.col("risk_tier").isin(tiers), F.col("open_balance_usd")).otherwise(0.0)), 2)


@register("gold", DashboardParams)
def payment_health_dashboard(metrics: DataFrame, runs: DataFrame, *, params: DashboardParams, as_of: date) -> DataFrame:
    """One row for ``score_date`` = ``as_of`` from that day's customer_payment_metrics.

    ``high_risk_exposure_change_usd`` compares with the latest earlier score date (null when there is none).
    ``bronze_dq_pass_rate`` is rows loaded over rows read of the latest bronze batch of each table up to
    ``as_of``; ``top_accounts`` lists the riskiest accounts (score, then open balance, then id).

    Args:
        metrics: gold.customer_payment_metrics (every score date).
        runs: ops.pipeline_runs.
    """
    today = metrics.where(F.col(SCORE_DATE) == F.lit(as_of))
    high = params.high_risk_tiers
    previous_date = metrics.where(F.col(SCORE_DATE) < F.lit(as_of)).agg(F.max(SCORE_DATE).alias("_previous"))
    previous = (
        metrics.join(previous_date, F.col(SCORE_DATE) == F.col("_previous"))
        .agg(_high_risk_exposure(high).alias("_previous_exposure"), F.count(F.lit(1)).alias("_n"))
        .select(F.when(F.col("_n") > 0, F.col("_previous_exposure")).alias("_previous_exposure"))
    )
    kpis = today.agg(
        F.count(F.lit(1)).cast("int").alias("accounts_scored"),
        F.round(F.coalesce(F.sum("open_balance_usd"), F.lit(0.0)), 2).alias("total_ar_usd"),
        F.round(F.coalesce(F.sum("overdue_balance_usd"), F.lit(0.0)), 2).alias("overdue_ar_usd"),
        F.round(F.avg("risk_score"), 2).alias("avg_risk_score"),
        F.sum(F.when(F.col("risk_tier").isin(high), 1).otherwise(0)).cast("int").alias("high_risk_accounts"),
        _high_risk_exposure(high).alias("high_risk_exposure_usd"),
    )
    aging = _as_map(
        today.select(F.explode("ar_by_aging_bucket_usd").alias("bucket", "usd")),
        "bucket",
        F.round(F.sum("usd"), 2),
        "ar_by_aging_bucket_usd",
    )
    accounts_by_tier = _as_map(today, "risk_tier", F.count(F.lit(1)).cast("int"), "accounts_by_tier")
    exposure_by_tier = _as_map(today, "risk_tier", F.round(F.sum("open_balance_usd"), 2), "exposure_by_tier_usd")
    ranked = F.struct(
        (-F.col("risk_score")).alias("_rank"),
        (-F.coalesce(F.col("open_balance_usd"), F.lit(0.0))).alias("_balance_rank"),
        F.col("account_id"),  # no name: a field inside a struct cannot carry a Unity Catalog mask
        F.col("risk_score"),
        F.col("risk_tier"),
        F.col("recommended_action"),
        F.col("open_balance_usd"),
        F.col("overdue_balance_usd"),
        F.col("risk_reasons"),
    )
    top = today.agg(
        F.transform(
            F.slice(F.array_sort(F.collect_list(ranked)), 1, params.top_accounts),
            lambda r: r.dropFields("_rank", "_balance_rank"),
        ).alias("top_accounts")
    )
    latest_bronze = (
        runs.where((F.col("layer") == "bronze") & (F.col("as_of") <= F.lit(as_of)) & (F.col("rows_read") > 0))
        .groupBy("table")
        .agg(F.max_by(F.struct("rows_read", "rows_rejected"), F.struct("as_of", "started_at")).alias("_batch"))
        .withColumn("_passed", F.col("_batch.rows_read") - F.col("_batch.rows_rejected"))  # held back or loaded
    )
    quality = latest_bronze.agg(
        F.round(F.sum("_passed") / F.sum("_batch.rows_read"), 4).alias("bronze_dq_pass_rate"),
        F.coalesce(
            map_agg("table", F.round(F.col("_passed") / F.col("_batch.rows_read"), 4)),
            F.create_map(),
        ).alias("bronze_dq_pass_rate_by_table"),
    )
    row = kpis.crossJoin(previous).crossJoin(aging).crossJoin(accounts_by_tier).crossJoin(exposure_by_tier)
    row = row.crossJoin(top).crossJoin(quality)
    return row.select(
        F.lit(as_of).alias(SCORE_DATE),
        "accounts_scored",
        "total_ar_usd",
        "overdue_ar_usd",
        F.when(F.col("total_ar_usd") > 0, F.round(F.col("overdue_ar_usd") / F.col("total_ar_usd"), 4)).alias(
            "overdue_share"
        ),
        "ar_by_aging_bucket_usd",
        "avg_risk_score",
        "accounts_by_tier",
        "exposure_by_tier_usd",
        "high_risk_accounts",
        "high_risk_exposure_usd",
        F.round(F.col("high_risk_exposure_usd") - F.col("_previous_exposure"), 2).alias(
            "high_risk_exposure_change_usd"
        ),
        "bronze_dq_pass_rate",
        "bronze_dq_pass_rate_by_table",
        "top_accounts",
    )
