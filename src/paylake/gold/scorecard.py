"""A transparent, points-based risk scorecard, configured entirely in YAML.

Each scored feature has bins: a value earns the points of the highest bin whose ``min`` it reaches (booleans
count as 0/1), nothing below the first bin, and ``missing_points`` when the feature is unknown. The score is
the points earned as a share of the points attainable, 0-100 (higher = riskier). Tiers are score ranges, each
with the action collections should take. The reasons are the features that added the most points, in the
words of the YAML, with the account's own value filled in.

A card fitted by `paylake train` (:mod:`paylake.scoring.train`) also carries its calibration: the log-odds of
paying late at zero points and per point, from which each row gets ``p_late_<horizon>d``, the probability that an
invoice due in the next ``horizon_days`` is paid late or not at all; and a summary of the fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import Field, model_validator
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from paylake.config.base import StrictModel
from paylake.config.identifiers import Identifier

VALUE = "{value}"
ValueFormat = Literal["percent", "percent_points", "days", "usd", "number", "flag"]

# Per format: Java pattern for Spark's ``format_string``, the scale applied first, and the same as a Python
# format on the value rounded half-up like Java's formatter (for explanations printed outside Spark).
_FORMATS: dict[str, tuple[str, float, str]] = {
    "percent": ("%.0f%%", 100.0, "{:.0f}%"),
    "percent_points": ("%.0f points", 100.0, "{:.0f} points"),
    "days": ("%.0f days", 1.0, "{:.0f} days"),
    "usd": ("USD %,.0f", 1.0, "USD {:,.0f}"),
    "number": ("%.2f", 1.0, "{:.2f}"),
}


def _half_up(value: float, python_format: str) -> Decimal:
    """``value`` rounded as Java's formatter rounds it (half up on the shortest decimal form)."""
    places = Decimal("0.01") if ".2f" in python_format else Decimal("1")
    return Decimal(repr(value)).quantize(places, rounding=ROUND_HALF_UP)


class ScoreBin(StrictModel):
    """Values at or above ``min`` earn ``points`` (unless a higher bin also applies)."""

    min: float
    points: int = Field(ge=0)


class ScoreFeature(StrictModel):
    """One scored feature.

    Attributes:
        feature: the column of the features (a numeric or boolean column of customer_payment_metrics).
        reason: what the feature means for the account, shown when it adds points; ``{value}`` is replaced by
            the account's value in ``format`` (omit ``{value}`` for ``format: flag``).
        format: how ``{value}`` is written: percent (0.25 -> 25%), percent_points (a change of a ratio),
            days, usd, number, or flag (no value).
        bins: ascending ``min`` thresholds with the points each earns.
        missing_points: points when the feature is null (no history yet).
    """

    feature: Identifier
    reason: str = Field(min_length=1)
    format: ValueFormat = "number"
    bins: list[ScoreBin] = Field(min_length=1)
    missing_points: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> ScoreFeature:
        mins = [b.min for b in self.bins]
        if mins != sorted(set(mins)):
            raise ValueError(f"bins of {self.feature}: min values must be strictly ascending, got {mins}")
        if (VALUE in self.reason) == (self.format == "flag"):
            raise ValueError(f"reason of {self.feature}: use {VALUE} exactly when format is not flag")
        return self

    @property
    def max_points(self) -> int:
        """The most points this feature can add."""
        return max([b.points for b in self.bins] + [self.missing_points])

    def points(self) -> Column:
        """The points this feature adds to a row's score."""
        value = F.col(self.feature).cast("double")
        points: Column = F.lit(0)
        for score_bin in self.bins:  # ascending: the last matching bin wins
            points = F.when(value >= F.lit(score_bin.min), F.lit(score_bin.points)).otherwise(points)
        return F.when(value.isNull(), F.lit(self.missing_points)).otherwise(points)

    def points_for(self, value: float | bool | None) -> int:
        """The points of one value (the Python twin of :meth:`points`, for explanations and tests)."""
        if value is None:
            return self.missing_points
        earned = [b.points for b in self.bins if float(value) >= b.min]
        return earned[-1] if earned else 0

    def shown(self, value: float | bool | None) -> str:
        """``value`` as the reason writes it."""
        if value is None:
            return "unknown"
        if self.format == "flag":
            return "yes" if value else "no"
        _, scale, python_format = _FORMATS[self.format]
        return python_format.format(_half_up(float(value) * scale, python_format))

    def reason_text(self) -> Column:
        """The reason sentence with the row's value filled in."""
        if self.format == "flag":
            return F.lit(self.reason)
        pattern, scale, _ = _FORMATS[self.format]
        before, after = self.reason.split(VALUE, 1)
        value = F.col(self.feature).cast("double")
        shown = F.when(value.isNull(), F.lit("unknown")).otherwise(F.format_string(pattern, value * F.lit(scale)))
        return F.concat(F.lit(before), shown, F.lit(after))


class RiskTier(StrictModel):
    """Scores from ``min_score`` up to the next tier's ``min_score`` fall in tier ``name``."""

    name: str = Field(pattern=r"^[A-Z][A-Z_]*$")
    min_score: int = Field(ge=0, le=100)
    action: str = Field(min_length=1)


class Calibration(StrictModel):
    """``p_late = 1 / (1 + exp(-(intercept + log_odds_per_point x points)))``, for invoices due within
    ``horizon_days``."""

    horizon_days: int = Field(ge=1)
    intercept: float
    log_odds_per_point: float = Field(gt=0)

    @property
    def column(self) -> str:
        return f"p_late_{self.horizon_days}d"

    def probability_of(self, points: int) -> float:
        """The probability of ``points`` (the Python twin of :meth:`probability`, unrounded)."""
        return 1.0 / (1.0 + math.exp(-(self.intercept + self.log_odds_per_point * points)))

    def probability(self, points: Column) -> Column:
        return F.round(
            F.lit(1.0) / (F.lit(1.0) + F.exp(-(F.lit(self.intercept) + points * self.log_odds_per_point))), 4
        )


class DroppedFeature(StrictModel):
    """A candidate feature the fit left out, and why; kept so that the next fit considers it again."""

    feature: Identifier
    reason: str = Field(min_length=1)
    format: ValueFormat = "number"
    why: str

    def candidate(self) -> ScoreFeature:
        """The feature as a candidate for the next fit (its bins are the fit's to set)."""
        return ScoreFeature(
            feature=self.feature, reason=self.reason, format=self.format, bins=[ScoreBin(min=0, points=0)]
        )


class TrainingSummary(StrictModel):
    """What a fitted card was fitted on and how it did (written by `paylake train`, read by people)."""

    note: str | None = None
    score_dates: list[date] = Field(min_length=1)
    out_of_time_dates: list[date] = []
    observations: int = Field(ge=1)
    late: int = Field(ge=0)
    intercept: float
    coefficients: dict[str, float]
    information_values: dict[str, float]
    dropped: list[DroppedFeature] = []
    auc_training: float | None = None
    auc_out_of_time: float | None = None
    brier_out_of_time: float | None = None


class Scorecard(StrictModel):
    """The whole scorecard: features, tiers (ascending, the first starting at 0) and how many reasons to give;
    a fitted card adds its calibration and training summary."""

    features: list[ScoreFeature] = Field(min_length=1)
    tiers: list[RiskTier] = Field(min_length=1)
    reasons: int = Field(default=3, ge=1, le=10)
    calibration: Calibration | None = None
    training: TrainingSummary | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scorecard:
        names = [f.feature for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features scored twice: {duplicates}")
        if self.max_points == 0:
            raise ValueError("no feature can add points; give some bin points > 0")
        mins = [t.min_score for t in self.tiers]
        if mins[0] != 0 or mins != sorted(set(mins)):
            raise ValueError(f"tier min_score values must start at 0 and be strictly ascending, got {mins}")
        tier_names = [t.name for t in self.tiers]
        if len(set(tier_names)) != len(tier_names):
            raise ValueError(f"duplicate tier names in {tier_names}")
        return self

    def candidates(self) -> list[ScoreFeature]:
        """The features a new fit starts from: the scored ones and those the last fit dropped."""
        dropped = [d.candidate() for d in self.training.dropped] if self.training is not None else []
        return [*self.features, *dropped]

    @property
    def max_points(self) -> int:
        """The most points an account can earn; it scores 100."""
        return sum(f.max_points for f in self.features)

    def missing_features(self, columns: Sequence[str]) -> list[str]:
        """Scored features that are not among ``columns``."""
        return [f.feature for f in self.features if f.feature not in columns]


def score(features: DataFrame, scorecard: Scorecard) -> DataFrame:
    """``features`` with the scorecard's columns appended.

    Adds ``risk_points`` (feature -> points, every scored feature), ``risk_score`` (0-100, int),
    ``p_late_<horizon>d`` (a calibrated card only), ``risk_tier``, ``recommended_action`` and ``risk_reasons``
    (up to ``scorecard.reasons`` sentences, most points first; ties keep the YAML order).

    Raises:
        ValueError: a scored feature is not a column of ``features``.
    """
    missing = scorecard.missing_features(features.columns)
    if missing:
        raise ValueError(f"scorecard features {missing} are not columns of the features")
    points = {f.feature: f.points() for f in scorecard.features}
    total = sum(points.values(), F.lit(0))
    risk_score = F.round(total * F.lit(100.0) / F.lit(scorecard.max_points)).cast("int")
    tier, action = F.lit(scorecard.tiers[0].name), F.lit(scorecard.tiers[0].action)
    for t in scorecard.tiers[1:]:
        tier = F.when(F.col("risk_score") >= t.min_score, F.lit(t.name)).otherwise(tier)
        action = F.when(F.col("risk_score") >= t.min_score, F.lit(t.action)).otherwise(action)
    # (-points, YAML position, sentence) sorts the strongest reasons first, deterministically.
    candidates = F.array(
        *[
            F.struct((-points[f.feature]).alias("rank"), F.lit(i).alias("position"), f.reason_text().alias("text"))
            for i, f in enumerate(scorecard.features)
        ]
    )
    strongest = F.slice(F.array_sort(F.filter(candidates, lambda c: c["rank"] < 0)), 1, scorecard.reasons)
    scored = features.withColumn(
        "risk_points", F.create_map(*[part for f, p in points.items() for part in (F.lit(f), p.cast("int"))])
    ).withColumn("risk_score", risk_score)
    if scorecard.calibration is not None:
        scored = scored.withColumn(scorecard.calibration.column, scorecard.calibration.probability(total))
    return (
        scored.withColumn("risk_tier", tier)
        .withColumn("recommended_action", action)
        .withColumn("risk_reasons", F.transform(strongest, lambda c: c["text"]))
    )
