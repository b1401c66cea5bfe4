"""gold.collections_worklist: per account and score date, who to call first and what changed since the previous
score date: the account's previous score and tier, the features whose points moved, and its expected overdue
exposure (the calibrated probability of paying late times its open balance), by which the list is ranked."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from paylake.builders import register
from paylake.config.base import StrictModel
from paylake.config.identifiers import Identifier
from paylake.contract import SCORE_DATE


class WorklistParams(StrictModel):
    """Parameters of :func:`collections_worklist`.

    Attributes:
        probability: the column of customer_payment_metrics with the calibrated probability of paying late (a
            card fitted by `paylake train` writes ``p_late_<horizon>d``).
    """

    probability: Identifier = "p_late_60d"


@register("gold", WorklistParams)
def collections_worklist(metrics: DataFrame, *, params: WorklistParams, as_of: date) -> DataFrame:
    """One row per account scored on ``as_of``.

    ``previous_score_date`` is the latest score date before ``as_of`` (the same for every account);
    ``previous_risk_score``/``previous_risk_tier`` are null for an account not scored then, whose
    ``tier_change`` is ``NEW`` (else ``UP``, ``DOWN`` or ``SAME``). ``points_moved`` lists the features whose
    points changed, largest change first (``points_before`` null: not scored then).
    ``expected_overdue_usd`` = probability x open balance; ``rank`` orders by it, then by score, then by id.

    Args:
        metrics: gold.customer_payment_metrics (every score date).
    """
    probability = params.probability
    if probability not in metrics.columns:
        raise ValueError(
            f"customer_payment_metrics has no column {probability!r}: fit the card with `paylake train` "
            "(it writes the probability) or name the probability column in the worklist's parameters"
        )
    today = metrics.where(F.col(SCORE_DATE) == F.lit(as_of))
    previous_date = metrics.where(F.col(SCORE_DATE) < F.lit(as_of)).agg(F.max(SCORE_DATE).alias("previous_score_date"))
    previous = metrics.join(previous_date, F.col(SCORE_DATE) == F.col("previous_score_date")).select(
        "account_id",
        F.col("risk_score").alias("previous_risk_score"),
        F.col("risk_tier").alias("previous_risk_tier"),
        F.col("risk_points").alias("_previous_points"),
    )
    exposure = F.round(F.col(probability) * F.coalesce(F.col("open_balance_usd"), F.lit(0.0)), 2)
    moved = F.filter(
        F.transform(
            F.map_keys("risk_points"),
            lambda feature: F.struct(
                feature.alias("feature"),
                # null when the feature was not scored then; nullable, as Delta on Spark writes nested fields
                F.col("_previous_points")[feature].alias("points_before"),
                F.col("risk_points")[feature].alias("points_now"),
            ),
        ),
        lambda m: F.col("_previous_points").isNotNull() & ~m["points_before"].eqNullSafe(m["points_now"]),
    )
    largest_first = F.array_sort(
        moved,
        lambda a, b: (
            F.abs(b["points_now"] - F.coalesce(b["points_before"], F.lit(0)))
            - F.abs(a["points_now"] - F.coalesce(a["points_before"], F.lit(0)))
        ),
    )
    # Tiers are score ranges, so a changed tier went up exactly when the score did.
    tier_change = (
        F.when(F.col("previous_risk_tier").isNull(), F.lit("NEW"))
        .when(F.col("risk_tier") == F.col("previous_risk_tier"), F.lit("SAME"))
        .when(F.col("risk_score") > F.col("previous_risk_score"), F.lit("UP"))
        .otherwise(F.lit("DOWN"))
    )
    rows = (
        today.crossJoin(previous_date)
        .join(previous, "account_id", "left")
        .select(
            F.col(SCORE_DATE),
            "account_id",
            "account_name",
            "risk_tier",
            "previous_risk_tier",
            tier_change.alias("tier_change"),
            "risk_score",
            "previous_risk_score",
            (F.col("risk_score") - F.col("previous_risk_score")).alias("score_change"),
            "previous_score_date",
            F.col(probability),
            "open_balance_usd",
            "overdue_balance_usd",
            "oldest_overdue_days",
            exposure.alias("expected_overdue_usd"),
            "recommended_action",
            "risk_reasons",
            largest_first.alias("points_moved"),
        )
    )
    order = Window.orderBy(F.desc("expected_overdue_usd"), F.desc("risk_score"), "account_id")
    return rows.withColumn("rank", F.row_number().over(order).cast("int"))
