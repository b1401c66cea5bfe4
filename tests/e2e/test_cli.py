"""The paylake command as a user runs it: on the bundled sample data (the shared sample lake is built by `run all`
in this process), and in a subprocess for its exit codes and messages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakes import SampleLake, paylake_in_process

pytestmark = pytest.mark.slow
AS_OF = "2026-11-20"


def paylake(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "paylake.cli", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )


def test_run_all_on_the_sample_reports_every_layer_and_a_bronze_rerun_changes_nothing(
    repo: Path, sample_lake: SampleLake, tmp_path: Path
) -> None:
    """`paylake run all` on an empty lake (the shared sample lake, built by the command in this process), then
    `run bronze` on a copy of it: nothing new to load, no table changes."""
    run = sample_lake.command
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "BRONZE LAYER INGESTION SUMMARY" in out
    bronze = out[: out.index("SILVER LAYER TRANSFORMATION SUMMARY")]
    assert re.search(r"Total Tables: 4\n  Success: 4\n  Failed: 0\n  Skipped: 0", bronze), bronze
    for table in ["accounts", "skus", "invoices", "invoice_line_items"]:
        line = re.search(rf"^{table}\s+SUCCESS\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", bronze, re.M)
        assert line, bronze
        files, read, loaded, rejected = map(int, line.groups())
        assert files == 90 and read == loaded + rejected and loaded > 0
    # Then silver...
    silver = out[out.index("SILVER LAYER TRANSFORMATION SUMMARY") :]
    assert re.search(r"Total Tables: 4\n  Success: 4\n  Failed: 0\n  Skipped: 0", silver), silver
    details = re.search(r"^invoice_details\s+SUCCESS\s+(\d+)\s+(\d+)\s+(\d+)", silver, re.M)
    assert details and int(details.group(1)) == int(details.group(2)) + int(details.group(3)) > 5000
    lake = sample_lake.root
    assert DeltaTable(str(lake / "silver" / "invoice_details")).to_pyarrow_table().num_rows == int(details.group(2))
    # Progress goes to stderr, one start and one result line per table (not a terminal here).
    assert re.search(r"^\[silver 3/4\] invoice_details: SUCCESS [\d,]+ rows read, .* rows/s\)$", run.stderr, re.M)
    assert "[gold 1/4] customer_payment_metrics: running" in run.stderr
    # ... then gold, ending with the worklist: the ten accounts of the largest expected overdue exposure.
    gold = out[out.index("GOLD LAYER SUMMARY") :]
    assert re.search(r"Total Tables: 4\n  Success: 4\n  Failed: 0\n  Skipped: 0", gold), gold
    top = gold[gold.index(f"TOP 10 BY EXPECTED OVERDUE EXPOSURE (score date {AS_OF}; changes since no earlier") :]
    ranked = re.findall(r"^ ?(\d+)  (ACC-\d{6}) .*?(LOW|MEDIUM|HIGH|CRITICAL) \(new\)\s+(\d+)\s", top, re.M)
    assert [int(rank) for rank, *_ in ranked] == list(range(1, 11)), top
    scores = DeltaTable(str(lake / "gold" / "customer_payment_metrics")).to_pyarrow_table().to_pylist()
    exposure = sorted(
        scores, key=lambda r: (-round(r["p_late_60d"] * r["open_balance_usd"], 2), -r["risk_score"], r["account_id"])
    )
    assert [account for _, account, _, _ in ranked] == [r["account_id"] for r in exposure[:10]]

    # On-demand scoring explains the first account's points, and matches the daily run.
    account = ranked[0][1]
    stored = next(r for r in scores if r["account_id"] == account)
    explained = paylake_in_process(repo, "score", account, "--as-of", AS_OF, "--lake", str(lake))
    assert explained.returncode == 0, explained.stderr[-3000:]
    assert f"Risk score {stored['risk_score']} / 100   tier {stored['risk_tier']}" in explained.stdout
    assert f"Action: {stored['recommended_action']}" in explained.stdout
    assert all(f"  - {reason}" in explained.stdout for reason in stored["risk_reasons"])
    assert f"due within 60 days late: {stored['p_late_60d']:.1%} (p_late_60d = 1 / (1 + exp(" in explained.stdout
    for feature, points in stored["risk_points"]:
        assert re.search(rf"^{feature}\s+\S.*\s{points}\s+\d+$", explained.stdout, re.M), feature
    # Read from the stored scores without Spark (the default), or recomputed from bronze: the same explanation.
    assert f"score date {AS_OF} (as the daily run stored it at " in explained.stdout
    recomputed = paylake_in_process(repo, "score", account, "--as-of", AS_OF, "--recompute", "--lake", str(lake))
    assert recomputed.returncode == 0 and f"score date {AS_OF} (recomputed from bronze)" in recomputed.stdout
    assert recomputed.stdout.split("\n", 1)[1] == explained.stdout.split("\n", 1)[1]
    latest = paylake_in_process(repo, "score", account, "--lake", str(lake))  # the latest stored score date
    assert latest.returncode == 0 and latest.stdout == explained.stdout
    unknown = paylake_in_process(repo, "score", "ACC-999999", "--lake", str(lake))
    assert (unknown.returncode, unknown.stderr) == (2, f"paylake: account 'ACC-999999' is not known on {AS_OF}\n")
    quoted = paylake_in_process(repo, "score", "ACC-1' OR '1'='1", "--lake", str(lake))  # a literal, not SQL
    assert (quoted.returncode, quoted.stderr) == (2, f"paylake: account \"ACC-1' OR '1'='1\" is not known on {AS_OF}\n")
    unstored = paylake_in_process(repo, "score", account, "--as-of", "2026-11-01", "--lake", str(lake))
    assert unstored.returncode == 2 and (
        "gold.customer_payment_metrics has no scores for 2026-11-01; it holds score dates 2026-11-20 to 2026-11-20"
        in unstored.stderr
    )
    refused = paylake(repo, "backtest", "--from", "2026-09-01", "--to", "2026-10-01", "--lake", str(lake))
    assert refused.returncode == 2 and "the latest score date this horizon allows is 2026-09-21" in refused.stderr

    # A rerun of bronze finds every file logged: it loads nothing and commits nothing.
    copy = tmp_path / "lake"
    shutil.copytree(lake, copy)
    tables = {p.name: DeltaTable(str(p)).version() for p in sorted((copy / "bronze").iterdir())}
    again = paylake_in_process(repo, "run", "bronze", "--as-of", AS_OF, "--lake", str(copy))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(re.findall(r"^\w+\s+SUCCESS\s+0\s+0\s+0\s+0", again.stdout, re.M)) == 4, again.stdout
    assert {p.name: DeltaTable(str(p)).version() for p in sorted((copy / "bronze").iterdir())} == tables


def test_usage_and_metadata_errors_exit_2(repo: Path, tmp_path: Path) -> None:
    unknown = paylake(repo, "run", "bronze", "--as-of", AS_OF, "--tables", "payments", "--lake", str(tmp_path))
    assert unknown.returncode == 2
    assert "unknown table(s) ['payments']; available: accounts, invoice_line_items, invoices, skus" in unknown.stderr
    bad_date = paylake(repo, "run", "bronze", "--as-of", "2026-13-01")
    assert bad_date.returncode == 2 and "'2026-13-01' is not a date in YYYY-MM-DD form" in bad_date.stderr
    env = paylake(repo, "run", "bronze", "--as-of", AS_OF, "--env", "staging")
    assert env.returncode == 2 and "no such environment; available: dev, local, local-spark, prod" in env.stderr
    all_layers = paylake(repo, "run", "all", "--as-of", AS_OF, "--tables", "invoices", "--lake", str(tmp_path))
    assert all_layers.returncode == 2
    assert "--tables selects tables of one layer; name the layer instead of 'all'" in all_layers.stderr
    assert "Traceback" not in unknown.stderr + bad_date.stderr + env.stderr + all_layers.stderr


def test_generate_writes_the_documented_layout(repo: Path, tmp_path: Path) -> None:
    result = paylake(repo, "generate", "--accounts", "20", "--skus", "5", "--days", "3", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.match(r"wrote 12 files \(\d+ rows, [\d.]+ MB\)", result.stdout)
    assert sorted(p.name for p in (tmp_path / "invoices").iterdir()) == [
        "invoices_20261118.csv",
        "invoices_20261119.csv",
        "invoices_20261120.csv",
    ]


def test_generate_simulates_history_days_before_the_first_extract(repo: Path, tmp_path: Path) -> None:
    """The first extract carries the invoices of the simulated history: ``--history-days`` sets how far back."""
    earliest = {}
    for days in (10, 200):
        out = tmp_path / str(days)
        result = paylake(
            repo,
            "generate",
            "--accounts",
            "20",
            "--skus",
            "5",
            "--days",
            "1",
            "--history-days",
            str(days),
            "--out",
            str(out),
        )
        assert result.returncode == 0, result.stderr
        lines = (out / "invoices" / "invoices_20261120.csv").read_text().splitlines()[1:]
        dates = [line.split(",")[2] for line in lines if line.count(",") >= 2]
        earliest[days] = min(date.fromisoformat(d) for d in dates if re.fullmatch(r"\d{4}-\d{2}-\d{2}", d))
    assert date(2026, 11, 10) <= earliest[10] and date(2026, 5, 4) <= earliest[200] < date(2026, 6, 1)
