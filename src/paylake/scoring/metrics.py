"""How well a risk score ranks accounts by what then happened: AUC, KS, late rate per tier, calibration; and how
well a probability of paying late matches the late rate observed (Brier score, deciles).

Pure functions of ``(score, outcome)`` pairs; the backtest (:mod:`paylake.scoring.backtest`) collects
them. AUC is the Mann-Whitney statistic with ties counted half, so a constant score gives 0.5 and a perfectly
separating score 1.0. KS is the largest gap between the cumulative score distributions of late and on-time
accounts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby


@dataclass(frozen=True)
class Group:
    """Observations of one tier or score band and the share of them that were late."""

    name: str
    observations: int
    late_rate: float | None
    avg_score: float | None = None


def _check(scores: Sequence[object], outcomes: Sequence[bool]) -> None:
    if len(scores) != len(outcomes):
        raise ValueError(f"{len(scores)} scores but {len(outcomes)} outcomes")


def _classes(scores: Sequence[float], outcomes: Sequence[bool]) -> tuple[int, int] | None:
    """(late, on time) counts, or None when one class is missing (a ranking metric is then undefined)."""
    _check(scores, outcomes)
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    return (positives, negatives) if positives and negatives else None


def auc(scores: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Probability that a late account scores higher than an on-time one (ties count half); None without both."""
    classes = _classes(scores, outcomes)
    if classes is None:
        return None
    positives, negatives = classes
    ordered = sorted(zip(scores, outcomes, strict=True), key=lambda pair: pair[0])
    rank_sum, position = 0.0, 0
    for _, tied in groupby(ordered, key=lambda pair: pair[0]):
        group = list(tied)
        average_rank = position + (len(group) + 1) / 2  # ranks are 1-based
        rank_sum += average_rank * sum(1 for _, late in group if late)
        position += len(group)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def ks(scores: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Kolmogorov-Smirnov statistic: max |share of late accounts - share of on-time ones| scoring at least s."""
    classes = _classes(scores, outcomes)
    if classes is None:
        return None
    positives, negatives = classes
    ordered = sorted(zip(scores, outcomes, strict=True), key=lambda pair: -pair[0])
    late_seen = on_time_seen = 0
    best = 0.0
    for _, tied in groupby(ordered, key=lambda pair: pair[0]):
        for _, late in tied:
            late_seen += late
            on_time_seen += not late
        best = max(best, abs(late_seen / positives - on_time_seen / negatives))
    return best


def _group(name: str, members: Sequence[tuple[float, bool]], digits: int = 2) -> Group:
    if not members:
        return Group(name, 0, None, None)
    late = sum(1 for _, outcome in members if outcome)
    average = sum(score for score, _ in members) / len(members)
    return Group(name, len(members), late / len(members), round(average, digits))


def late_rate_by_tier(tiers: Sequence[str], outcomes: Sequence[bool], order: Sequence[str]) -> list[Group]:
    """Observations and late rate of each tier, in ``order`` (tiers without observations included)."""
    _check(tiers, outcomes)
    return [
        _group(name, [(0.0, late) for tier, late in zip(tiers, outcomes, strict=True) if tier == name])
        for name in order
    ]


def rises_monotonically(groups: Sequence[Group]) -> bool:
    """True when the late rate never falls from one group to the next (groups without observations skipped)."""
    rates = [g.late_rate for g in groups if g.late_rate is not None]
    return all(a <= b for a, b in zip(rates, rates[1:], strict=False))


def calibration(scores: Sequence[float], outcomes: Sequence[bool], band_width: int = 10) -> list[Group]:
    """Observations, average score and late rate per score band (0-9, 10-19, ... the last band ends at 100)."""
    _check(scores, outcomes)
    last = (100 - 1) // band_width  # a score of 100 joins the last band
    members: dict[int, list[tuple[float, bool]]] = {}
    for score, late in zip(scores, outcomes, strict=True):
        members.setdefault(min(int(score // band_width), last), []).append((score, late))
    return [
        _group(f"{b * band_width}-{100 if b == last else (b + 1) * band_width - 1}", members[b])
        for b in sorted(members)
    ]


def brier(probabilities: Sequence[float], outcomes: Sequence[bool]) -> float | None:
    """Mean squared gap between each probability and its outcome (0 is perfect; None without observations)."""
    _check(probabilities, outcomes)
    if not outcomes:
        return None
    return sum((p - float(late)) ** 2 for p, late in zip(probabilities, outcomes, strict=True)) / len(outcomes)


def deciles(probabilities: Sequence[float], outcomes: Sequence[bool], groups: int = 10) -> list[Group]:
    """The observations in ``groups`` equal-count groups by ascending probability (ties kept together, so a group
    may be larger or empty and left out): observations, mean predicted probability (``avg_score``) and the late
    rate observed."""
    _check(probabilities, outcomes)
    ordered = sorted(zip(probabilities, outcomes, strict=True), key=lambda pair: pair[0])
    members: dict[int, list[tuple[float, bool]]] = {}
    position = 0
    for _, tied in groupby(ordered, key=lambda pair: pair[0]):
        block = list(tied)
        members.setdefault(min(groups - 1, position * groups // len(ordered)), []).extend(block)
        position += len(block)
    found = []
    for index in sorted(members):
        group = _group(str(index + 1), members[index])
        found.append(
            Group(
                group.name,
                group.observations,
                group.late_rate,
                round(sum(p for p, _ in members[index]) / group.observations, 4),
            )
        )
    return found
