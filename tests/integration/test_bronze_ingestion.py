"""Bronze ingestion end to end on real files and real Delta tables (delta-rs), through the orchestrator."""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from paylake.analytics.dashboard import load as load_dashboard
from paylake.analytics.dashboard import render_html
from paylake.contract import PIPELINE_LAYERS
from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.runner import LayerRun, run_bronze, run_layers, run_silver
from paylake.runtime.context import PaylakeContext
from paylake.runtime.spark import table_jobs

END = date(2026, 3, 10)
CONFIG = GeneratorConfig(accounts=150, skus=12, days=4, end=END, seed=11, history_days=30, dirty_rate=0.01)
TABLES = ["accounts", "invoice_line_items", "invoices", "skus"]
AUDIT = {"_batch_id", "_ingested_at"}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    write_landing(CONFIG, root)
    return root


def context(spark: SparkSession, repo: Path, landing: Path, lake: Path) -> PaylakeContext:
    return PaylakeContext.create("local", repo / "metadata", landing, lake, spark=spark)


def table_rows(lake: Path, layer: str, table: str, drop: set[str] = AUDIT) -> list[tuple[object, ...]]:
    data = DeltaTable(str(lake / layer / table)).to_pyarrow_table()
    columns = [c for c in data.column_names if c not in drop]
    return sorted((tuple(row.values()) for row in data.select(columns).to_pylist()), key=repr)


def versions(lake: Path) -> dict[str, int]:
    found = {}
    for layer in ("bronze", "ops"):
        for path in sorted((lake / layer).iterdir()):
            found[f"{layer}.{path.name}"] = DeltaTable(str(path)).version()
    return found


def loaded_copy(spark: SparkSession, repo: Path, landing: Path, tmp_path: Path) -> tuple[Path, PaylakeContext]:
    """A private copy of the feeds (tests edit it), loaded once into ``tmp_path/lake``."""
    feeds = tmp_path / "landing"
    shutil.copytree(landing, feeds)
    ctx = context(spark, repo, feeds, tmp_path / "lake")
    assert run_bronze(ctx, "all", END).ok
    return feeds, ctx


def by_table(outcome: LayerRun) -> dict[str, object]:
    return {r.table: r for r in outcome.results}


def test_a_tables_jobs_carry_its_tag_and_leave_a_notebooks_job_group_alone(spark: SparkSession) -> None:
    """A notebook cancels its cell's Spark jobs by job group: paylake tags a table's jobs instead of taking the
    group, and gives the cell's description back."""
    context = spark.sparkContext
    context.setJobGroup("a-notebook-cell", "the cell")
    try:
        with table_jobs("bronze", "invoices") as jobs:
            assert set(context.getJobTags()) == {"paylake:bronze.invoices"}
            assert context.getLocalProperty("spark.jobGroup.id") == "a-notebook-cell"
            assert context.getLocalProperty("spark.job.description") == "paylake bronze.invoices"
            spark.range(5).repartition(2).collect()
            for _ in range(100):  # the status tracker hears of a job from Spark's listener bus, a moment later
                if jobs():
                    break
                time.sleep(0.05)
            assert jobs() > 0
        assert context.statusTracker().getJobIdsForGroup("a-notebook-cell")  # where the notebook can cancel them
        assert set(context.getJobTags()) == set()
        assert context.getLocalProperty("spark.job.description") == "the cell"
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        context.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]


def test_backlog_load_accounts_for_every_row_and_a_rerun_changes_nothing(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    ctx = context(spark, repo, landing, tmp_path)
    first = run_bronze(ctx, "all", END)
    assert first.ok, first.summary()
    assert [r.table for r in first.results] == ["accounts", "skus", "invoices", "invoice_line_items"]
    # Each table's Spark jobs carried its tag (the Spark UI and the event log name the table), which ends with it.
    assert set(spark.sparkContext.getJobTags()) == set()
    assert spark.sparkContext.getLocalProperty("spark.job.description") is None
    for result in first.results:
        assert result.files == CONFIG.days
        assert result.rows_read == result.rows_loaded + result.rows_rejected > 0
        quarantined = DeltaTable(str(tmp_path / "bronze" / f"{result.table}_quarantine")).to_pyarrow_table()
        assert quarantined.num_rows == result.rows_rejected
        assert sum(result.failures_by_rule.values()) >= result.rows_rejected
        loaded = DeltaTable(str(tmp_path / "bronze" / result.table)).to_pyarrow_table().to_pylist()
        flagged_in_table = sum(1 for row in loaded if row["_dq_flags"])
        if result.new_versions == result.rows_loaded:  # every loaded row became a version
            assert result.rows_flagged == flagged_in_table
        else:  # unchanged snapshot rows carry flags but add no version
            assert result.rows_flagged >= flagged_in_table
    logged = DeltaTable(str(tmp_path / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    assert len(logged) == 4 * CONFIG.days and all(
        r["rows_read"] == r["rows_loaded"] + r["rows_rejected"] for r in logged
    )
    before = versions(tmp_path)

    again = run_bronze(ctx, "all", END)
    assert again.ok and all(r.files == 0 and r.new_versions == 0 for r in again.results)
    after = versions(tmp_path)
    assert after.pop("ops.pipeline_runs") == before.pop("ops.pipeline_runs") + 4
    assert after == before, "a re-run wrote to a table other than the run audit"
    runs = DeltaTable(str(tmp_path / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()
    assert len(runs) == 8 and {r["status"] for r in runs} == {"SUCCESS"}


def test_backlog_gives_the_same_tables_as_day_by_day_loads(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    backlog, daily = tmp_path / "backlog", tmp_path / "daily"
    assert run_bronze(context(spark, repo, landing, backlog), "all", END).ok
    ctx = context(spark, repo, landing, daily)
    for offset in range(CONFIG.days - 1, -1, -1):
        assert run_bronze(ctx, "all", END - timedelta(days=offset)).ok
    for table in TABLES:
        assert table_rows(backlog, "bronze", table) == table_rows(daily, "bronze", table), table
        assert table_rows(backlog, "bronze", f"{table}_quarantine", AUDIT | {"_quarantined_at"}) == table_rows(
            daily, "bronze", f"{table}_quarantine", AUDIT | {"_quarantined_at"}
        )


def test_a_changed_file_under_an_ingested_name_fails_its_table_and_skips_dependants(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    feeds, ctx = loaded_copy(spark, repo, landing, tmp_path)
    before = versions(tmp_path / "lake")
    changed = feeds / "invoices" / f"invoices_{END:%Y%m%d}.csv"
    changed.write_text(changed.read_text().replace("OPEN", "PAID", 1))

    outcome = by_table(run_bronze(ctx, "all", END))
    assert outcome["invoices"].status == "FAILED"  # type: ignore[attr-defined]
    assert str(changed) in outcome["invoices"].error and "already logged" in outcome["invoices"].error  # type: ignore[attr-defined]
    assert outcome["invoice_line_items"].status == "SKIPPED"  # type: ignore[attr-defined]
    assert outcome["accounts"].status == outcome["skus"].status == "SUCCESS"  # type: ignore[attr-defined]
    after = versions(tmp_path / "lake")
    after.pop("ops.pipeline_runs"), before.pop("ops.pipeline_runs")
    assert after == before


INVOICE_HEADER = (
    "invoice_id,account_id,invoice_date,due_date,currency,invoice_amount,status,paid_date,paid_amount,"
    "is_disputed,updated_at\n"
)


def test_a_batch_under_its_pass_rate_is_held_back_whole_and_loads_once_fixed(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    feeds, ctx = loaded_copy(spark, repo, landing, tmp_path)
    target = tmp_path / "lake" / "bronze" / "invoices"
    version, rows = DeltaTable(str(target)).version(), DeltaTable(str(target)).to_pyarrow_table().num_rows
    day = END + timedelta(days=1)
    bad = feeds / "invoices" / f"invoices_{day:%Y%m%d}.csv"
    bad.write_text(
        INVOICE_HEADER
        + "\n".join(
            [
                "INV-90000001,ACC-000001,2026-03-11,2026-04-10,USD,100.00,OPEN,,0.00,false,2026-03-11 09:00:00",
                "INV-90000002,ACC-000001,2026-03-11,2026-04-10,USD,-5.00,OPEN,,0.00,false,2026-03-11 09:00:00",
                "INV-90000003,ACC-999999,2026-03-11,2026-04-10,USD,5.00,OPEN,,0.00,false,2026-03-11 09:00:00",
                "INV-90000004,ACC-000001,2026-03-11,2026-02-10,XXX,1,234.00,OPEN,,0.00,false,2026-03-11 09:00:00",
            ]
        )
        + "\n"
    )
    outcome = by_table(run_bronze(ctx, "invoices,invoice_line_items", day))
    invoices = outcome["invoices"]
    assert invoices.status == "FAILED"  # type: ignore[attr-defined]
    assert invoices.error.startswith("Data quality check failed: 25% pass rate (threshold 90%) in " + str(bad))  # type: ignore[attr-defined]
    counts = (invoices.rows_read, invoices.rows_loaded, invoices.rows_rejected, invoices.rows_held_back)  # type: ignore[attr-defined]
    assert counts == (4, 0, 3, 1)  # nothing loaded: the rejected rows are quarantined, the good one waits
    assert outcome["invoice_line_items"].status == "SKIPPED"  # type: ignore[attr-defined]
    assert DeltaTable(str(target)).version() == version and DeltaTable(str(target)).to_pyarrow_table().num_rows == rows
    quarantine = {
        r["invoice_id"]: r
        for r in DeltaTable(str(tmp_path / "lake/bronze/invoices_quarantine")).to_pyarrow_table().to_pylist()
        if r["_source_file"] == bad.name
    }
    assert quarantine["INV-90000002"]["_dq_rules"] == ["range_invoice_amount"]
    assert quarantine["INV-90000002"]["invoice_amount"] == "-5.00"
    assert quarantine["INV-90000003"]["_dq_rules"] == ["fk_account_id_accounts"]
    assert (
        quarantine["INV-90000003"]["_dq_reason"]
        == "fk_account_id_accounts: account_id=ACC-999999 not found in accounts.account_id"
    )
    # The unquoted thousands separator adds a field: the row is malformed, and the shifted values fail more rules.
    assert quarantine["INV-90000004"]["_dq_rules"][0] == "malformed_row"
    assert quarantine["INV-90000004"]["_dq_reason"].startswith(
        "malformed_row: row does not have as many fields as the header"
    )

    bad.write_text(
        INVOICE_HEADER
        + "INV-90000001,ACC-000001,2026-03-11,2026-04-10,USD,100.00,OPEN,,0.00,false,2026-03-11 09:00:00\n"
    )
    # Same name, new content, but the first delivery was never ingested: this is a retry, not a re-delivery.
    fixed = by_table(run_bronze(ctx, "invoices", day))["invoices"]
    assert fixed.status == "SUCCESS" and fixed.new_versions == 1, fixed  # type: ignore[attr-defined]
    remaining = [
        r
        for r in DeltaTable(str(tmp_path / "lake/bronze/invoices_quarantine")).to_pyarrow_table().to_pylist()
        if r["_source_file"] == bad.name
    ]
    assert remaining == [], "quarantine rows of a retried file are replaced, not duplicated"


def test_a_version_dated_after_its_extract_is_quarantined_and_the_next_real_change_loads(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    """A far-future sequence value would stay the current version for good and hide every later change."""
    feeds, ctx = loaded_copy(spark, repo, landing, tmp_path)
    first, second = END + timedelta(days=1), END + timedelta(days=2)
    new = [
        f"INV-910000{n:02d},ACC-000001,2026-03-11,2026-04-10,USD,100.00,OPEN,,0.00,false,2026-03-11 09:00:00"
        for n in range(19)
    ]
    future = "INV-91000000,ACC-000001,2026-03-11,2026-04-10,USD,100.00,PAID,2026-03-11,100.00,false,9999-12-31 23:59:59"
    (feeds / "invoices" / f"invoices_{first:%Y%m%d}.csv").write_text(INVOICE_HEADER + "\n".join([*new, future]) + "\n")
    loaded = by_table(run_bronze(ctx, "invoices", first))["invoices"]
    assert (loaded.status, loaded.rows_read, loaded.rows_loaded, loaded.rows_rejected) == ("SUCCESS", 20, 19, 1)  # type: ignore[attr-defined]
    (rejected,) = [
        r
        for r in DeltaTable(str(tmp_path / "lake/bronze/invoices_quarantine")).to_pyarrow_table().to_pylist()
        if r["_source_file"] == f"invoices_{first:%Y%m%d}.csv"
    ]
    assert rejected["_dq_rules"] == ["future_updated_at"] and rejected["updated_at"] == "9999-12-31 23:59:59"
    assert rejected["_dq_reason"] == (
        "future_updated_at: updated_at='9999-12-31 23:59:59' is after the file's extract date 2026-03-11"
    )

    paid = "INV-91000000,ACC-000001,2026-03-11,2026-04-10,USD,100.00,PAID,2026-03-12,100.00,false,2026-03-12 10:00:00"
    (feeds / "invoices" / f"invoices_{second:%Y%m%d}.csv").write_text(INVOICE_HEADER + paid + "\n")
    assert run_bronze(ctx, "invoices", second).ok
    versions = [
        r
        for r in DeltaTable(str(tmp_path / "lake/bronze/invoices")).to_pyarrow_table().to_pylist()
        if r["invoice_id"] == "INV-91000000"
    ]
    (current,) = [r for r in versions if r["is_current"]]
    assert current["status"] == "PAID" and str(current["updated_at"]).startswith("2026-03-12 10:00:00")
    assert len(versions) == 2


def test_a_feed_that_did_not_arrive_fails_the_run_or_warns_as_its_metadata_says(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    feeds, ctx = loaded_copy(spark, repo, landing, tmp_path)
    day = END + timedelta(days=1)
    shutil.copy(feeds / "invoices" / f"invoices_{END:%Y%m%d}.csv", feeds / "invoices" / f"invoices_{day:%Y%m%d}.csv")
    before = versions(tmp_path / "lake")
    outcomes = run_layers(ctx, PIPELINE_LAYERS, "all", day)
    assert [o.layer for o in outcomes] == ["bronze"] and not outcomes[0].ok  # silver and gold are not rebuilt
    results = by_table(outcomes[0])
    assert {t: r.status for t, r in results.items()} == {  # type: ignore[attr-defined]
        "accounts": "FAILED",
        "skus": "FAILED",
        "invoices": "SKIPPED",  # it arrived, but its foreign key waits for fresh accounts
        "invoice_line_items": "SKIPPED",
    }
    for table in ("accounts", "skus"):
        assert results[table].error == (  # type: ignore[attr-defined]
            f"bronze/{table}: stale input: no file for extract date 2026-03-11 (freshness: daily, max_lag_days 0); "
            f"the newest received is of 2026-03-10, 1 day(s) before as of 2026-03-11. Nothing of it was loaded and "
            f"the layers after bronze wait: deliver the file, or run an earlier --as-of"
        )
    summary = outcomes[0].summary()
    assert "stale input: no file for extract date 2026-03-11" in summary
    runs = DeltaTable(str(tmp_path / "lake" / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()
    freshness = {r["table"]: r["newest_extract"] for r in runs if r["as_of"] == day and r["status"] == "FAILED"}
    assert freshness == {"accounts": END, "skus": END}  # recorded for the dashboard, a day behind
    after = versions(tmp_path / "lake")
    assert {t: v for t, v in after.items() if t.startswith("bronze.")} == {
        t: v for t, v in before.items() if t.startswith("bronze.")
    }
    # Run on its own (a scheduler's separate task), silver does not build on the stale feeds either.
    silver = run_silver(ctx, "all", day)
    assert {r.table: r.status for r in silver.results} == {
        "account_profiles": "FAILED",
        "product_catalog": "FAILED",
        "invoice_details": "SKIPPED",
        "account_payment_history": "SKIPPED",
    }
    error = next(r.error for r in silver.results if r.table == "account_profiles") or ""
    assert error.startswith("silver.account_profiles: not built on stale inputs (bronze/accounts: stale input: ")
    assert not (tmp_path / "lake" / "silver").exists()

    # The same day with accounts declared `on_stale: warn`: accounts passes with a WARNING, loud and recorded.
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    accounts = metadata / "bronze" / "accounts" / "accounts.yaml"
    accounts.write_text(accounts.read_text().replace("on_stale: fail", "on_stale: warn"))
    warned = run_bronze(
        PaylakeContext.create("local", metadata, feeds, tmp_path / "lake", spark=spark), "accounts", day
    )
    (result,) = warned.results
    assert result.status == "SUCCESS" and result.warning is not None and "stale input" in result.warning
    assert f"    WARNING: {result.warning}" in warned.summary()
    logged = [
        r
        for r in DeltaTable(str(tmp_path / "lake" / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()
        if r["table"] == "accounts" and r["as_of"] == day and r["status"] == "SUCCESS"
    ]
    assert [r["error"] for r in logged] == [f"WARNING: {result.warning}"]


def test_a_line_waits_for_its_invoices_day_and_rows_built_on_a_warned_stale_feed_say_so(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    feeds, _ = loaded_copy(spark, repo, landing, tmp_path)
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    for table in ("skus", "invoices"):  # late reference data and late invoices are let through with a warning
        path = metadata / "bronze" / table / f"{table}.yaml"
        path.write_text(path.read_text().replace("on_stale: fail", "on_stale: warn"))
    ctx = PaylakeContext.create("local", metadata, feeds, tmp_path / "lake", spark=spark)
    day = END + timedelta(days=1)

    def deliver(table: str) -> None:
        shutil.copy(feeds / table / f"{table}_{END:%Y%m%d}.csv", feeds / table / f"{table}_{day:%Y%m%d}.csv")

    deliver("accounts")
    deliver("invoice_line_items")  # the day's lines, before the day's invoices
    (bronze,) = run_layers(ctx, PIPELINE_LAYERS, "all", day)
    results = by_table(bronze)
    assert {t: r.status for t, r in results.items()} == {  # type: ignore[attr-defined]
        "accounts": "SUCCESS",
        "skus": "SUCCESS",
        "invoices": "SUCCESS",
        "invoice_line_items": "FAILED",
    }
    assert "stale input: no file for extract date 2026-03-11" in results["invoices"].warning  # type: ignore[attr-defined]
    assert results["invoice_line_items"].error == (  # type: ignore[attr-defined]
        "bronze/invoice_line_items: stale input: no file for extract date 2026-03-11 (freshness: daily, "
        "max_lag_days 0); the newest received is of 2026-03-10, 1 day(s) before as of 2026-03-11; "
        "invoice_line_items_20260311.csv waits for invoices of 2026-03-11. Nothing of it was loaded and the layers "
        "after bronze wait: deliver the file, or run an earlier --as-of"
    )
    logged = DeltaTable(str(tmp_path / "lake" / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    assert not [r for r in logged if r["extract_date"] == day and r["table"] == "invoice_line_items"]

    deliver("invoices")  # the lines load with their invoices; the catalog is still a day late
    outcomes = run_layers(ctx, PIPELINE_LAYERS, "all", day)
    assert [o.layer for o in outcomes] == ["bronze", "silver", "gold"] and all(o.ok for o in outcomes)
    silver, gold = by_table(outcomes[1]), by_table(outcomes[2])
    assert results_warned(silver) == {"product_catalog", "invoice_details", "account_payment_history"}
    assert results_warned(gold) == set(gold)  # every gold table reads the invoice details
    for layer, table, expected in [
        ("silver", "account_profiles", {None}),  # built from accounts alone, which arrived
        ("silver", "invoice_details", {"skus"}),
        ("gold", "customer_payment_metrics", {"skus"}),
        ("gold", "payment_health_dashboard", {"skus"}),
    ]:
        rows = DeltaTable(str(tmp_path / "lake" / layer / table)).to_pyarrow_table().to_pylist()
        assert {r["stale_inputs"] for r in rows if r["as_of"] == day} == expected, table
    runs = DeltaTable(str(tmp_path / "lake" / "ops" / "pipeline_runs")).to_pyarrow_table().to_pylist()
    (gold_run,) = [r for r in runs if r["table"] == "customer_payment_metrics" and r["as_of"] == day]
    assert gold_run["error"] == "WARNING: built on stale input(s) skus; its rows carry stale_inputs"
    page = render_html(load_dashboard(tmp_path / "lake"))
    assert '<div class="stale-banner" id="stale-inputs">Built on stale inputs: skus.' in page


def results_warned(results: dict[str, object]) -> set[str]:
    return {table for table, r in results.items() if r.warning}  # type: ignore[attr-defined]


def test_partitioned_table_merges_within_its_partitions(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    accounts = metadata / "bronze/accounts/accounts.yaml"
    accounts.write_text(
        accounts.read_text().replace("load_type: snapshot", "load_type: snapshot\npartition_by: [region]")
    )
    ctx = PaylakeContext.create("local", metadata, landing, tmp_path / "lake", spark=spark)
    for day in (END - timedelta(days=1), END):  # the second day merges into existing partitions
        assert run_bronze(ctx, "accounts", day).ok
    table = DeltaTable(str(tmp_path / "lake/bronze/accounts"))
    assert table.metadata().partition_columns == ["region"]
    rows = table.to_pyarrow_table().to_pylist()
    current: dict[str, int] = {}
    for row in rows:
        current[row["account_id"]] = current.get(row["account_id"], 0) + row["is_current"]
    assert set(current.values()) <= {0, 1} and sum(current.values()) > 0
    unpartitioned = tmp_path / "plain"
    assert run_bronze(context(spark, repo, landing, unpartitioned), "accounts", END).ok
    assert table_rows(tmp_path / "lake", "bronze", "accounts") == table_rows(unpartitioned, "bronze", "accounts")


def test_foreign_key_to_a_table_not_loaded_yet_is_a_clear_error(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path
) -> None:
    outcome = by_table(run_bronze(context(spark, repo, landing, tmp_path), "invoices", END))
    assert outcome["invoices"].status == "FAILED"  # type: ignore[attr-defined]
    assert outcome["invoices"].error == (  # type: ignore[attr-defined]
        "bronze/invoices: foreign key fk_account_id_accounts needs table bronze.accounts, which does not exist yet; "
        "load accounts first"
    )
