"""gold.payment_trends_monthly: how each invoice month has been paid, overall, by segment and by region."""

from __future__ import annotations

from datetime import date

from pydantic import Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel

ALL = "ALL"


class TrendsParams(StrictModel):
    """Parameters of :func:`payment_trends_monthly`.

    Attributes:
        very_late_days: invoices paid more than this many days late count as very late.
    """

    very_late_days: int = Field(default=90, ge=1)


def _share(condition: Column, among: Column) -> Column:
    counted = F.sum(F.when(among, 1).otherwise(0))
    return F.when(counted > 0, F.round(F.sum(F.when(among & condition, 1).otherwise(0)) / counted, 4))


@register("gold", TrendsParams)
def payment_trends_monthly(invoices: DataFrame, profiles: DataFrame, *, params: TrendsParams, as_of: date) -> DataFrame:
    """One row per invoice month and grouping (``all``, ``segment``, ``region``; the others read ``ALL``).

    ``collected_usd`` is what has been paid of the month's invoices; ``on_time_rate``, ``avg_days_late`` and
    ``collection_effectiveness`` are over the invoices already due on ``as_of`` (collected over due amount,
    the cohort form of the collection effectiveness index); ``very_late_paid_share`` is over paid invoices.
    A month not yet over on ``as_of`` has ``is_partial`` true.

    Args:
        invoices: silver.invoice_details as of ``as_of`` (segment as on the invoice date).
        profiles: silver.account_profiles as of ``as_of`` (region).
    """
    due = F.col("due_date") <= F.lit(as_of)
    collected = F.col("invoice_amount_usd") - F.coalesce(F.col("outstanding_amount_usd"), F.lit(0.0))
    base = invoices.join(profiles.select("account_id", "region"), "account_id", "left").select(
        "*",
        F.coalesce(F.col("segment"), F.lit("UNKNOWN")).alias("_segment"),
        F.coalesce(F.col("region"), F.lit("UNKNOWN")).alias("_region"),
    )
    measures = [
        F.count(F.lit(1)).cast("int").alias("invoice_count"),
        F.round(F.sum("invoice_amount_usd"), 2).alias("invoiced_usd"),
        F.round(F.sum(collected), 2).alias("collected_usd"),
        F.sum(F.when(due, 1).otherwise(0)).cast("int").alias("due_invoice_count"),
        _share(~F.col("is_late"), due).alias("on_time_rate"),
        F.round(F.avg(F.when(F.col("is_paid"), F.col("days_to_pay"))), 2).alias("avg_days_to_pay"),
        F.round(F.avg(F.when(due, F.col("days_late"))), 2).alias("avg_days_late"),
        _share(F.col("days_late") > params.very_late_days, F.col("is_paid")).alias("very_late_paid_share"),
        _share(F.col("is_disputed"), F.lit(True)).alias("disputed_share"),
        F.when(
            F.sum(F.when(due, F.col("invoice_amount_usd"))) > 0,
            F.round(F.sum(F.when(due, collected)) / F.sum(F.when(due, F.col("invoice_amount_usd"))), 4),
        ).alias("collection_effectiveness"),
    ]
    groupings = {
        "all": (F.lit(ALL), F.lit(ALL)),
        "segment": (F.col("_segment"), F.lit(ALL)),
        "region": (F.lit(ALL), F.col("_region")),
    }
    parts = [
        base.groupBy("invoice_month", segment.alias("segment"), region.alias("region"))
        .agg(*measures)
        .withColumn("grouping", F.lit(name))
        for name, (segment, region) in groupings.items()
    ]
    trends = parts[0].unionByName(parts[1]).unionByName(parts[2])
    return trends.select(
        "grouping",
        "segment",
        "region",
        "invoice_month",
        (F.last_day("invoice_month") > F.lit(as_of)).alias("is_partial"),
        *[m for m in trends.columns if m not in ("grouping", "segment", "region", "invoice_month")],
    )
