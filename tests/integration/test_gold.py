"""Gold end to end on the bundled sample: scores checked against the YAML scorecard, the dashboard and trends
against the tables they summarise, partition replacement, on-demand scoring and the backtest."""

from __future__ import annotations

import math
import shutil
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import SAMPLE_AS_OF, SampleLake
from paylake.contract import TableRef
from paylake.errors import UsageError
from paylake.gold.scorecard import Scorecard
from paylake.lake.delta_rs import DeltaRsStore
from paylake.pipeline.runner import run_gold
from paylake.runtime.context import PaylakeContext
from paylake.scoring.backtest import run_backtest
from paylake.scoring.changes import changes
from paylake.scoring.scores import evaluator, latest_data_date, score_account
from paylake.scoring.stored import scorecard_of, scores_table
from paylake.scoring.train import train, write_card

AUDIT = {"as_of", "stale_inputs", "_dq_flags", "_built_at"}  # bookkeeping of the daily build


def rows(lake: Path, layer: str, table: str) -> list[dict[str, Any]]:
    return DeltaTable(str(lake / layer / table)).to_pyarrow_table().to_pylist()


def context(spark: SparkSession, repo: Path, lake: Path) -> PaylakeContext:
    return PaylakeContext.create("local", repo / "metadata", repo / "landing", lake, spark=spark)


def business(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: dict(v) if k in ("risk_points", "ar_by_aging_bucket_usd") else v for k, v in row.items() if k not in AUDIT
    }


@pytest.fixture(scope="module")
def card(spark: SparkSession, repo: Path, sample_lake: SampleLake) -> Scorecard:
    return scorecard_of(scores_table(context(spark, repo, sample_lake.root).derived("gold")))


def test_gold_runs_after_silver_and_scores_every_account_by_the_yaml(sample_lake: SampleLake, card: Scorecard) -> None:
    gold = sample_lake.runs["gold"]
    assert [r.table for r in gold.results] == [
        "customer_payment_metrics",
        "payment_trends_monthly",
        "collections_worklist",
        "payment_health_dashboard",
    ]
    scores = rows(sample_lake.root, "gold", "customer_payment_metrics")
    profiles = rows(sample_lake.root, "silver", "account_profiles")
    assert sorted(r["account_id"] for r in scores) == sorted(r["account_id"] for r in profiles)
    assert {r["score_date"] for r in scores} == {SAMPLE_AS_OF}
    for r in scores:
        points = dict(r["risk_points"])
        expected = {f.feature: f.points_for(r[f.feature]) for f in card.features}
        assert points == expected, r["account_id"]
        assert r["risk_score"] == int((sum(points.values()) * 100 / card.max_points) + 0.5)
        assert card.calibration is not None  # the shipped card is fitted (docs/scorecard.md)
        log_odds = card.calibration.intercept + card.calibration.log_odds_per_point * sum(points.values())
        assert r["p_late_60d"] == pytest.approx(1 / (1 + math.exp(-log_odds)), abs=5e-5)
        tier = [t for t in card.tiers if t.min_score <= r["risk_score"]][-1]
        assert (r["risk_tier"], r["recommended_action"]) == (tier.name, tier.action)
        ranked = sorted(
            ((-points[f.feature], i, f) for i, f in enumerate(card.features) if points[f.feature] > 0),
            key=lambda t: t[:2],
        )
        assert r["risk_reasons"] == [
            f.reason.replace("{value}", f.shown(r[f.feature])) for _, _, f in ranked[: card.reasons]
        ]
        aging = sum(dict(r["ar_by_aging_bucket_usd"]).values())
        assert aging == pytest.approx(r["open_balance_usd"], abs=0.05)
    tiers = Counter(r["risk_tier"] for r in scores)
    assert set(tiers) == {t.name for t in card.tiers}, tiers  # the sample spans every tier


def test_dashboard_summarises_the_scores_and_the_latest_bronze_batches(sample_lake: SampleLake) -> None:
    scores = rows(sample_lake.root, "gold", "customer_payment_metrics")
    (board,) = rows(sample_lake.root, "gold", "payment_health_dashboard")
    assert board["score_date"] == SAMPLE_AS_OF and board["accounts_scored"] == len(scores)
    assert board["total_ar_usd"] == pytest.approx(sum(r["open_balance_usd"] for r in scores), abs=0.05)
    assert board["overdue_ar_usd"] == pytest.approx(sum(r["overdue_balance_usd"] for r in scores), abs=0.05)
    assert dict(board["accounts_by_tier"]) == dict(Counter(r["risk_tier"] for r in scores))
    high = [r for r in scores if r["risk_tier"] in ("HIGH", "CRITICAL")]
    assert board["high_risk_accounts"] == len(high)
    assert board["high_risk_exposure_usd"] == pytest.approx(sum(r["open_balance_usd"] for r in high), abs=0.05)
    assert board["high_risk_exposure_change_usd"] is None  # no earlier score date
    top = board["top_accounts"]
    order = sorted(scores, key=lambda r: (-r["risk_score"], -r["open_balance_usd"], r["account_id"]))[:10]
    assert [t["account_id"] for t in top] == [r["account_id"] for r in order]
    assert all("account_name" not in t for t in top)  # PII stays in maskable columns
    runs = [r for r in rows(sample_lake.root, "ops", "pipeline_runs") if r["layer"] == "bronze"]
    assert board["bronze_dq_pass_rate"] == pytest.approx(
        sum(r["rows_read"] - r["rows_rejected"] for r in runs) / sum(r["rows_read"] for r in runs), abs=1e-4
    )
    assert 0.9 < board["bronze_dq_pass_rate"] < 1.0


def test_monthly_trends_add_up_to_the_invoices(sample_lake: SampleLake) -> None:
    trends = rows(sample_lake.root, "gold", "payment_trends_monthly")
    invoices = rows(sample_lake.root, "silver", "invoice_details")
    overall = {r["invoice_month"]: r for r in trends if r["grouping"] == "all"}
    per_month = Counter(r["invoice_month"] for r in invoices)
    assert {m: r["invoice_count"] for m, r in overall.items()} == dict(per_month)
    for grouping in ("segment", "region"):
        sums: dict[date, int] = defaultdict(int)
        for r in trends:
            if r["grouping"] == grouping:
                sums[r["invoice_month"]] += r["invoice_count"]
        assert dict(sums) == dict(per_month), grouping
    assert [m for m, r in overall.items() if r["is_partial"]] == [date(2026, 11, 1)]
    october = [r for r in invoices if r["invoice_month"] == date(2026, 10, 1) and r["due_date"] <= SAMPLE_AS_OF]
    on_time = sum(1 for r in october if not r["is_late"]) / len(october)
    assert overall[date(2026, 10, 1)]["on_time_rate"] == pytest.approx(on_time, abs=1e-4)
    assert all(0 <= (r["collection_effectiveness"] or 0) <= 1.05 for r in trends)


def test_a_rerun_replaces_only_its_score_date(
    spark: SparkSession, repo: Path, sample_lake: SampleLake, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake.root, lake)
    before = sorted((business(r) for r in rows(lake, "gold", "customer_payment_metrics")), key=repr)
    ctx = context(spark, repo, lake)
    earlier = SAMPLE_AS_OF - timedelta(days=1)
    tables = "customer_payment_metrics,payment_health_dashboard,collections_worklist"
    assert run_gold(ctx, tables, earlier).ok
    assert run_gold(ctx, tables, SAMPLE_AS_OF).ok  # the same date again
    scores = rows(lake, "gold", "customer_payment_metrics")
    assert Counter(r["score_date"] for r in scores) == {earlier: 240, SAMPLE_AS_OF: 240}
    again = sorted((business(r) for r in scores if r["score_date"] == SAMPLE_AS_OF), key=repr)
    assert again == before
    boards = {r["score_date"]: r for r in rows(lake, "gold", "payment_health_dashboard")}
    assert set(boards) == {earlier, SAMPLE_AS_OF}
    change = boards[SAMPLE_AS_OF]["high_risk_exposure_usd"] - boards[earlier]["high_risk_exposure_usd"]
    assert boards[SAMPLE_AS_OF]["high_risk_exposure_change_usd"] == pytest.approx(change, abs=0.01)
    files = {p.name for p in (lake / "gold" / "customer_payment_metrics").iterdir() if p.name.startswith("score_date=")}
    assert files == {f"score_date={earlier}", f"score_date={SAMPLE_AS_OF}"}
    # The worklist of the later date compares each account with its scores of the earlier one.
    then = {r["account_id"]: r for r in scores if r["score_date"] == earlier}
    now = {r["account_id"]: r for r in scores if r["score_date"] == SAMPLE_AS_OF}
    worklist = [r for r in rows(lake, "gold", "collections_worklist") if r["score_date"] == SAMPLE_AS_OF]
    assert sorted(r["rank"] for r in worklist) == list(range(1, 241))
    for r in worklist:
        old, new = then[r["account_id"]], now[r["account_id"]]
        assert r["previous_score_date"] == earlier and r["previous_risk_score"] == old["risk_score"]
        assert r["score_change"] == new["risk_score"] - old["risk_score"]
        expected = "SAME" if old["risk_tier"] == new["risk_tier"] else "UP" if r["score_change"] > 0 else "DOWN"
        assert r["tier_change"] == expected, r["account_id"]
        points_then, points_now = dict(old["risk_points"]), dict(new["risk_points"])
        moved = {m["feature"]: (m["points_before"], m["points_now"]) for m in r["points_moved"]}
        assert moved == {f: (points_then[f], p) for f, p in points_now.items() if points_then[f] != p}
        assert r["expected_overdue_usd"] == pytest.approx(new["p_late_60d"] * new["open_balance_usd"], abs=0.01)
    ordered = sorted(worklist, key=lambda r: r["rank"])
    assert [r["expected_overdue_usd"] for r in ordered] == sorted(
        (r["expected_overdue_usd"] for r in ordered), reverse=True
    )
    # `paylake changes` lists exactly the accounts whose tier differs.
    report = changes(ctx, None, None)
    assert report.splitlines()[1].startswith(f"TIER CHANGES {earlier} -> {SAMPLE_AS_OF}: ")
    listed = {line.split()[0] for line in report.splitlines() if line.startswith("ACC-")}
    assert listed == {a for a in now if now[a]["risk_tier"] != then[a]["risk_tier"]}


def test_on_demand_score_equals_the_daily_run(spark: SparkSession, repo: Path, sample_lake: SampleLake) -> None:
    ctx = context(spark, repo, sample_lake.root)
    stored = {r["account_id"]: business(r) for r in rows(sample_lake.root, "gold", "customer_payment_metrics")}
    riskiest = max(stored.values(), key=lambda r: (r["risk_score"], r["account_id"]))
    safest = min(stored.values(), key=lambda r: (r["risk_score"], r["account_id"]))
    for expected in (riskiest, safest):
        assert business(score_account(ctx, expected["account_id"], SAMPLE_AS_OF)) == expected
    with pytest.raises(UsageError, match="account 'ACC-999999' is not known on 2026-11-20"):
        score_account(ctx, "ACC-999999", SAMPLE_AS_OF)


def test_backtest_scores_past_dates_and_records_the_result(
    spark: SparkSession, repo: Path, sample_lake: SampleLake, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(sample_lake.root, lake)
    ctx = context(spark, repo, lake)
    assert latest_data_date(ctx.store) == SAMPLE_AS_OF
    with pytest.raises(UsageError, match="the latest score date this horizon allows is 2026-09-21"):
        run_backtest(ctx, date(2026, 9, 1), date(2026, 9, 22), 60, 7, "refused")
    report = run_backtest(ctx, date(2026, 9, 13), date(2026, 9, 20), 60, 7, "bt1", challenger=True)
    assert report.score_dates == [date(2026, 9, 13), date(2026, 9, 20)]
    result, card_later, regression, feature = report.results
    # The challengers are trained on the first date and tested, with the card, on the second (out of time).
    assert [r.evaluated_on for r in report.results[1:]] == ["out of time, from 2026-09-20"] * 3
    assert card_later.observations == regression.observations == feature.observations < result.observations
    card = scorecard_of(scores_table(ctx.derived("gold")))
    assert feature.model.endswith(" alone") and feature.model[: -len(" alone")] in [f.feature for f in card.features]
    assert regression.auc is not None and feature.auc is not None and not feature.tiers
    assert regression.brier is not None and 0 < regression.brier < 0.25 and feature.brier is None  # no probability
    assert 300 < result.observations <= 2 * 240 and 0 < result.positives < result.observations
    assert result.auc is not None and result.auc > 0.7  # 0.77 over five dates; see docs/scorecard.md
    assert sum(g.observations for g in result.tiers) == result.observations
    assert sum(g.observations for g in result.calibration) == result.observations
    # The card is calibrated: a Brier score, and deciles of the predicted probability against the late rate.
    assert result.brier is not None and 0 < result.brier < 0.25  # 0.25: a coin's
    assert sum(g.observations for g in result.deciles) == result.observations and len(result.deciles) >= 5
    predicted = [g.avg_score for g in result.deciles]
    assert predicted == sorted(predicted) and all(0 < (p or 0) < 1 for p in predicted)
    results = rows(lake, "ops", "backtest_results")
    (recorded,) = [r for r in results if r["evaluated_on"] == "all score dates"]
    assert sorted(r["model"] for r in results if r is not recorded) == sorted(r.model for r in report.results[1:])
    assert recorded["run_id"] == "bt1" and recorded["auc"] == pytest.approx(result.auc)
    assert recorded["brier"] == pytest.approx(result.brier) and len(recorded["deciles"]) == len(result.deciles)
    # Stability: accounts scored on both dates without an event of their own in the week between.
    steady = report.stability
    assert steady is not None and 0 < steady.quiet < 240 and steady.tier_change_share is not None
    assert recorded["quiet_pairs"] == steady.quiet
    assert recorded["quiet_tier_change_share"] == pytest.approx(steady.tier_change_share)
    assert [t["tier"] for t in recorded["tiers"]] == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]


def test_partition_replacement_takes_new_columns_and_all_empty_nested_values(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = DeltaRsStore(spark, str(tmp_path))
    ref = TableRef("gold", "history")
    schema = "day date, reasons array<string>, top array<struct<id:string,why:array<string>>>, m map<string,int>"
    first = spark.createDataFrame([(date(2026, 1, 1), [], [("a", [])], {})], schema)
    store.replace_where(ref, first, "day = DATE '2026-01-01'", ["day"])
    wider = spark.createDataFrame([(date(2026, 1, 2), [], [], {}, 7)], f"{schema}, added int")
    store.replace_where(ref, wider, "day = DATE '2026-01-02'", ["day"])  # all-empty nested values: no panic
    store.replace_where(ref, wider, "day = DATE '2026-01-02'", ["day"])  # the same day again
    got = sorted(DeltaTable(str(tmp_path / "gold" / "history")).to_pyarrow_table().to_pylist(), key=lambda r: r["day"])
    assert [(r["day"], r["added"], r["top"]) for r in got] == [
        (date(2026, 1, 1), None, [{"id": "a", "why": []}]),
        (date(2026, 1, 2), 7, []),
    ]


def test_every_table_run_is_recorded_with_its_own_start(sample_lake: SampleLake) -> None:
    runs = rows(sample_lake.root, "ops", "pipeline_runs")
    for layer in ("bronze", "silver", "gold"):
        ordered = sorted((r for r in runs if r["layer"] == layer), key=lambda r: r["started_at"])
        assert len(ordered) == len(sample_lake.runs[layer].results) > 1
        assert all(r["started_at"] <= r["finished_at"] for r in ordered)
        pairs = zip(ordered, ordered[1:], strict=False)
        assert all(earlier["finished_at"] <= later["started_at"] for earlier, later in pairs)


def test_train_fits_a_card_out_of_time_and_writes_it_into_the_table_yaml(
    spark: SparkSession, repo: Path, sample_lake: SampleLake, tmp_path: Path
) -> None:
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    ctx = PaylakeContext.create("local", metadata, repo / "landing", sample_lake.root, spark=spark)
    shipped = scorecard_of(scores_table(ctx.derived("gold")))
    with pytest.raises(UsageError, match="the latest score date this horizon allows is 2026-09-21"):
        train(ctx, date(2026, 9, 1), date(2026, 9, 22), 60, 7)
    fitted = train(ctx, date(2026, 8, 23), date(2026, 9, 20), 60, 14, note="test")
    card, summary = fitted.card, fitted.card.training
    assert summary is not None and card.calibration is not None and card.calibration.horizon_days == 60
    # Out of time: fitted on the earlier dates, judged on the later one.
    assert summary.score_dates == [date(2026, 8, 23), date(2026, 9, 6)]
    assert summary.out_of_time_dates == [date(2026, 9, 20)] and summary.note == "test"
    assert 300 < summary.observations <= 2 * 240 and 0 < summary.late < summary.observations
    assert summary.auc_out_of_time is not None and summary.auc_out_of_time > 0.7
    # Every candidate is either scored (with a positive coefficient) or listed as dropped, with why.
    scored = {f.feature for f in card.features}
    assert scored | {d.feature for d in summary.dropped} == {f.feature for f in shipped.candidates()}
    assert all(summary.coefficients[name] > 0 for name in scored) and scored <= set(summary.information_values)
    assert all(d.why for d in summary.dropped)
    for feature in card.features:  # risk rises with the value: points never fall from one bin to the next
        assert [b.points for b in feature.bins] == sorted(b.points for b in feature.bins) and feature.max_points > 0
    # Written into the table's YAML, which stays valid metadata and scores with the fitted card.
    written = write_card(ctx, fitted, None)
    assert written == metadata / fitted.table_file
    reloaded = PaylakeContext.create("local", metadata, repo / "landing", sample_lake.root, spark=spark)
    assert scorecard_of(scores_table(reloaded.derived("gold"))) == card
    scores = evaluator(reloaded).table("gold.customer_payment_metrics", date(2026, 9, 20)).collect()
    by_score = sorted((r["risk_score"], r["p_late_60d"]) for r in scores)
    assert all(0 < p < 1 for _, p in by_score) and [p for _, p in by_score] == sorted(p for _, p in by_score)
