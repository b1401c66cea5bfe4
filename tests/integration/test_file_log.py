"""The file log in operation: a correction delivered as a ``_v<N>`` revision of its extract date, a refused file set
aside with `paylake skip` so its table moves on, and files still being written or changed during the read, which
are never logged with other bytes than those loaded."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import paylake_in_process
from paylake.bronze import ingest
from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.runner import run_bronze
from paylake.runtime.context import PaylakeContext

END = date(2026, 3, 10)
CONFIG = GeneratorConfig(accounts=40, skus=6, days=2, end=END, seed=3, history_days=15, dirty_rate=0.0)
LAST_SECOND = f"{END} 23:59:59"  # the latest sequence value an extract of END may carry
AUDIT = {"_batch_id", "_ingested_at", "_source_file", "_record_version"}  # differ by delivery history


@pytest.fixture(scope="module")
def loaded(spark: SparkSession, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Feeds and a lake whose bronze loaded them in two batches (up to the day before END, then END)."""
    root = tmp_path_factory.mktemp("loaded")
    write_landing(CONFIG, root / "landing")
    ctx = PaylakeContext.create("local", repo / "metadata", root / "landing", root / "lake", spark=spark)
    assert run_bronze(ctx, "all", END - timedelta(days=1)).ok
    assert run_bronze(ctx, "all", END).ok
    return root


def copy_of(loaded: Path, spark: SparkSession, repo: Path, tmp_path: Path) -> tuple[Path, Path, PaylakeContext]:
    """A private copy of the loaded feeds and lake (tests change both), and a context on it."""
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    shutil.copytree(loaded / "landing", landing)
    shutil.copytree(loaded / "lake", lake)
    return landing, lake, PaylakeContext.create("local", repo / "metadata", landing, lake, spark=spark)


def rows(lake: Path, table: str) -> list[dict[str, object]]:
    return DeltaTable(str(lake / "bronze" / table)).to_pyarrow_table().to_pylist()


def current(lake: Path, table: str, key: str) -> dict[str, dict[str, object]]:
    return {str(r[key]): {c: v for c, v in r.items() if c not in AUDIT} for r in rows(lake, table) if r["is_current"]}


def corrections(landing: Path) -> tuple[str, str, str]:
    """Write ``_v2`` corrections of END: the account snapshot without its last account and with the first one's
    credit limit raised, and one invoice with a new amount (both stamped later the same day, as a source system
    stamps a corrected record). Returns the changed account, the dropped account and the changed invoice."""
    header, *accounts = (landing / "accounts" / f"accounts_{END:%Y%m%d}.csv").read_text().splitlines()
    first = accounts[0].split(",")
    first[6], first[-1] = "999000.00", LAST_SECOND  # credit_limit, updated_at
    (landing / "accounts" / f"accounts_{END:%Y%m%d}_v2.csv").write_text(
        "\n".join([header, ",".join(first), *accounts[1:-1]]) + "\n"
    )
    header, *invoices = (landing / "invoices" / f"invoices_{END:%Y%m%d}.csv").read_text().splitlines()
    invoice = invoices[0].split(",")
    invoice[5], invoice[-1] = "12345.67", LAST_SECOND  # invoice_amount, updated_at
    (landing / "invoices" / f"invoices_{END:%Y%m%d}_v2.csv").write_text(
        "\n".join([header, ",".join(invoice), invoices[1]]) + "\n"  # the second invoice repeated as it was
    )
    return first[0], accounts[-1].split(",")[0], invoice[0]


def test_a_correction_loads_as_a_later_delivery_of_its_extract_date(
    spark: SparkSession, repo: Path, loaded: Path, tmp_path: Path
) -> None:
    landing, lake, ctx = copy_of(loaded, spark, repo, tmp_path)
    changed, dropped, invoice = corrections(landing)
    before = current(lake, "invoices", "invoice_id")

    outcome = {r.table: r for r in run_bronze(ctx, "all", END).results}
    assert outcome["accounts"].status == "SUCCESS" and outcome["accounts"].files == 1
    assert (outcome["accounts"].new_versions, outcome["accounts"].closed_versions) == (1, 2)  # changed; dropped
    accounts = current(lake, "accounts", "account_id")
    assert str(accounts[changed]["credit_limit"]) == "999000.00" and dropped not in accounts
    (gone,) = [r for r in rows(lake, "accounts") if r["account_id"] == dropped and r["effective_to"] is not None]
    assert str(gone["effective_to"]).startswith(f"{END} 00:00:00")  # deleted as of the corrected extract
    assert (outcome["invoices"].files, outcome["invoices"].new_versions) == (1, 1)  # the repeated row: nothing
    invoices = current(lake, "invoices", "invoice_id")
    assert str(invoices[invoice]["invoice_amount"]) == "12345.67"
    assert {k: v for k, v in invoices.items() if k != invoice} == {k: v for k, v in before.items() if k != invoice}
    assert run_bronze(ctx, "all", END).results[0].files == 0  # logged: nothing loads twice

    # The same files as one backlog (the original and its correction in one batch) give the same current rows.
    backlog = tmp_path / "backlog"
    assert run_bronze(PaylakeContext.create("local", repo / "metadata", landing, backlog, spark=spark), "all", END).ok
    for table, key in (("accounts", "account_id"), ("invoices", "invoice_id"), ("skus", "sku_id")):
        assert current(backlog, table, key) == current(lake, table, key), table


def test_a_refused_file_set_aside_lets_its_table_move_on_and_is_shown_in_runs(
    spark: SparkSession, repo: Path, loaded: Path, tmp_path: Path
) -> None:
    landing, lake, ctx = copy_of(loaded, spark, repo, tmp_path)
    day = END + timedelta(days=1)
    empty = landing / "accounts" / f"accounts_{day:%Y%m%d}.csv"
    empty.write_text((landing / "accounts" / f"accounts_{END:%Y%m%d}.csv").read_text().splitlines()[0] + "\n")
    version = DeltaTable(str(lake / "bronze" / "accounts")).version()

    refused = run_bronze(ctx, "accounts", day).results[0]
    assert refused.status == "FAILED" and "snapshot file has no rows" in str(refused.error)
    paths = ["--landing", str(landing), "--lake", str(lake)]
    reason = "empty extract from the CRM; the source re-sends tomorrow"
    skip = paylake_in_process(repo, "skip", "accounts", empty.name, "--reason", reason, *paths)
    assert skip.returncode == 0, skip.stderr
    assert f"bronze.accounts: {empty.name} is set aside: it will not load (reason: {reason})" in skip.stdout
    moved_on = run_bronze(ctx, "accounts", day).results[0]
    assert (moved_on.status, moved_on.files, moved_on.warning) == ("SUCCESS", 0, None)  # it arrived: fresh
    assert DeltaTable(str(lake / "bronze" / "accounts")).version() == version

    later = [landing / "accounts" / f"accounts_{day + timedelta(days=n):%Y%m%d}.csv" for n in (1, 2)]
    for path in later:
        path.write_text(empty.read_text())
    both = paylake_in_process(repo, "skip", "accounts", *(p.name for p in later), "--reason", "empty too", *paths)
    assert both.returncode == 0 and both.stdout.count("is set aside: it will not load (reason: empty too)") == 2

    runs = paylake_in_process(repo, "runs", *paths)
    assert runs.returncode == 0 and "Files set aside or replayed (ops.ingested_files):" in runs.stdout
    (line,) = [line for line in runs.stdout.splitlines() if empty.name in line]
    assert "skipped" in line and "empty extract from the CRM" in line

    refusals = {
        empty.name: "already skipped",
        f"accounts_{END:%Y%m%d}.csv": "already ingested",
        "accounts_20990101.csv": "no such landing file of bronze.accounts",
    }
    for name, message in refusals.items():
        again = paylake_in_process(repo, "skip", "accounts", name, "--reason", "again", *paths)
        assert again.returncode == 2 and message in again.stderr, (name, again.stderr)
    no_reason = paylake_in_process(repo, "skip", "accounts", empty.name, "--reason", " ", *paths)
    assert no_reason.returncode == 2 and "give a --reason" in no_reason.stderr
    unknown = paylake_in_process(repo, "skip", "payments", empty.name, "--reason", "x", *paths)
    assert unknown.returncode == 2 and "no bronze table 'payments'" in unknown.stderr


def test_a_file_still_being_written_waits_and_one_changed_during_the_read_is_refused(
    spark: SparkSession, repo: Path, loaded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake, _ = copy_of(loaded, spark, repo, tmp_path)
    day = END + timedelta(days=1)
    invoices = landing / "invoices" / f"invoices_{day:%Y%m%d}.csv"
    header = (landing / "invoices" / f"invoices_{END:%Y%m%d}.csv").read_text().splitlines()[0]
    invoices.write_text(
        f"{header}\nINV-80000001,ACC-000001,{day},2026-04-10,USD,50.00,OPEN,,0.00,false,{day} 08:00:00\n"
    )

    # Files changed within the environment's settle time are left for a later run: here the day looks missing.
    ctx = PaylakeContext.create("local", repo / "metadata", landing, lake, spark=spark)
    ctx.environment = ctx.environment.model_copy(update={"landing_settle_seconds": 3600})
    waiting = run_bronze(ctx, "invoices", day).results[0]
    assert waiting.status == "FAILED" and f"stale input: no file for extract date {day}" in str(waiting.error)
    an_hour_ago = time.time() - 3601
    for path in landing.rglob("*.csv"):
        os.utime(path, (an_hour_ago, an_hour_ago))

    # The producer appends a row after paylake listed the file and before it finished reading it.
    extra = f"INV-90000001,ACC-000001,{day},2026-04-10,USD,100.00,OPEN,,0.00,false,{day} 09:00:00\n"
    read_landing = ingest.read_landing

    def read_while_written(*args: Any, **kwargs: Any) -> Any:
        rows = read_landing(*args, **kwargs)
        if any(file.name == invoices.name for file in args[1]) and extra not in invoices.read_text():
            with invoices.open("a") as handle:
                handle.write(extra)
        return rows

    monkeypatch.setattr(ingest, "read_landing", read_while_written)
    version = DeltaTable(str(lake / "bronze" / "invoices")).version()
    refused = run_bronze(ctx, "invoices", day).results[0]
    assert refused.status == "FAILED" and refused.rows_loaded == 0
    assert f"{invoices}: changed while the batch was read" in str(refused.error)
    assert DeltaTable(str(lake / "bronze" / "invoices")).version() == version
    log = DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    assert invoices.name not in {r["file_name"] for r in log}

    monkeypatch.undo()
    assert "stale input" in str(run_bronze(ctx, "invoices", day).results[0].error)  # just changed: it waits
    os.utime(invoices, (an_hour_ago, an_hour_ago))  # complete and settled: loaded, the late row included
    done = run_bronze(ctx, "invoices", day).results[0]
    assert done.status == "SUCCESS" and done.files == 1, done.error
    assert {"INV-80000001", "INV-90000001"} <= set(current(lake, "invoices", "invoice_id"))


def test_a_table_behind_its_file_log_fails_loudly_and_replay_recovers_it(
    spark: SparkSession, repo: Path, loaded: Path, tmp_path: Path
) -> None:
    """The newest commit of bronze.invoices disappears (a deleted _delta_log file): the table silently reads as
    the version before, and without the check the next run would commit on top while the log keeps calling the
    lost file loaded."""
    landing, lake, ctx = copy_of(loaded, spark, repo, tmp_path)
    table = lake / "bronze" / "invoices"
    loaded, version = current(lake, "invoices", "invoice_id"), DeltaTable(str(table)).version()
    (table / "_delta_log" / f"{version:020d}.json").unlink()
    log_version = DeltaTable(str(lake / "ops" / "ingested_files")).version()

    name = f"invoices_{END:%Y%m%d}.csv"
    failed = {r.table: r for r in run_bronze(ctx, "all", END).results}
    assert failed["invoices"].status == "FAILED" and failed["invoice_line_items"].status == "SKIPPED"
    assert str(failed["invoices"].error).startswith(
        f"bronze.invoices: the file log says its last batch left the table at version {version}, but the table is "
        f"at version {version - 1}: commits were lost"
    )
    assert f"{name} would never load again" in str(failed["invoices"].error)
    assert DeltaTable(str(table)).version() == version - 1  # nothing committed on top
    assert DeltaTable(str(lake / "ops" / "ingested_files")).version() == log_version

    paths = ["--landing", str(landing), "--lake", str(lake)]
    assert paylake_in_process(repo, "replay", "invoices", name, "--reason", "commit lost", *paths).returncode == 0
    recovered = {r.table: r for r in run_bronze(ctx, "all", END).results}
    assert recovered["invoices"].status == "SUCCESS" and recovered["invoices"].files == 1
    assert current(lake, "invoices", "invoice_id") == loaded
