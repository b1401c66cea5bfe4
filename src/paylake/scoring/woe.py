"""Monotone binning and weight of evidence: how `paylake train` turns one feature's values into evidence of late
payment. Pure functions of ``(value, late)`` pairs.

A feature is cut into bins whose late rate rises with the value (adjacent bins that break the order are pooled,
as isotonic regression does), each holding at least ``min_share`` of the observations. A bin's weight of evidence
is ``ln(share of the late observations in it / share of the on-time ones)``, with half an observation added to
each count so that an all-late or all-on-time bin stays finite. The information value sums, over the bins,
``(late share - on-time share) x WoE``: under 0.02 a feature is commonly taken to carry no useful evidence.
Observations without a value form a separate ``missing`` group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Bin:
    """Values from ``min`` (None: from the lowest value) up to the next bin's ``min``."""

    min: float | None
    observations: int
    late: int
    woe: float = 0.0

    @property
    def late_rate(self) -> float:
        return self.late / self.observations


@dataclass(frozen=True)
class Binning:
    """A feature's bins (ascending, late rate non-decreasing), its missing group and its information value."""

    bins: tuple[Bin, ...]
    missing: Bin | None
    information_value: float

    def woe_of(self, value: float | None) -> float:
        """The weight of evidence of one value (0, no evidence, for a missing value never seen in training)."""
        if value is None:
            return self.missing.woe if self.missing is not None else 0.0
        chosen = self.bins[0]
        for candidate in self.bins[1:]:
            if candidate.min is not None and value >= candidate.min:
                chosen = candidate
        return chosen.woe


def _merge(a: Bin, b: Bin) -> Bin:
    return Bin(a.min, a.observations + b.observations, a.late + b.late)


def _initial_bins(pairs: Sequence[tuple[float, bool]], candidates: int) -> list[Bin]:
    """One bin per distinct value, or per quantile when there are more than ``candidates`` distinct values."""
    ordered = sorted(pairs)
    distinct = sorted({v for v, _ in ordered})
    if len(distinct) > candidates:
        cuts = sorted({ordered[(len(ordered) * i) // candidates][0] for i in range(candidates)})
    else:
        cuts = distinct
    bins: list[Bin] = []
    position = 0
    for index, cut in enumerate(cuts):
        upper = cuts[index + 1] if index + 1 < len(cuts) else math.inf
        members = 0
        late = 0
        while position < len(ordered) and ordered[position][0] < upper:
            members += 1
            late += ordered[position][1]
            position += 1
        bins.append(Bin(None if index == 0 else cut, members, late))
    return [b for b in bins if b.observations]


def _pool_violators(bins: list[Bin]) -> list[Bin]:
    """Merge adjacent bins until the late rate never falls from one bin to the next."""
    pooled: list[Bin] = []
    for current in bins:
        pooled.append(current)
        while len(pooled) > 1 and pooled[-2].late_rate >= pooled[-1].late_rate:
            last = pooled.pop()
            pooled[-1] = _merge(pooled[-1], last)
    return pooled


def _merge_closest(bins: list[Bin]) -> list[Bin]:
    """Merge the adjacent pair whose late rates are closest."""
    gaps = [bins[i + 1].late_rate - bins[i].late_rate for i in range(len(bins) - 1)]
    i = gaps.index(min(gaps))
    return [*bins[:i], _merge(bins[i], bins[i + 1]), *bins[i + 2 :]]


def _woe(late: int, on_time: int, total_late: int, total_on_time: int) -> float:
    return math.log(((late + 0.5) / (total_late + 1)) / ((on_time + 0.5) / (total_on_time + 1)))


def monotone_bins(
    values: Sequence[float | None],
    late: Sequence[bool],
    max_bins: int = 6,
    min_share: float = 0.05,
    candidates: int = 20,
) -> Binning:
    """Bin a feature so that the late rate rises with its value.

    Raises:
        ValueError: the sequences differ in length, or the observations lack a late or an on-time one.
    """
    if len(values) != len(late):
        raise ValueError(f"{len(values)} values but {len(late)} outcomes")
    total_late = sum(late)
    total_on_time = len(late) - total_late
    if not total_late or not total_on_time:
        raise ValueError("binning needs both late and on-time observations")
    present = [(float(v), bool(y)) for v, y in zip(values, late, strict=True) if v is not None]
    absent = [bool(y) for v, y in zip(values, late, strict=True) if v is None]
    bins = _pool_violators(_initial_bins(present, candidates)) if present else []
    smallest = max(1, math.ceil(min_share * len(present)))
    while len(bins) > 1 and (len(bins) > max_bins or min(b.observations for b in bins) < smallest):
        bins = _merge_closest(bins)

    def weighed(b: Bin) -> Bin:
        return Bin(b.min, b.observations, b.late, _woe(b.late, b.observations - b.late, total_late, total_on_time))

    weighed_bins = tuple(weighed(b) for b in bins)
    missing = weighed(Bin(None, len(absent), sum(absent))) if absent else None
    groups = [*weighed_bins, *([missing] if missing is not None else [])]
    information = sum((b.late / total_late - (b.observations - b.late) / total_on_time) * b.woe for b in groups)
    return Binning(weighed_bins, missing, information)
