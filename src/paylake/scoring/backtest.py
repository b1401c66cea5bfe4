"""Backtest the risk score: score past dates from what was known then, compare with what happened next.

For each score date the silver features and gold scores are computed in memory from bronze history as of that
date (:class:`~paylake.scoring.evaluate.Evaluator`), so no stored gold history is needed and nothing
later leaks in. The outcome of an account on a score date comes from the lake's latest data: did any of its
invoices due in the next ``horizon_days`` get paid late, or is it still unpaid past due? Accounts with nothing
due in the horizon have no outcome and are left out of the ranking metrics; every scored account counts in the
stability of the scores (:mod:`paylake.scoring.stability`). A calibrated card is also judged on its probability
(Brier score, deciles). `paylake train` fits the card on the same observations (:mod:`paylake.scoring.train`).

Two challengers can run: a logistic regression (Spark MLlib) on the scorecard's features, trained on the earlier
half of the score dates, and the card's single best feature on those dates; all are then compared on the later
half (out of time).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.contract import BACKTEST_RESULTS, OPS_SCHEMAS
from paylake.errors import UsageError
from paylake.frames import arrow_rows
from paylake.gold.scorecard import Scorecard
from paylake.runtime.context import PaylakeContext
from paylake.scoring import metrics
from paylake.scoring.evaluate import Evaluator
from paylake.scoring.metrics import Group
from paylake.scoring.scores import evaluator, latest_data_date
from paylake.scoring.stability import Stability, busy_accounts, stability
from paylake.scoring.stored import scorecard_of, scores_table


@dataclass(frozen=True)
class Observation:
    """One account on one score date: its score, tier, feature values and outcome."""

    score_date: date
    account_id: str
    score: float
    tier: str
    late: bool
    features: tuple[float | None, ...] = ()
    probability: float | None = None


@dataclass(frozen=True)
class ModelResult:
    """How one model ranked the observations it was evaluated on."""

    model: str
    evaluated_on: str
    observations: int
    positives: int
    auc: float | None
    ks: float | None
    tiers: Sequence[Group] = ()
    calibration: Sequence[Group] = ()
    brier: float | None = None
    deciles: Sequence[Group] = ()  # by predicted probability: avg_score is the mean probability

    @property
    def monotonic(self) -> bool | None:
        """Whether the late rate rises from the lowest tier to the highest (None without tiers)."""
        return metrics.rises_monotonically(self.tiers) if self.tiers else None


@dataclass
class BacktestReport:
    """Everything a backtest run found."""

    run_id: str
    start: date
    end: date
    horizon_days: int
    step_days: int
    latest: date
    score_dates: list[date]
    results: list[ModelResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stability: Stability | None = None


def score_dates(start: date, end: date, step_days: int, horizon_days: int, latest: date) -> list[date]:
    """The score dates from ``start`` to ``end`` every ``step_days``.

    Raises:
        UsageError: the range is empty or backwards, or its horizon reaches past the lake's latest data.
    """
    if step_days < 1 or horizon_days < 1:
        raise UsageError("--step-days and --horizon-days must be at least 1")
    if start > end:
        raise UsageError(f"--from {start} is after --to {end}")
    last_allowed = latest - timedelta(days=horizon_days)
    if end > last_allowed:
        raise UsageError(
            f"score date {end} + {horizon_days} days horizon = {end + timedelta(days=horizon_days)} reaches past "
            f"the lake's latest data ({latest}); the latest score date this horizon allows is {last_allowed}"
        )
    return [start + timedelta(days=d) for d in range(0, (end - start).days + 1, step_days)]


def outcomes(invoices: DataFrame, score_date: date, horizon_days: int) -> DataFrame:
    """Per account: ``late`` = any invoice due in (score date, + horizon] was paid late or is still overdue.

    Args:
        invoices: silver.invoice_details as of the lake's latest date (what eventually happened).
    """
    horizon_end = score_date + timedelta(days=horizon_days)
    due = (F.col("due_date") > F.lit(score_date)) & (F.col("due_date") <= F.lit(horizon_end))
    return invoices.where(due).groupBy("account_id").agg(F.max(F.col("is_late").cast("int")).alias("late"))


def out_of_time_split(dates: Sequence[date]) -> date | None:
    """The first score date of the later half, held out of training (None with fewer than two dates)."""
    return dates[(len(dates) + 1) // 2] if len(dates) > 1 else None


@dataclass(frozen=True)
class Collected:
    """What a backtest or a fit reads from the lake: the card, the accounts with an outcome on each date
    (:func:`observations`), every account's score and tier on each date, and the accounts with an event of their
    own between consecutive dates."""

    card: Scorecard
    labelled: list[Observation]
    scored: dict[date, dict[str, tuple[float, str]]]
    busy: dict[date, set[str]]


def observations(
    evaluate: Evaluator,
    table: str,
    truth: DataFrame,
    dates: Sequence[date],
    horizon_days: int,
    card: Scorecard,
    features: Sequence[str],
) -> tuple[list[Observation], dict[date, dict[str, tuple[float, str]]]]:
    """Each account with an outcome on each date: its score, tier, probability (a calibrated card) and the
    values of ``features`` as known on that date (None when unknown); and every scored account's score and tier
    per date."""
    found = []
    scored: dict[date, dict[str, tuple[float, str]]] = {}
    probability = F.col(card.calibration.column) if card.calibration is not None else F.lit(None).cast("double")
    values = [F.col(f).cast("double").alias(f) for f in features]
    for day in dates:
        scores = evaluate.table(table, day).select(
            "account_id", "risk_score", "risk_tier", probability.alias("p"), *values
        )
        scored[day] = {}
        for row in scores.join(outcomes(truth, day, horizon_days), "account_id", "left").collect():
            scored[day][row["account_id"]] = (float(row["risk_score"]), row["risk_tier"])
            if row["late"] is None:
                continue  # nothing due within the horizon: no outcome
            found.append(
                Observation(
                    day,
                    row["account_id"],
                    float(row["risk_score"]),
                    row["risk_tier"],
                    bool(row["late"]),
                    tuple(row[f] for f in features),
                    row["p"],
                )
            )
    return found, scored


def evaluate_scores(
    model: str, evaluated_on: str, observations: Sequence[Observation], card: Scorecard | None
) -> ModelResult:
    """Metrics of the observations' scores; tiers and calibration when the scores are the scorecard's, the Brier
    score and deciles when they carry a probability."""
    scores = [o.score for o in observations]
    late = [o.late for o in observations]
    tiers: Sequence[Group] = ()
    bands: Sequence[Group] = ()
    if card is not None:
        tiers = metrics.late_rate_by_tier([o.tier for o in observations], late, [t.name for t in card.tiers])
        bands = metrics.calibration(scores, late)
    probabilities = [o.probability for o in observations if o.probability is not None]
    brier, deciles = None, []
    if observations and len(probabilities) == len(observations):
        brier, deciles = metrics.brier(probabilities, late), metrics.deciles(probabilities, late)
    return ModelResult(
        model,
        evaluated_on,
        len(observations),
        sum(late),
        metrics.auc(scores, late),
        metrics.ks(scores, late),
        tiers,
        bands,
        brier,
        deciles,
    )


def _challenger(
    context: PaylakeContext, train: Sequence[Observation], test: Sequence[Observation]
) -> list[Observation]:
    """The test observations rescored by a logistic regression fitted on ``train`` (probability x 100).

    The fitted model scores the test rows here, from its intercept and coefficients (on the features' own scale):
    a few thousand rows need no Spark job, and ``model.transform`` failed with "Task not serializable
    (ObservationManager)" in a session that had run ``DataFrame.observe`` before."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.dense([v or 0.0 for v in o.features]), float(o.late)) for o in train]
    frame = context.spark.createDataFrame(rows, ["features", "label"])
    model = LogisticRegression(maxIter=100, regParam=0.01, standardization=True).fit(frame)
    weights, intercept = [float(w) for w in model.coefficients], float(model.intercept)

    def probability(o: Observation) -> float:
        log_odds = intercept + sum(w * (v or 0.0) for w, v in zip(weights, o.features, strict=True))
        odds = math.exp(-abs(log_odds))  # never overflows
        return 1 / (1 + odds) if log_odds >= 0 else odds / (1 + odds)

    return [
        Observation(o.score_date, o.account_id, round(100 * p, 4), "", o.late, o.features, p)
        for o, p in ((o, probability(o)) for o in test)
    ]


def _best_feature(
    card: Scorecard, train: Sequence[Observation], test: Sequence[Observation]
) -> tuple[str, list[Observation]]:
    """The card's feature whose value alone ranks ``train`` best (AUC; an unknown value ranks lowest), and the
    ``test`` observations scored by that value."""

    def values(rows: Sequence[Observation], index: int) -> list[float]:
        return [-math.inf if (value := o.features[index]) is None else float(value) for o in rows]

    late = [o.late for o in train]
    best = max(range(len(card.features)), key=lambda i: metrics.auc(values(train, i), late) or 0.0)
    scored = [
        Observation(o.score_date, o.account_id, value, "", o.late, o.features)
        for o, value in zip(test, values(test, best), strict=True)
    ]
    return card.features[best].feature, scored


def collect(
    context: PaylakeContext, dates: Sequence[date], horizon_days: int, latest: date, candidates: bool = False
) -> Collected:
    """The configured card and what it scored on ``dates``, outcomes per the data up to ``latest``; with the values
    of the card's features, or of its ``candidates`` (those a fit starts from)."""
    spec = scores_table(context.derived("gold"))
    card = scorecard_of(spec)
    features = [f.feature for f in (card.candidates() if candidates else card.features)]
    evaluate = evaluator(context)
    columns = ("account_id", "invoice_date", "due_date", "paid_date", "is_late")
    truth = evaluate.table("silver.invoice_details", latest).select(*columns).persist()
    try:
        table = f"gold.{spec.config.table}"
        labelled, scored = observations(evaluate, table, truth, dates, horizon_days, card, features)
        busy = busy_accounts(truth, evaluate.table("bronze.accounts", latest), dates)
        return Collected(card, labelled, scored, busy)
    finally:
        truth.unpersist()


def run_backtest(
    context: PaylakeContext,
    start: date,
    end: date,
    horizon_days: int,
    step_days: int,
    run_id: str,
    challenger: bool = False,
) -> BacktestReport:
    """Backtest the configured scorecard over ``start``..``end`` and append the results to ops.backtest_results.

    Raises:
        UsageError: bad range, or a horizon past the lake's latest data.
    """
    latest = latest_data_date(context.store)
    dates = score_dates(start, end, step_days, horizon_days, latest)
    collected = collect(context, dates, horizon_days, latest)
    card, seen = collected.card, collected.labelled
    report = BacktestReport(run_id, start, end, horizon_days, step_days, latest, dates)
    report.stability = stability(collected.scored, collected.busy, step_days)
    report.results.append(evaluate_scores("scorecard", "all score dates", seen, card))
    if challenger:
        split = out_of_time_split(dates)
        train = [o for o in seen if split and o.score_date < split]
        test = [o for o in seen if split and o.score_date >= split]
        if not train or not test or len({o.late for o in train}) < 2:
            report.notes.append("challenger skipped: it needs two or more score dates and both outcomes to train on")
        else:
            label = f"out of time, from {split}"
            report.notes.append(f"challenger trained on the score dates before {split}; both models tested from it")
            report.results.append(evaluate_scores("scorecard", label, test, card))
            report.results.append(
                evaluate_scores("logistic_regression", label, _challenger(context, train, test), None)
            )
            feature, by_feature = _best_feature(card, train, test)
            report.notes.append(f"{feature}: the card's feature that ranks the earlier score dates best on its own")
            report.results.append(evaluate_scores(f"{feature} alone", label, by_feature, None))
    _record(context, report)
    return report


def _record(context: PaylakeContext, report: BacktestReport) -> None:
    created = datetime.now(timezone.utc).replace(tzinfo=None)
    quiet = report.stability
    # Stability is the configured card's, on the row of all score dates.
    steady = (quiet.quiet, quiet.tier_change_share, quiet.median_abs_change) if quiet else (None, None, None)
    rows = [
        (
            report.run_id,
            r.model,
            r.evaluated_on,
            report.start,
            report.end,
            report.horizon_days,
            report.step_days,
            report.latest,
            len(report.score_dates),
            r.observations,
            r.positives,
            r.auc,
            r.ks,
            r.monotonic,
            [(g.name, g.observations, g.late_rate) for g in r.tiers],
            [(g.name, g.observations, g.avg_score, g.late_rate) for g in r.calibration],
            created,
            r.brier,
            [(int(g.name), g.observations, g.avg_score, g.late_rate) for g in r.deciles],
            *(steady if r is report.results[0] else (None, None, None)),
        )
        for r in report.results
    ]
    context.store.put_rows(BACKTEST_RESULTS, arrow_rows(rows, OPS_SCHEMAS[BACKTEST_RESULTS]))


def _fmt(value: float | None, pattern: str = "{:.3f}") -> str:
    return "-" if value is None else pattern.format(value)


def render_report(report: BacktestReport) -> str:
    """The printable backtest report."""
    width = 112
    lines = [
        "=" * width,
        "RISK SCORE BACKTEST",
        "=" * width,
        f"Run: {report.run_id}   Score dates: {report.start} .. {report.end} every {report.step_days} days "
        f"({len(report.score_dates)})",
        f"Outcome: any invoice due within {report.horizon_days} days paid late or still overdue, "
        f"per the lake's data up to {report.latest}",
        "-" * width,
        f"{'model':<34}{'evaluated on':<32}{'obs':>7}{'late':>7}{'AUC':>6}{'KS':>6}{'Brier':>7}",
    ]
    for r in report.results:
        lines.append(
            f"{r.model:<34}{r.evaluated_on:<32}{r.observations:>7}{r.positives:>7}{_fmt(r.auc, '{:.2f}'):>6}"
            f"{_fmt(r.ks, '{:.2f}'):>6}{_fmt(r.brier):>7}"
        )
    main = report.results[0]
    lines += [
        "-" * width,
        "Late rate by tier (scorecard, all score dates):",
        f"  {'tier':<10}{'obs':>7}{'late rate':>11}",
    ]
    lines += [f"  {g.name:<10}{g.observations:>7}{_fmt(g.late_rate, '{:.1%}'):>11}" for g in main.tiers]
    verdict = "rises monotonically" if main.monotonic else "does NOT rise monotonically"
    lines.append(f"  late rate {verdict} from the lowest to the highest tier")
    lines += ["Calibration (scorecard):", f"  {'score band':<12}{'obs':>7}{'avg score':>11}{'late rate':>11}"]
    lines += [
        f"  {g.name:<12}{g.observations:>7}{_fmt(g.avg_score, '{:.1f}'):>11}{_fmt(g.late_rate, '{:.1%}'):>11}"
        for g in main.calibration
    ]
    for r in report.results:
        if r.deciles:
            lines += [
                f"Probability deciles ({r.model}, {r.evaluated_on}):",
                f"  {'decile':<8}{'obs':>7}{'predicted':>11}{'observed':>10}{'gap':>8}",
            ]
            lines += [
                f"  {g.name:<8}{g.observations:>7}{_fmt(g.avg_score, '{:.1%}'):>11}{_fmt(g.late_rate, '{:.1%}'):>10}"
                f"{(g.late_rate or 0.0) - (g.avg_score or 0.0):>+8.1%}"
                for g in r.deciles
            ]
    quiet = report.stability
    if quiet is not None and quiet.quiet:
        lines.append(
            f"Stability: of {quiet.quiet} account-pairs {quiet.step_days} day(s) apart with no event of their own, "
            f"{quiet.tier_change_share:.1%} changed tier; median score change {quiet.median_abs_change:.1f} points"
        )
    lines += [f"Note: {note}" for note in report.notes]
    lines += [f"Results appended to {BACKTEST_RESULTS} (run_id {report.run_id})", "=" * width]
    return "\n".join(lines)
