"""silver.account_profiles: one row per account as of the business date, with change features mined from its
SCD2 history (the changes that tend to precede late payments: credit-limit cuts, shorter terms, holds)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel
from paylake.contract import EFFECTIVE_FROM, EFFECTIVE_TO, RECORD_VERSION
from paylake.silver.point_in_time import (
    column_changes,
    end_of_day,
    known_versions,
    last_changes,
    percent_change,
    versions_as_of,
)

ACCOUNT_COLUMNS = (
    "account_id",
    "account_name",
    "industry",
    "segment",
    "country_code",
    "region",
    "credit_limit",
    "payment_terms_days",
    "account_status",
    "paperless_billing",
    "created_date",
)


class AccountProfilesParams(StrictModel):
    """Parameters of :func:`account_profiles`.

    Attributes:
        recent_change_days: changes within this many days before ``as_of`` count as recent.
        hold_statuses: account statuses that mean credit is on hold.
    """

    recent_change_days: int = Field(default=90, ge=1)
    hold_statuses: list[str] = Field(default_factory=lambda: ["ON_HOLD"], min_length=1)


def _decreased_since(changes: DataFrame, key: list[str], since: datetime, name: str) -> DataFrame:
    """Keys with a change to a lower value at or after ``since``, marked by a true column ``name``."""
    decreases = changes.where((F.col("value") < F.col("previous")) & (F.col("changed_at") >= F.lit(since)))
    return decreases.select(*key).distinct().withColumn(name, F.lit(True))


@register("silver", AccountProfilesParams)
def account_profiles(accounts: DataFrame, *, params: AccountProfilesParams, as_of: date) -> DataFrame:
    """One row per account known by the end of ``as_of``: its attributes then, and features of its history.

    Deleted accounts (dropped from the snapshot) stay with ``is_deleted`` true: their open invoices are still
    receivables. Change dates are the source's change dates (``effective_from``), not load dates. Features of
    a column that never changed are 0 (counts), false (flags) or null (dates, previous values).

    Args:
        accounts: bronze.accounts SCD2 history.
    """
    key = ["account_id"]
    known = known_versions(accounts, as_of)
    latest = versions_as_of(accounts, key, as_of)
    day = F.lit(as_of)
    recent_start = end_of_day(as_of - timedelta(days=params.recent_change_days))
    holds = known.where(F.col("account_status").isin(params.hold_statuses))
    on_hold_recently = (
        holds.where(F.col(EFFECTIVE_TO).isNull() | (F.col(EFFECTIVE_TO) > F.lit(recent_start)))
        .select(*key)
        .distinct()
        .withColumn("on_hold_recently", F.lit(True))
    )
    first_seen = known.groupBy(*key).agg(F.min(EFFECTIVE_FROM).alias("first_seen_at"))
    limit_changes = column_changes(known, key, "credit_limit")
    terms_changes = column_changes(known, key, "payment_terms_days")
    limits = last_changes(limit_changes, key, "credit_limit")
    terms = last_changes(terms_changes, key, "payment_terms")
    statuses = last_changes(column_changes(known, key, "account_status"), key, "status")
    # Any decrease within the window counts, even if a later change partly undid it.
    cuts = _decreased_since(limit_changes, key, recent_start, "credit_limit_cut_recently")
    shortened = _decreased_since(terms_changes, key, recent_start, "payment_terms_shortened_recently")

    limit_direction = F.when(F.col("last_credit_limit_value") > F.col("previous_credit_limit"), "UP").when(
        F.col("last_credit_limit_value") < F.col("previous_credit_limit"), "DOWN"
    )
    return (
        latest.select(*ACCOUNT_COLUMNS, "is_deleted", F.col(RECORD_VERSION).alias("versions"))
        .join(first_seen, key)
        .join(limits, key, "left")
        .join(terms, key, "left")
        .join(statuses, key, "left")
        .join(on_hold_recently, key, "left")
        .join(cuts, key, "left")
        .join(shortened, key, "left")
        .select(
            *ACCOUNT_COLUMNS,
            "is_deleted",
            "first_seen_at",
            "versions",
            F.datediff(day, F.col("created_date")).alias("tenure_days"),
            F.coalesce("credit_limit_changes", F.lit(0)).alias("credit_limit_changes"),
            F.to_date("last_credit_limit_change_at").alias("last_credit_limit_change_date"),
            limit_direction.alias("last_credit_limit_change_direction"),
            (F.col("last_credit_limit_value") - F.col("previous_credit_limit"))
            .cast("decimal(18,2)")
            .alias("last_credit_limit_change_amount"),
            percent_change("previous_credit_limit", "last_credit_limit_value").alias("last_credit_limit_change_pct"),
            F.coalesce("credit_limit_cut_recently", F.lit(False)).alias("credit_limit_cut_recently"),
            F.coalesce("payment_terms_changes", F.lit(0)).alias("payment_terms_changes"),
            F.to_date("last_payment_terms_change_at").alias("last_payment_terms_change_date"),
            F.col("previous_payment_terms").alias("previous_payment_terms_days"),
            F.coalesce("payment_terms_shortened_recently", F.lit(False)).alias("payment_terms_shortened_recently"),
            F.coalesce("status_changes", F.lit(0)).alias("status_changes"),
            F.to_date("last_status_change_at").alias("last_status_change_date"),
            F.datediff(day, F.to_date("last_status_change_at")).alias("days_since_status_change"),
            F.coalesce("on_hold_recently", F.lit(False)).alias("on_hold_recently"),
        )
    )
