"""The pieces of `paylake train` on small datasets with known answers: monotone binning and weight of evidence,
points from coefficients, the probability metrics, and the fitted card written into a table's YAML."""

from __future__ import annotations

import math
import random
from datetime import date, datetime

import pytest
import yaml
from pyspark.sql import SparkSession

from paylake.errors import UsageError
from paylake.frames import rows_frame
from paylake.gold.scorecard import Calibration, Scorecard, ScoreFeature
from paylake.scoring import metrics as m
from paylake.scoring.stability import busy_accounts, stability
from paylake.scoring.train import card_yaml, fitted_feature, with_card
from paylake.scoring.woe import Bin, Binning, monotone_bins


def test_bins_pool_values_until_the_late_rate_rises_with_the_value() -> None:
    # value: (observations, late): 0: 4/10, 1: 2/10 (breaks the order, pooled with 0), 2: 5/10, 3: 9/10.
    values: list[float | None] = []
    late: list[bool] = []
    for value, lates in ((0, 4), (1, 2), (2, 5), (3, 9)):
        values += [float(value)] * 10
        late += [True] * lates + [False] * (10 - lates)
    binning = monotone_bins(values, late, max_bins=6, min_share=0.05)
    assert [(b.min, b.observations, b.late) for b in binning.bins] == [(None, 20, 6), (2.0, 10, 5), (3.0, 10, 9)]
    rates = [b.late_rate for b in binning.bins]
    assert rates == sorted(rates) and binning.missing is None
    # WoE: ln((late in bin + 0.5) / (all late + 1) / ((on time in bin + 0.5) / (all on time + 1))).
    assert binning.bins[2].woe == pytest.approx(math.log((9.5 / 21) / (1.5 / 21)))
    information = sum((b.late / 20 - (b.observations - b.late) / 20) * b.woe for b in binning.bins)
    assert binning.information_value == pytest.approx(information) and information > 0.3
    assert binning.woe_of(-5.0) == binning.bins[0].woe and binning.woe_of(2.5) == binning.bins[1].woe
    assert binning.woe_of(None) == 0.0  # never seen missing: no evidence


def test_a_falling_or_flat_feature_ends_in_one_bin_without_information() -> None:
    values = [float(v) for v in range(40)]
    falling = [v < 20 for v in range(40)]  # late below 20, on time above: risk falls as the value rises
    binning = monotone_bins(values, falling)
    assert len(binning.bins) == 1 and binning.information_value == pytest.approx(0.0)


def test_small_bins_merge_and_missing_values_form_their_own_group() -> None:
    chance = random.Random(7)
    values: list[float | None] = [chance.uniform(0, 1) for _ in range(200)] + [None] * 30
    late = [v is None or v > 0.7 or chance.random() < 0.2 for v in values]
    binning = monotone_bins(values, late, max_bins=4, min_share=0.1)
    assert 2 <= len(binning.bins) <= 4 and min(b.observations for b in binning.bins) >= 20
    assert [b.min for b in binning.bins][0] is None and sum(b.observations for b in binning.bins) == 200
    assert binning.missing is not None and binning.missing.observations == 30 and binning.missing.woe > 1
    with pytest.raises(ValueError, match="both late and on-time"):
        monotone_bins([1.0, 2.0], [True, True])


def _feature(**update: object) -> ScoreFeature:
    given = {"feature": "late_ratio_90d", "reason": "late on {value}", "format": "percent"}
    return ScoreFeature.model_validate({**given, "bins": [{"min": 0.5, "points": 1}], **update})


def test_points_are_coefficient_times_woe_above_the_lowest_bin() -> None:
    binning = Binning(
        (Bin(None, 50, 10, -1.0), Bin(0.2, 30, 15, 0.0), Bin(0.6, 20, 18, 2.0)), Bin(None, 5, 4, 1.0), 0.5
    )
    fitted = fitted_feature(_feature(), binning, coefficient=0.8, scale=10.0)
    assert fitted is not None
    # 0.8 x (0 - -1) x 10 = 8, 0.8 x (2 - -1) x 10 = 24; missing 0.8 x (1 - -1) x 10 = 16.
    assert [(b.min, b.points) for b in fitted.bins] == [(0.2, 8), (0.6, 24)] and fitted.missing_points == 16
    assert fitted.reason == "late on {value}" and fitted.points_for(0.1) == 0 and fitted.points_for(0.7) == 24
    tiny = fitted_feature(_feature(), binning, coefficient=0.01, scale=10.0)
    assert tiny is None  # every bin rounds to 0 points: nothing to score


def test_probability_metrics() -> None:
    assert m.brier([1.0, 0.0], [True, False]) == 0.0 and m.brier([0.5] * 4, [True, False, True, True]) == 0.25
    assert m.brier([], []) is None
    probabilities = [i / 100 for i in range(100)]
    late = [i % 2 == 0 for i in range(100)]
    deciles = m.deciles(probabilities, late)
    assert [g.observations for g in deciles] == [10] * 10 and deciles[0].avg_score == pytest.approx(0.045)
    assert all(g.late_rate == 0.5 for g in deciles)
    tied = m.deciles([0.3] * 7 + [0.9] * 3, [False] * 7 + [True] * 3)
    assert [(g.observations, g.late_rate) for g in tied] == [(7, 0.0), (3, 1.0)]  # ties are never split


TABLE_YAML = """\
table: scores
# kept: a comment above the parameters
parameters:
  dso_window_days: 90
  # kept: the card's own comment line
  scorecard:
    reasons: 3
    # replaced with the card
    features:
      - {feature: late_ratio_90d, reason: "late on {value}", format: percent, bins: [{min: 0.1, points: 3}]}
    tiers:
      - {name: LOW, min_score: 0, action: "No action"}
primary_key: [account_id]
"""


def test_a_fitted_card_replaces_the_card_of_a_table_yaml_and_nothing_else() -> None:
    card = Scorecard.model_validate(yaml.safe_load(TABLE_YAML)["parameters"]["scorecard"])
    fitted = card.model_copy(
        update={
            "features": [_feature(bins=[{"min": 0.25, "points": 40}, {"min": 0.5, "points": 100}])],
            "calibration": Calibration(horizon_days=60, intercept=-1.5, log_odds_per_point=0.03),
        }
    )
    updated = with_card(TABLE_YAML, fitted, "gold/scores/scores.yaml")
    assert "# kept: a comment above the parameters" in updated and "# kept: the card's own comment line" in updated
    assert "# replaced with the card" not in updated and updated.endswith("primary_key: [account_id]\n")
    assert "{min: 0.25, points: 40}" in updated  # one line per bin, as a person writes it
    reread = yaml.safe_load(updated)
    assert Scorecard.model_validate(reread["parameters"]["scorecard"]) == fitted
    assert reread["parameters"]["dso_window_days"] == 90
    assert Scorecard.model_validate(yaml.safe_load(card_yaml(fitted))) == fitted
    with pytest.raises(UsageError, match=r"gold/x.yaml: parameters.scorecard is not a block mapping"):
        with_card("table: x\nparameters: {scorecard: {reasons: 3}}\n", fitted, "gold/x.yaml")


def test_a_calibrated_card_gives_the_probability_of_its_points(spark: SparkSession) -> None:
    calibration = Calibration(horizon_days=30, intercept=-2.0, log_odds_per_point=0.04)
    frame = rows_frame(spark, [(0,), (50,), (100,)], "points int")
    got = [r[0] for r in frame.select(calibration.probability(frame["points"])).collect()]
    assert got == [round(1 / (1 + math.exp(-(-2.0 + 0.04 * p))), 4) for p in (0, 50, 100)]
    assert calibration.column == "p_late_30d"


def test_stability_counts_tier_changes_of_accounts_without_events_of_their_own() -> None:
    d1, d2, d3 = date(2026, 9, 1), date(2026, 9, 2), date(2026, 9, 3)
    scored = {
        d1: {"A": (10.0, "LOW"), "B": (30.0, "MEDIUM"), "C": (50.0, "HIGH")},
        d2: {"A": (12.0, "LOW"), "B": (41.0, "HIGH"), "C": (70.0, "CRITICAL"), "D": (5.0, "LOW")},
        d3: {"A": (12.0, "LOW"), "B": (40.0, "HIGH"), "C": (70.0, "CRITICAL"), "D": (9.0, "LOW")},
    }
    busy = {d2: {"C"}, d3: set()}  # C had an invoice fall due; D is new on d2, so it is compared from d3 on
    steady = stability(scored, busy, step_days=1)
    # Quiet pairs: A and B on d2; A, B, C and D on d3. Tier changes: B on d2. Changes: 2, 11, 0, 1, 0, 4.
    assert (steady.quiet, steady.tier_changes, steady.median_abs_change) == (6, 1, 1.5)
    assert steady.tier_change_share == pytest.approx(1 / 6)
    assert stability({d1: {}}, {}, 1).tier_change_share is None


def test_busy_accounts_are_those_with_an_event_since_the_score_date_before(spark: SparkSession) -> None:
    dates = [date(2026, 9, 1), date(2026, 9, 8), date(2026, 9, 15)]
    invoices = rows_frame(
        spark,
        [
            ("A", date(2026, 8, 1), date(2026, 9, 8), None),  # falls due on the second score date
            ("B", date(2026, 8, 1), date(2026, 8, 31), date(2026, 9, 12)),  # paid between the second and third
            ("C", date(2026, 9, 1), date(2026, 10, 1), None),  # issued on the first score date: before the range
        ],
        "account_id string, invoice_date date, due_date date, paid_date date",
    )
    accounts = rows_frame(
        spark,
        [("D", datetime(2026, 9, 15, 9, 30)), ("C", datetime(2026, 8, 1))],
        "account_id string, effective_from timestamp",
    )
    assert busy_accounts(invoices, accounts, dates) == {dates[1]: {"A"}, dates[2]: {"B", "D"}}
