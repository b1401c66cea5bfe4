"""`paylake train`: fit the risk scorecard from the lake's own history, out of time.

The training rows are the backtest's observations (:mod:`paylake.scoring.backtest`): each account on each score
date, its feature values computed from bronze history as known on that date (nothing later leaks in), and whether
an invoice due in the following ``horizon_days`` was paid late or not at all. The score dates of the later half are
held out; the card is fitted on the earlier half and judged on the later.

For each feature of the configured card (the candidates, with their reasons and formats): monotone bins whose
late rate rises with the value, and their weight of evidence (:mod:`paylake.scoring.woe`). Features under
:data:`MIN_INFORMATION_VALUE` are dropped. A logistic regression (Spark MLlib) on the weights of evidence gives each
feature a coefficient; a feature whose coefficient is not positive beside the others (its evidence is carried by
correlated ones) is dropped and the rest refitted. Points follow standard scorecard scaling: a bin earns
``coefficient x WoE`` in log-odds, shifted so that each feature's lowest bin earns 0 and scaled so that the card's
points add up to :data:`TOTAL_POINTS`; the score (points / attainable x 100) is then linear in the log-odds of paying
late, and the card's calibration turns points back into that probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from paylake.config.loader import LocalMetadataSource
from paylake.errors import UsageError
from paylake.frames import rows_frame
from paylake.gold.scorecard import (
    Calibration,
    DroppedFeature,
    ScoreBin,
    Scorecard,
    ScoreFeature,
    TrainingSummary,
)
from paylake.runtime.context import PaylakeContext
from paylake.scoring import metrics
from paylake.scoring.backtest import Observation, collect, out_of_time_split, score_dates
from paylake.scoring.scores import latest_data_date
from paylake.scoring.stored import scores_table
from paylake.scoring.woe import Binning, monotone_bins

MIN_INFORMATION_VALUE = 0.02
TOTAL_POINTS = 100
MAX_BINS = 5  # per feature; with at least MIN_BIN_SHARE of the training rows each
MIN_BIN_SHARE = 0.05
REGULARISATION = 0.01  # L2, on weights of evidence (all on one log-odds scale, so not standardised)


@dataclass(frozen=True)
class Fitted:
    """A fitted card and the YAML file it belongs in."""

    card: Scorecard
    table_file: str  # metadata-relative path of the scores table's YAML


def logistic(spark: SparkSession, rows: Sequence[Sequence[float]], late: Sequence[bool]) -> tuple[float, list[float]]:
    """Intercept and coefficients of a logistic regression of ``late`` on ``rows`` (Spark MLlib, lightly
    L2-regularised for stability with correlated features)."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.functions import array_to_vector

    data = rows_frame(
        spark, [(list(r), float(y)) for r, y in zip(rows, late, strict=True)], "x array<double>, label double"
    )
    frame = data.select(array_to_vector(F.col("x")).alias("features"), "label")
    model = LogisticRegression(maxIter=200, regParam=REGULARISATION, standardization=False).fit(frame)
    return float(model.intercept), [float(c) for c in model.coefficients]


def fitted_feature(template: ScoreFeature, binning: Binning, coefficient: float, scale: float) -> ScoreFeature | None:
    """``template`` with the points of its fitted bins (None when every bin rounds to no points)."""
    base = coefficient * binning.bins[0].woe
    bins: list[ScoreBin] = []
    for fitted_bin in binning.bins[1:]:
        points = round(scale * (coefficient * fitted_bin.woe - base))
        if points > (bins[-1].points if bins else 0) and fitted_bin.min is not None:
            bins.append(ScoreBin(min=round(fitted_bin.min, 6), points=points))
    missing = round(scale * (coefficient * binning.missing.woe - base)) if binning.missing is not None else 0
    if not bins:
        return None
    return ScoreFeature.model_validate({**template.model_dump(), "bins": bins, "missing_points": max(0, missing)})


def _raw_spread(binning: Binning, coefficient: float) -> float:
    """The most log-odds one feature adds above its lowest bin."""
    groups = [*binning.bins, *([binning.missing] if binning.missing is not None else [])]
    return max(coefficient * (g.woe - binning.bins[0].woe) for g in groups)


def card_points(card: Scorecard, values: Sequence[float | None]) -> int:
    """The points ``card`` gives one observation's feature values (in the card's feature order)."""
    return sum(f.points_for(v) for f, v in zip(card.features, values, strict=True))


def _dropped(feature: ScoreFeature, why: str) -> DroppedFeature:
    return DroppedFeature(feature=feature.feature, reason=feature.reason, format=feature.format, why=why)


def fit_card(
    spark: SparkSession,
    template: Scorecard,
    train: Sequence[Observation],
    held_out: Sequence[Observation],
    horizon_days: int,
    note: str | None = None,
) -> Scorecard:
    """Fit ``template``'s features (its candidates) on ``train`` (observations carry their values in the
    template's order) and judge the result on ``held_out``.

    Raises:
        UsageError: the training rows lack a late or an on-time observation, or no feature carries evidence.
    """
    late = [o.late for o in train]
    if all(late) or not any(late):
        raise UsageError(f"training needs late and on-time observations; got {sum(late)} late of {len(late)}")
    dropped: list[DroppedFeature] = []
    binnings: dict[int, Binning] = {}
    for index, feature in enumerate(template.features):
        binning = monotone_bins([o.features[index] for o in train], late, MAX_BINS, MIN_BIN_SHARE)
        if binning.information_value < MIN_INFORMATION_VALUE:
            value = binning.information_value
            reason = f"information value {value:.3f} < {MIN_INFORMATION_VALUE}: the late rate hardly rises with it"
            dropped.append(_dropped(feature, reason))
        else:
            binnings[index] = binning
    kept = list(binnings)
    while True:
        if not kept:
            raise UsageError("no candidate feature carries evidence of late payment in the training rows")
        rows = [[binnings[i].woe_of(o.features[i]) for i in kept] for o in train]
        intercept, coefficients = logistic(spark, rows, late)
        weakest = min(range(len(kept)), key=lambda k: coefficients[k])
        if coefficients[weakest] > 0:
            break
        reason = f"coefficient {coefficients[weakest]:.3f} <= 0 beside the others (correlated features carry it)"
        dropped.append(_dropped(template.features[kept[weakest]], reason))
        kept.pop(weakest)
    coefficient = dict(zip(kept, coefficients, strict=True))
    scale = TOTAL_POINTS / sum(_raw_spread(binnings[i], coefficient[i]) for i in kept)
    features: list[ScoreFeature] = []
    for i in kept:
        fitted = fitted_feature(template.features[i], binnings[i], coefficient[i], scale)
        if fitted is None:
            dropped.append(_dropped(template.features[i], "its bins round to no points"))
        else:
            features.append(fitted)
    uncalibrated = Scorecard.model_validate({**template.model_dump(), "features": features, "training": None})
    positions = {f.feature: i for i, f in enumerate(template.features)}

    def points(o: Observation) -> int:
        return card_points(uncalibrated, [o.features[positions[f.feature]] for f in uncalibrated.features])

    # Calibrated on the whole points, as scored: rounding and the floor at 0 points are part of what it maps.
    offset, (slope,) = logistic(spark, [[points(o)] for o in train], late)
    calibration = Calibration(horizon_days=horizon_days, intercept=round(offset, 6), log_odds_per_point=round(slope, 6))
    card = Scorecard.model_validate({**uncalibrated.model_dump(), "calibration": calibration})

    def auc(rows: Sequence[Observation]) -> float | None:
        value = metrics.auc([points(o) for o in rows], [o.late for o in rows])
        return None if value is None else round(value, 4)

    brier = metrics.brier([calibration.probability_of(points(o)) for o in held_out], [o.late for o in held_out])
    summary = TrainingSummary(
        note=note,
        score_dates=sorted({o.score_date for o in train}),
        out_of_time_dates=sorted({o.score_date for o in held_out}),
        observations=len(train),
        late=sum(late),
        intercept=round(intercept, 6),
        coefficients={f.feature: round(coefficient[positions[f.feature]], 6) for f in card.features},
        information_values={
            template.features[i].feature: round(b.information_value, 4) for i, b in sorted(binnings.items())
        },
        dropped=dropped,
        auc_training=auc(train),
        auc_out_of_time=auc(held_out),
        brier_out_of_time=None if brier is None else round(brier, 4),
    )
    return Scorecard.model_validate({**card.model_dump(), "training": summary})


def train(
    context: PaylakeContext, start: date, end: date, horizon_days: int, step_days: int, note: str | None = None
) -> Fitted:
    """Fit the configured scores table's card on the score dates ``start``..``end`` (every ``step_days``).

    Raises:
        UsageError: bad range, a horizon past the lake's latest data, or nothing to fit.
    """
    latest = latest_data_date(context.store)
    dates = score_dates(start, end, step_days, horizon_days, latest)
    split = out_of_time_split(dates)
    collected = collect(context, dates, horizon_days, latest, candidates=True)
    card, seen = collected.card, collected.labelled
    template = Scorecard.model_validate({**card.model_dump(), "features": card.candidates()})
    train_rows = [o for o in seen if split is None or o.score_date < split]
    held_out = [o for o in seen if split is not None and o.score_date >= split]
    card = fit_card(context.spark, template, train_rows, held_out, horizon_days, note)
    table = scores_table(context.derived("gold")).config.table
    return Fitted(card, f"gold/{table}/{table}.yaml")


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written on one line."""


class _CardDumper(yaml.SafeDumper):
    pass


_CardDumper.add_representer(
    _Flow, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def card_yaml(card: Scorecard) -> str:
    """The card as YAML in the format of the metadata: one line per bin and tier."""
    data = card.model_dump(mode="python", exclude_none=True)
    for feature in data["features"]:
        feature["bins"] = [_Flow(b) for b in feature["bins"]]
    data["tiers"] = [_Flow(t) for t in data["tiers"]]
    return yaml.dump(data, Dumper=_CardDumper, sort_keys=False, width=120, allow_unicode=True)


def with_card(table_yaml: str, card: Scorecard, file: str) -> str:
    """``table_yaml`` with its ``parameters.scorecard`` replaced by ``card``; the rest of the file, comments
    included, as it was.

    Raises:
        UsageError: the file has no ``parameters.scorecard`` mapping.
    """
    document = yaml.compose(table_yaml, Loader=yaml.SafeLoader)
    node = None
    if isinstance(document, yaml.MappingNode):
        parameters = next((v for k, v in document.value if k.value == "parameters"), None)
        if isinstance(parameters, yaml.MappingNode):
            node = next((v for k, v in parameters.value if k.value == "scorecard"), None)
    if not isinstance(node, yaml.MappingNode) or node.flow_style:
        raise UsageError(f"{file}: parameters.scorecard is not a block mapping to replace")
    lines = table_yaml.splitlines(keepends=True)
    first, indent = node.start_mark.line, node.start_mark.column
    last = node.end_mark.line if node.end_mark.column == 0 else node.end_mark.line + 1
    block = "".join(" " * indent + line if line.strip() else line for line in card_yaml(card).splitlines(keepends=True))
    updated = "".join(lines[:first]) + block + "".join(lines[last:])
    if yaml.safe_load(updated)["parameters"]["scorecard"] != yaml.safe_load(card_yaml(card)):
        raise UsageError(f"{file}: the fitted card could not be placed under parameters.scorecard; give --out")
    return updated


def write_card(context: PaylakeContext, fitted: Fitted, out: Path | None) -> Path:
    """Write the scores table's YAML with the fitted card to ``out`` (default: in place, in local metadata).

    Raises:
        UsageError: the metadata is not a local folder and no ``out`` was given.
    """
    source = context.metadata
    if out is None:
        if not isinstance(source, LocalMetadataSource):
            raise UsageError(f"the metadata is not a local folder; give --out for {fitted.table_file}")
        out = source.root / fitted.table_file
    out.write_text(with_card(source.read_text(fitted.table_file), fitted.card, source.display(fitted.table_file)))
    return out


def render_training(card: Scorecard, written: Path) -> str:
    """The printable summary of a fit."""
    summary, calibration = card.training, card.calibration
    assert summary is not None and calibration is not None  # set by fit_card
    width = 100
    share = summary.late / summary.observations
    lines = [
        "=" * width,
        "RISK SCORECARD FITTED",
        "=" * width,
        f"Trained on {summary.observations} account-dates ({share:.0%} late within {calibration.horizon_days} days), "
        f"score dates {', '.join(map(str, summary.score_dates))}",
        f"Held out: {', '.join(map(str, summary.out_of_time_dates)) or 'none'}",
        "-" * width,
        f"{'feature':<36}{'IV':>7}{'coefficient':>13}{'max points':>12}",
    ]
    for feature in card.features:
        name = feature.feature
        lines.append(
            f"{name:<36}{summary.information_values[name]:>7.3f}{summary.coefficients[name]:>13.3f}"
            f"{feature.max_points:>12}"
        )
    lines += [f"dropped {d.feature}: {d.why}" for d in summary.dropped]
    auc_oot = "-" if summary.auc_out_of_time is None else f"{summary.auc_out_of_time:.3f}"
    brier = "-" if summary.brier_out_of_time is None else f"{summary.brier_out_of_time:.3f}"
    lines += [
        "-" * width,
        f"AUC training {summary.auc_training:.3f}, out of time {auc_oot}; Brier out of time {brier}",
        f"{calibration.column} = 1 / (1 + exp(-({calibration.intercept:.4f} + {calibration.log_odds_per_point:.5f} "
        f"x points)))",
        f"Written to {written}: review the diff, then `paylake run gold` scores with it",
        "=" * width,
    ]
    return "\n".join(lines)
