"""silver.account_payment_history: per account, how it has paid, computed only from what was known on the
business date (silver.invoice_details is already as of that date)."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, field_validator
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from paylake.builders import register
from paylake.config.base import StrictModel


class PaymentHistoryParams(StrictModel):
    """Parameters of :func:`account_payment_history`.

    Attributes:
        windows_days: trailing windows (days, ending on ``as_of``) for counts and late ratios.
        trend_window_days: the trend compares this many recent days with the same span just before.
        lookback_days: span of the averages, maximum and disputed share.
        credibility_invoices: how many invoices of its own an account needs for its late ratio to count as much
            as the prior; the credible ratios add that many invoices late at the prior rate (0: the raw ratio).
        prior_late_ratio: the book's long-run share of invoices paid late, toward which few invoices shrink.
    """

    windows_days: list[int] = Field(default_factory=lambda: [30, 90, 180, 365], min_length=1)
    trend_window_days: int = Field(default=90, ge=1)
    lookback_days: int = Field(default=365, ge=1)
    credibility_invoices: int = Field(default=0, ge=0)
    prior_late_ratio: float = Field(default=0.0, ge=0, le=1)

    @field_validator("windows_days")
    @classmethod
    def _positive_unique(cls, windows: list[int]) -> list[int]:
        if any(w < 1 for w in windows) or len(set(windows)) != len(windows):
            raise ValueError("windows must be distinct positive numbers of days")
        return sorted(windows)


def _within(column: str, as_of: date, days: int, offset: int = 0) -> Column:
    """``column`` falls in the ``days`` days ending ``offset`` days before ``as_of`` (inclusive of that end)."""
    end = as_of - timedelta(days=offset)
    return (F.col(column) > F.lit(end - timedelta(days=days))) & (F.col(column) <= F.lit(end))


def _ratio(numerator: Column, denominator: Column) -> Column:
    return F.when(denominator > 0, F.round(numerator / denominator, 4))


def _count(condition: Column) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast("int")


def _late_ratio(due_in_window: Column) -> Column:
    """Share of the invoices due in a window that were paid late or are open past due."""
    return _ratio(_count(due_in_window & F.col("is_late")), _count(due_in_window))


def _credible_late_ratio(due_in_window: Column, params: PaymentHistoryParams) -> Column:
    """:func:`_late_ratio` with ``credibility_invoices`` invoices added at the prior rate (Bühlmann credibility
    with a fixed weight): ``(late + k x prior) / (due + k)``, the prior itself for an account with nothing due."""
    k = params.credibility_invoices
    late = _count(due_in_window & F.col("is_late")) + F.lit(k * params.prior_late_ratio)
    return _ratio(late, _count(due_in_window) + F.lit(k))


@register("silver", PaymentHistoryParams)
def account_payment_history(
    invoices: DataFrame, accounts: DataFrame, *, params: PaymentHistoryParams, as_of: date
) -> DataFrame:
    """One row per account of ``accounts``: payment behaviour features as of ``as_of``.

    Late ratios are over invoices *due* in the window (only then is lateness known); an invoice counts as late
    when paid after its due date or still open past it; ``invoices_due_<n>d`` is each ratio's denominator. The
    ``credible_late_ratio_<n>d`` and ``credible_late_ratio_trend`` shrink ratios over few invoices toward the
    book's (``credibility_invoices``, ``prior_late_ratio``), so one more late invoice moves them little where
    there are few. Counts of invoices are over invoices *issued* in the window. Trends are the recent window
    minus the window before it (positive = getting worse). Balances are in USD; ``credit_utilisation`` is the
    open balance over the account's current credit limit.

    Args:
        invoices: silver.invoice_details as of ``as_of``.
        accounts: silver.account_profiles as of ``as_of``.
    """
    trend, lookback = params.trend_window_days, params.lookback_days
    due_in_lookback = _within("due_date", as_of, lookback)
    windowed, credible = [], []
    for days in params.windows_days:
        windowed += [
            _count(_within("invoice_date", as_of, days)).alias(f"invoices_{days}d"),
            _count(_within("due_date", as_of, days)).alias(f"invoices_due_{days}d"),
            _late_ratio(_within("due_date", as_of, days)).alias(f"late_ratio_{days}d"),
        ]
        credible.append(
            _credible_late_ratio(_within("due_date", as_of, days), params).alias(f"credible_late_ratio_{days}d")
        )
    recent, before = _within("due_date", as_of, trend), _within("due_date", as_of, trend, offset=trend)
    credible.append(
        (_credible_late_ratio(recent, params) - _credible_late_ratio(before, params)).alias("credible_late_ratio_trend")
    )

    def avg_days_late(window: Column) -> Column:
        return F.avg(F.when(window, F.col("days_late")))

    issued_in_lookback = _within("invoice_date", as_of, lookback)
    features = (
        invoices.where(F.col("invoice_date") <= F.lit(as_of))
        .groupBy("account_id")
        .agg(
            *windowed,
            F.round(avg_days_late(due_in_lookback), 2).alias("avg_days_late"),
            F.max(F.when(due_in_lookback, F.col("days_late"))).alias("max_days_late"),
            F.round(
                F.avg(F.when(F.col("is_paid") & _within("paid_date", as_of, lookback), F.col("days_to_pay"))), 2
            ).alias("avg_days_to_pay"),
            (_late_ratio(recent) - _late_ratio(before)).alias("late_ratio_trend"),
            F.round(avg_days_late(recent) - avg_days_late(before), 2).alias("days_late_trend"),
            _count(F.col("is_open")).alias("open_invoices"),
            F.round(F.sum(F.when(F.col("is_open"), F.col("outstanding_amount_usd"))), 2).alias("open_balance_usd"),
            _count(F.col("is_overdue")).alias("overdue_invoices"),
            F.round(F.sum(F.when(F.col("is_overdue"), F.col("outstanding_amount_usd"))), 2).alias(
                "overdue_balance_usd"
            ),
            F.max(F.when(F.col("is_overdue"), F.col("days_late"))).alias("oldest_overdue_days"),
            _ratio(_count(issued_in_lookback & F.col("is_disputed")), _count(issued_in_lookback)).alias(
                "disputed_share"
            ),
            F.round(F.sum(F.when(F.col("is_open") & F.col("is_disputed"), F.col("outstanding_amount_usd"))), 2).alias(
                "disputed_open_balance_usd"
            ),
            F.max("invoice_date").alias("last_invoice_date"),
            F.max(F.when(F.col("is_paid"), F.col("paid_date"))).alias("last_payment_date"),
            *credible,
        )
    )
    zero_when_missing = [c for c in features.columns if c.startswith("invoices_")] + [
        "open_invoices",
        "overdue_invoices",
    ]
    money = ["open_balance_usd", "overdue_balance_usd", "disputed_open_balance_usd"]
    # An account with no invoice at all has the prior as its credible ratios (and no trend).
    prior = F.lit(params.prior_late_ratio) if params.credibility_invoices else F.lit(None).cast("double")
    credible_names = [
        c for c in features.columns if c.startswith("credible_late_ratio_") and c != "credible_late_ratio_trend"
    ]
    joined = accounts.select("account_id", "credit_limit").join(features, "account_id", "left")
    limit = F.col("credit_limit").cast("double")
    return joined.select(
        "account_id",
        *[
            F.coalesce(F.col(c), F.lit(0)).alias(c) if c in zero_when_missing else F.col(c)
            for c in features.columns
            if c != "account_id" and c not in money and not c.startswith("credible_")
        ],
        *[F.coalesce(F.col(c), F.lit(0.0)).alias(c) for c in money],
        F.when(limit > 0, F.round(F.coalesce(F.col("open_balance_usd"), F.lit(0.0)) / limit, 4)).alias(
            "credit_utilisation"
        ),
        *[F.coalesce(F.col(c), prior).alias(c) for c in credible_names],
        F.col("credible_late_ratio_trend"),
    )
