"""The YAML scorecard on hand-made feature rows: bins, points, score, tiers, actions, reasons and their order."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pyspark.sql import SparkSession

from paylake.frames import rows_frame
from paylake.gold.scorecard import Scorecard, score

CARD: dict[str, Any] = {
    "reasons": 2,
    "features": [
        {
            "feature": "late_ratio",
            "format": "percent",
            "reason": "paid {value} of invoices late",
            "bins": [{"min": 0.1, "points": 10}, {"min": 0.5, "points": 30}],
        },
        {
            "feature": "days_late",
            "format": "days",
            "reason": "pays {value} late on average",
            "bins": [{"min": 5, "points": 10}, {"min": 30, "points": 20}],
            "missing_points": 5,
        },
        {
            "feature": "limit_cut",
            "format": "flag",
            "reason": "credit limit was cut",
            "bins": [{"min": 1, "points": 10}],
        },
        {
            "feature": "balance",
            "format": "usd",
            "reason": "owes {value}",
            "bins": [{"min": 10000, "points": 40}],
        },
    ],
    "tiers": [
        {"name": "LOW", "min_score": 0, "action": "none"},
        {"name": "MEDIUM", "min_score": 25, "action": "remind"},
        {"name": "HIGH", "min_score": 50, "action": "call"},
        {"name": "CRITICAL", "min_score": 75, "action": "hold"},
    ],
}
FEATURES = "account_id string, late_ratio double, days_late double, limit_cut boolean, balance double"
SCORED = (
    "account_id string, risk_points map<string,int>, risk_score int, risk_tier string, recommended_action string, "
    "risk_reasons array<string>"
)


def points(late: int, days: int, cut: int, balance: int) -> dict[str, int]:
    return {"late_ratio": late, "days_late": days, "limit_cut": cut, "balance": balance}


def test_points_score_tier_action_and_reasons(spark: SparkSession) -> None:
    card = Scorecard.model_validate(CARD)
    assert card.max_points == 30 + 20 + 10 + 40
    features = rows_frame(
        spark,
        [
            ("clean", 0.0, 0.0, False, 0.0),
            ("edges", 0.1, 30.0, False, 9999.99),  # a bin's min is inclusive
            ("unknown", None, None, None, None),  # missing: 0 points, except days_late's missing_points
            ("worst", 0.75, 45.0, True, 25000.0),
            ("tied", 0.5, 2.0, False, 10000.0),  # late_ratio 30 < balance 40; limit_cut does not apply
        ],
        FEATURES,
    )
    expected = rows_frame(
        spark,
        [
            ("clean", points(0, 0, 0, 0), 0, "LOW", "none", []),
            (
                "edges",
                points(10, 20, 0, 0),
                30,
                "MEDIUM",
                "remind",
                ["pays 30 days late on average", "paid 10% of invoices late"],
            ),
            ("unknown", points(0, 5, 0, 0), 5, "LOW", "none", ["pays unknown late on average"]),
            (
                "worst",
                points(30, 20, 10, 40),
                100,
                "CRITICAL",
                "hold",
                ["owes USD 25,000", "paid 75% of invoices late"],
            ),
            ("tied", points(30, 0, 0, 40), 70, "HIGH", "call", ["owes USD 10,000", "paid 50% of invoices late"]),
        ],
        SCORED,
    )
    actual = score(features, card).select(expected.columns).orderBy("account_id")
    # chispa cannot sort on or compare the nullability inside maps: compare the collected rows instead.
    assert [r.asDict() for r in actual.collect()] == [r.asDict() for r in expected.orderBy("account_id").collect()]


def test_equal_points_keep_the_yaml_order_in_the_reasons(spark: SparkSession) -> None:
    card = Scorecard.model_validate({**CARD, "reasons": 3})
    features = rows_frame(spark, [("a", 0.2, 10.0, True, 0.0)], FEATURES)  # 10 points each, in YAML order
    (row,) = score(features, card).collect()
    assert row["risk_reasons"] == ["paid 20% of invoices late", "pays 10 days late on average", "credit limit was cut"]
    assert row["risk_score"] == 30


def test_python_twin_matches_spark(spark: SparkSession) -> None:
    card = Scorecard.model_validate(CARD)
    values = [0.0, 0.0999, 0.1, 0.125, 0.5, 2.5, 5.0, 29.9, 30.0, 10000.0, 10000.5, None]
    for feature in card.features:
        df = rows_frame(spark, [(v,) for v in values], f"{feature.feature} double")
        spark_points = [r[0] for r in df.select(feature.points()).collect()]
        assert spark_points == [feature.points_for(v) for v in values], feature.feature
        shown = [r[0] for r in df.where(df[feature.feature].isNotNull()).select(feature.reason_text()).collect()]
        expected = [feature.reason.replace("{value}", feature.shown(v)) for v in values if v is not None]
        assert shown == expected, feature.feature


def test_a_new_threshold_needs_only_the_yaml(spark: SparkSession) -> None:
    stricter = {**CARD, "tiers": [{**t, "min_score": t["min_score"] // 5} for t in CARD["tiers"]]}
    features = rows_frame(spark, [("edges", 0.1, 0.0, False, 0.0)], FEATURES)  # 10 of 100 points
    assert score(features, Scorecard.model_validate(CARD)).first()["risk_tier"] == "LOW"  # type: ignore[index]
    assert score(features, Scorecard.model_validate(stricter)).first()["risk_tier"] == "HIGH"  # type: ignore[index]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"features": [{**CARD["features"][0], "bins": [{"min": 0.5, "points": 1}, {"min": 0.1, "points": 2}]}]},
            "bins of late_ratio: min values must be strictly ascending",
        ),
        ({"features": [{**CARD["features"][2], "format": "percent"}]}, "reason of limit_cut: use {value}"),
        ({"features": [CARD["features"][0], CARD["features"][0]]}, "features scored twice: ['late_ratio']"),
        ({"tiers": [{"name": "LOW", "min_score": 10, "action": "x"}]}, "must start at 0"),
        ({"tiers": [{"name": "low", "min_score": 0, "action": "x"}]}, "String should match pattern"),
        ({"features": [{**CARD["features"][0], "bins": [{"min": 1, "points": 0}]}]}, "no feature can add points"),
    ],
)
def test_bad_scorecards_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("{", r"\{")):
        Scorecard.model_validate({**CARD, **change})


def test_a_scored_feature_must_be_a_column(spark: SparkSession) -> None:
    features = rows_frame(spark, [("a", 0.2)], "account_id string, late_ratio double")
    with pytest.raises(ValueError, match=r"scorecard features \['days_late', 'limit_cut', 'balance'\] are not columns"):
        score(features, Scorecard.model_validate(CARD))
