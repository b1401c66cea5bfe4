"""Backtest metrics on tiny datasets with known answers, and the score-date rules of `paylake backtest`."""

from __future__ import annotations

from datetime import date

import pytest

from paylake.errors import UsageError
from paylake.scoring import metrics as m
from paylake.scoring.backtest import score_dates
from paylake.scoring.changes import render, tier_changes


def test_auc_and_ks_known_answers() -> None:
    late = [False, False, False, True, True]
    assert m.auc([1, 2, 3, 4, 5], late) == 1.0 and m.ks([1, 2, 3, 4, 5], late) == 1.0  # perfectly separating
    assert m.auc([5, 4, 3, 2, 1], late) == 0.0
    assert m.auc([7] * 5, late) == 0.5 and m.ks([7] * 5, late) == 0.0  # a constant score ranks nothing
    # Pairs (late, on time): 4>1, 4>2, 4=4 (half), 2>1, 2=2 (half), 2<4: 4 of 6.
    assert m.auc([1, 2, 4, 4, 2], late) == pytest.approx(4 / 6)
    # Scores >= 4: 1/2 late vs 1/3 on time; >= 2: 2/2 vs 2/3; the largest gap is 1/3.
    assert m.ks([1, 2, 4, 4, 2], late) == pytest.approx(1 / 3)
    assert m.auc([1, 2], [True, True]) is None and m.ks([1, 2], [False, False]) is None
    with pytest.raises(ValueError, match="2 scores but 1 outcomes"):
        m.auc([1, 2], [True])


def test_tiers_and_calibration() -> None:
    tiers = m.late_rate_by_tier(
        ["LOW", "LOW", "HIGH", "HIGH", "LOW"], [False, True, True, True, False], ["LOW", "MEDIUM", "HIGH"]
    )
    assert [(g.name, g.observations, g.late_rate) for g in tiers] == [
        ("LOW", 3, pytest.approx(1 / 3)),
        ("MEDIUM", 0, None),
        ("HIGH", 2, 1.0),
    ]
    assert m.rises_monotonically(tiers)
    assert not m.rises_monotonically([m.Group("A", 5, 0.5), m.Group("B", 5, 0.2)])
    bands = m.calibration([0, 9, 10, 95, 100], [False, False, True, True, False])
    assert [(g.name, g.observations, g.avg_score, g.late_rate) for g in bands] == [
        ("0-9", 2, 4.5, 0.0),
        ("10-19", 1, 10.0, 1.0),
        ("90-100", 2, 97.5, 0.5),
    ]


def test_score_dates_step_through_the_range_and_refuse_an_unknown_future() -> None:
    latest = date(2026, 11, 20)
    assert score_dates(date(2026, 9, 1), date(2026, 9, 20), 7, 60, latest) == [
        date(2026, 9, 1),
        date(2026, 9, 8),
        date(2026, 9, 15),
    ]
    assert score_dates(date(2026, 9, 21), date(2026, 9, 21), 7, 60, latest) == [date(2026, 9, 21)]
    with pytest.raises(
        UsageError,
        match=r"score date 2026-09-22 \+ 60 days horizon = 2026-11-21 reaches past the "
        r"lake's latest data \(2026-11-20\); the latest score date this horizon allows is 2026-09-21",
    ):
        score_dates(date(2026, 9, 1), date(2026, 9, 22), 7, 60, latest)
    with pytest.raises(UsageError, match="--from 2026-09-02 is after --to 2026-09-01"):
        score_dates(date(2026, 9, 2), date(2026, 9, 1), 7, 60, latest)


def test_tier_changes_list_new_and_moved_accounts_highest_tier_first() -> None:
    def row(score: int, tier: str, **points: int) -> dict[str, object]:
        return {"account_name": None, "risk_score": score, "risk_tier": tier, "risk_points": points}

    earlier = {"A": row(10, "LOW", late=5), "B": row(45, "HIGH", late=20, overdue=10), "C": row(30, "MEDIUM")}
    later = {
        "A": row(25, "MEDIUM", late=15, overdue=5),  # up: late +10, overdue +5
        "B": row(38, "MEDIUM", late=20, overdue=3),  # down
        "C": row(31, "MEDIUM"),  # same tier: not listed
        "D": row(70, "CRITICAL", late=30),  # new
    }
    found = tier_changes(earlier, later, ["LOW", "MEDIUM", "HIGH", "CRITICAL"])
    assert [(c.account_id, c.before, c.now) for c in found] == [
        ("D", None, (70, "CRITICAL")),
        ("A", (10, "LOW"), (25, "MEDIUM")),  # the larger rise first within a tier
        ("B", (45, "HIGH"), (38, "MEDIUM")),
    ]
    assert found[1].moved == [("late", 5, 15), ("overdue", 0, 5)] and found[2].moved == [("overdue", 10, 3)]
    text = render(found, ["E"], date(2026, 9, 1), date(2026, 9, 2))
    assert "TIER CHANGES 2026-09-01 -> 2026-09-02: 2 changed tier (1 up, 1 down), 1 new, 1 no longer scored" in text
    assert "no longer scored: E" in text and "late 5->15, overdue 0->5" in text
