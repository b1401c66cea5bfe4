"""Silver end to end on the bundled sample: bronze then silver into real Delta tables, cross-checked against
values computed here straight from the landing CSVs, without Spark."""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import SampleLake
from paylake.deploy.unity_catalog import bronze_schema, derived_schemas, quarantine_schema
from paylake.pipeline.runner import LayerRun, run_silver
from paylake.runtime.context import PaylakeContext

AS_OF = date(2026, 11, 20)
SILVER = ["account_payment_history", "account_profiles", "invoice_details", "product_catalog"]
CURRENCIES = {"USD", "EUR", "GBP", "CAD", "AUD", "SGD"}


def context(spark: SparkSession, repo: Path, lake: Path, metadata: Path | None = None) -> PaylakeContext:
    return PaylakeContext.create("local", metadata or repo / "metadata", repo / "landing", lake, spark=spark)


def rows(lake: Path, layer: str, table: str) -> list[dict[str, object]]:
    return DeltaTable(str(lake / layer / table)).to_pyarrow_table().to_pylist()


def content(lake: Path, table: str) -> list[tuple[object, ...]]:
    """A silver table's rows without the build timestamp, in a stable order."""
    return sorted((tuple(v for k, v in r.items() if k != "_built_at") for r in rows(lake, "silver", table)), key=repr)


def statuses(outcome: LayerRun) -> dict[str, str]:
    return {r.table: r.status for r in outcome.results}


@pytest.fixture(scope="module")
def lake(sample_lake: SampleLake) -> Path:
    outcome = sample_lake.runs["silver"]
    assert [r.table for r in outcome.results] == [
        "account_profiles",
        "product_catalog",
        "invoice_details",
        "account_payment_history",
    ]
    return sample_lake.root


def edited_metadata(repo: Path, tmp_path: Path, table: str, old: str, new: str) -> Path:
    """A copy of the bundled metadata with ``old`` replaced by ``new`` in one silver table's YAML."""
    metadata = tmp_path / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    yaml = metadata / "silver" / table / f"{table}.yaml"
    text = yaml.read_text()
    assert old in text, f"{yaml} no longer holds {old!r}"
    yaml.write_text(text.replace(old, new))
    return metadata


def copy_of(lake: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lake"
    shutil.copytree(lake, target)
    return target


def clean(row: dict[str, str]) -> bool:
    """Would bronze accept this invoice row? (The checks that matter for the values compared below.)"""
    try:
        invoice_date, due = date.fromisoformat(row["invoice_date"]), date.fromisoformat(row["due_date"])
        paid = date.fromisoformat(row["paid_date"]) if row["paid_date"] else None
        amount = float(row["invoice_amount"])
    except ValueError:
        return False
    return (
        bool(re.fullmatch(r"ACC-\d{6}", row["account_id"]))
        and not row["account_id"].endswith("999999")
        and bool(row["invoice_id"])
        and invoice_date <= due
        and amount >= 0
        and row["currency"] in CURRENCIES
        and (row["status"] != "PAID" or paid is not None)
    )


@pytest.fixture(scope="module")
def latest_invoices(repo: Path) -> dict[str, dict[str, str]]:
    """Each invoice's newest row in the landing CSVs up to AS_OF, for invoices whose every row is clean."""
    by_invoice: dict[str, list[dict[str, str]]] = defaultdict(list)
    for path in sorted((repo / "landing" / "invoices").glob("invoices_*.csv")):
        if date(int(path.stem[-8:-4]), int(path.stem[-4:-2]), int(path.stem[-2:])) > AS_OF:
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                by_invoice[row["invoice_id"]].append(row)
    return {
        invoice: max(found, key=lambda r: r["updated_at"])
        for invoice, found in by_invoice.items()
        if invoice and all(clean(r) for r in found)
    }


def expected_days_late(row: dict[str, str]) -> int:
    due = date.fromisoformat(row["due_date"])
    settled = date.fromisoformat(row["paid_date"]) if row["status"] == "PAID" else AS_OF
    return max((settled - due).days, 0)


def test_days_late_of_a_handful_of_invoices_matches_the_landing_files(
    lake: Path, latest_invoices: dict[str, dict[str, str]]
) -> None:
    details = {r["invoice_id"]: r for r in rows(lake, "silver", "invoice_details")}
    paid_late = [i for i, r in latest_invoices.items() if r["status"] == "PAID" and expected_days_late(r) > 0]
    paid_on_time = [i for i, r in latest_invoices.items() if r["status"] == "PAID" and expected_days_late(r) == 0]
    open_overdue = [i for i, r in latest_invoices.items() if r["status"] != "PAID" and expected_days_late(r) > 0]
    partly_paid = [i for i, r in latest_invoices.items() if r["status"] == "PARTIALLY_PAID"]
    sample = sorted(paid_late)[:4] + sorted(paid_on_time)[:3] + sorted(open_overdue)[:4] + sorted(partly_paid)[:2]
    assert len(sample) == 13
    for invoice in sample:
        row, silver = latest_invoices[invoice], details[invoice]
        assert silver["days_late"] == expected_days_late(row), invoice
        assert silver["is_open"] == (row["status"] != "PAID"), invoice
        assert str(silver["due_date"]) == row["due_date"] and silver["account_id"] == row["account_id"], invoice
        if row["status"] == "PAID":
            expected = (date.fromisoformat(row["paid_date"]) - date.fromisoformat(row["invoice_date"])).days
            assert silver["days_to_pay"] == expected, invoice
        else:
            outstanding = float(row["invoice_amount"]) - float(row["paid_amount"] or 0)
            assert float(silver["outstanding_amount"]) == pytest.approx(outstanding, abs=0.01), invoice


def test_an_accounts_late_ratio_matches_the_landing_files(
    lake: Path, latest_invoices: dict[str, dict[str, str]], repo: Path
) -> None:
    # Accounts all of whose invoice rows are clean, so the CSVs alone give the full picture.
    tainted: set[str] = set()
    for path in sorted((repo / "landing" / "invoices").glob("invoices_*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            tainted |= {r["account_id"] for r in csv.DictReader(handle) if r["invoice_id"] not in latest_invoices}
    due_90: dict[str, list[bool]] = defaultdict(list)
    for row in latest_invoices.values():
        due = date.fromisoformat(row["due_date"])
        if AS_OF - timedelta(days=90) < due <= AS_OF and row["account_id"] not in tainted:
            due_90[row["account_id"]].append(expected_days_late(row) > 0)
    account = max(sorted(due_90), key=lambda a: len(due_90[a]))
    assert len(due_90[account]) >= 5
    history = {r["account_id"]: r for r in rows(lake, "silver", "account_payment_history")}[account]
    assert history["invoices_due_90d"] == len(due_90[account])
    assert history["late_ratio_90d"] == pytest.approx(sum(due_90[account]) / len(due_90[account]), abs=1e-4)


def test_each_silver_table_has_one_row_per_key_and_holds_only_what_was_known(lake: Path) -> None:
    details = rows(lake, "silver", "invoice_details")
    assert len({r["invoice_id"] for r in details}) == len(details) > 5000
    assert max(r["invoice_date"] for r in details) <= AS_OF
    assert {r["as_of"] for r in details} == {AS_OF}
    assert {r["aging_bucket"] for r in details if r["is_open"]} == {"current", "1-30", "31-60", "61-90", "90+"}
    assert any("lines_add_up" in r["_dq_flags"] for r in details)
    profiles = rows(lake, "silver", "account_profiles")
    assert len({r["account_id"] for r in profiles}) == len(profiles) == 240
    assert sum(r["credit_limit_cut_recently"] for r in profiles) > 0
    assert len(rows(lake, "silver", "account_payment_history")) == 240
    assert len(rows(lake, "silver", "product_catalog")) == 60


def test_rerunning_the_same_as_of_replaces_the_tables_with_identical_content(
    spark: SparkSession, repo: Path, lake: Path, tmp_path: Path
) -> None:
    copy = copy_of(lake, tmp_path)
    before = {t: (content(copy, t), DeltaTable(str(copy / "silver" / t)).version()) for t in SILVER}
    assert run_silver(context(spark, repo, copy), "all", AS_OF).ok
    for table in SILVER:
        assert content(copy, table) == before[table][0], table
        assert DeltaTable(str(copy / "silver" / table)).version() == before[table][1] + 1, table


def test_an_earlier_as_of_sees_invoices_open_that_were_paid_later(
    spark: SparkSession, repo: Path, lake: Path, tmp_path: Path
) -> None:
    copy, earlier = copy_of(lake, tmp_path), date(2026, 10, 1)
    now = {r["invoice_id"]: r for r in rows(copy, "silver", "invoice_details")}
    assert run_silver(context(spark, repo, copy), "all", earlier).ok
    then = {r["invoice_id"]: r for r in rows(copy, "silver", "invoice_details")}
    assert max(r["invoice_date"] for r in then.values()) <= earlier
    paid_after = [i for i, r in now.items() if r["is_paid"] and r["paid_date"] > earlier and i in then]
    assert paid_after and all(then[i]["is_open"] and then[i]["days_to_pay"] is None for i in paid_after)
    assert all(then[i]["days_late"] == max((earlier - then[i]["due_date"]).days, 0) for i in paid_after)


def test_a_missing_bronze_input_fails_its_table_and_skips_dependants(
    spark: SparkSession, repo: Path, tmp_path: Path
) -> None:
    outcome = run_silver(context(spark, repo, tmp_path / "empty"), "all", AS_OF)
    assert statuses(outcome) == {
        "account_profiles": "FAILED",
        "product_catalog": "FAILED",
        "invoice_details": "SKIPPED",
        "account_payment_history": "SKIPPED",
    }
    error = next(r.error for r in outcome.results if r.table == "product_catalog")
    assert error is not None and "input skus = bronze.skus does not exist yet; run the bronze layer first" in error
    assert "SILVER LAYER TRANSFORMATION SUMMARY" in outcome.summary()


def test_a_silver_table_under_its_pass_rate_is_left_as_it_was(
    spark: SparkSession, repo: Path, lake: Path, tmp_path: Path
) -> None:
    copy = copy_of(lake, tmp_path)
    metadata = edited_metadata(
        repo,
        tmp_path,
        "account_profiles",
        "    - {type: not_null, column: credit_limit, action: flag}",
        "    - {type: range, column: tenure_days, max: 400, action: reject, name: tenure_over_400}",
    )
    target = copy / "silver" / "account_profiles"
    version, before = DeltaTable(str(target)).version(), content(copy, "account_profiles")
    outcome = run_silver(context(spark, repo, copy, metadata), "account_profiles,account_payment_history", AS_OF)
    failed = next(r for r in outcome.results if r.table == "account_profiles")
    assert failed.status == "FAILED" and failed.error is not None
    assert re.match(
        r"Data quality check failed: \d+% pass rate \(threshold 99%\) in silver.account_profiles", failed.error
    )
    assert statuses(outcome)["account_payment_history"] == "SKIPPED"
    assert DeltaTable(str(target)).version() == version and content(copy, "account_profiles") == before
    quarantined = rows(copy, "silver", "account_profiles_quarantine")
    assert len(quarantined) == failed.rows_rejected > 0
    assert all(r["_dq_rules"] == ["tenure_over_400"] and r["tenure_days"] > 400 for r in quarantined)
    assert all("tenure_days=" in r["_dq_reason"] for r in quarantined)
    assert failed.rows_loaded == 0 and failed.rows_read == failed.rows_rejected + failed.rows_held_back == 240


def test_an_output_breaking_its_primary_key_fails_and_leaves_the_table_as_it_was(
    spark: SparkSession, repo: Path, lake: Path, tmp_path: Path
) -> None:
    """A builder bug, not bad data: nothing is quarantined, the error names the key and repeated values."""
    copy = copy_of(lake, tmp_path)
    metadata = edited_metadata(repo, tmp_path, "product_catalog", "primary_key: [sku_id]", "primary_key: [category]")
    target, quarantine = copy / "silver" / "product_catalog", copy / "silver" / "product_catalog_quarantine"
    version, before = DeltaTable(str(target)).version(), content(copy, "product_catalog")
    quarantined = DeltaTable(str(quarantine)).version()
    categories = [r["category"] for r in rows(copy, "silver", "product_catalog")]
    repeated = {c for c in categories if c is None or categories.count(c) > 1}
    assert repeated  # the sample has fewer categories than SKUs
    outcome = run_silver(context(spark, repo, copy, metadata), "product_catalog", AS_OF)
    failed = outcome.results[0]
    assert failed.status == "FAILED" and failed.error is not None
    match = re.fullmatch(
        r".*product_catalog\.yaml: primary_key \['category'\] is null or not unique in the output of builder "
        r"product_catalog, e\.g\. (.+)",
        failed.error,
    )
    assert match, failed.error
    examples = {example.removeprefix("category=") for example in match.group(1).split("; ")}
    assert 1 <= len(examples) <= 3 and examples <= {str(c) for c in repeated}
    assert DeltaTable(str(target)).version() == version and content(copy, "product_catalog") == before
    assert DeltaTable(str(quarantine)).version() == quarantined


def test_unity_catalog_ddl_names_the_columns_the_pipeline_writes(spark: SparkSession, repo: Path, lake: Path) -> None:
    ctx = context(spark, repo, lake)
    known = {f"bronze.{n}": bronze_schema(c) for n, c in ctx.bronze.tables.items()}
    for name, schema in [*known.items(), *derived_schemas(spark, ctx.derived("silver"), known).items()]:
        layer, table = name.split(".")
        written = DeltaTable(str(lake / layer / table)).schema().to_arrow().names
        assert [column for column, _ in schema] == list(written), name
    for table, config in ctx.bronze.tables.items():
        written = DeltaTable(str(lake / "bronze" / f"{table}_quarantine")).schema().to_arrow().names
        assert [column for column, _ in quarantine_schema(config)] == list(written), table
