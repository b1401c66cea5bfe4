"""Crash recovery: real `paylake run all` processes die at every named fault point (SIGKILL from inside, see
paylake.faults) and at seeded random moments (SIGKILL of the whole process group, JVM included, from outside).
Each death leaves the lake as a crash would: the lock held, a commit half done. A plain re-run must then give
tables identical to an uninterrupted run of the same day, ignoring audit timestamps and run/batch ids.

Each run after the first is the re-run of the death before it, so the chain costs one run per death; the
final run is the plain re-run compared with the reference. The random kills come first, while the whole day's
load is ahead, so they land in Spark start-up, bronze, silver or gold rather than after the end.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from lakes import lake_contents
from paylake.contract import PIPELINE_LAYERS
from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.lake.lock import LOCK_FILE
from paylake.pipeline.runner import run_layers
from paylake.runtime.context import PaylakeContext

pytestmark = pytest.mark.slow
END = date(2026, 3, 10)
FAULTS = [
    "after_quarantine@bronze.invoices",
    "after_target_merge@bronze.invoice_line_items",
    "between_layers@silver",
    "mid_write@silver.invoice_details",
    "mid_write@gold.customer_payment_metrics",
    "between_layers@gold",
]
RANDOM_KILLS = 2


def run_all_in_process(spark: SparkSession, repo: Path, landing: Path, lake: Path, as_of: date) -> None:
    context = PaylakeContext.create("local", repo / "metadata", landing, lake, spark=spark)
    for outcome in run_layers(context, PIPELINE_LAYERS, "all", as_of):
        assert outcome.ok, outcome.summary()


def paylake_run(repo: Path, landing: Path, lake: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "paylake.cli", "run", "all", "--as-of", END.isoformat()]
    return subprocess.Popen(
        [*command, "--landing", str(landing), "--lake", str(lake)],
        cwd=repo,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a random kill takes the JVM with it
    )


def test_every_fault_point_and_random_kill_recovers_to_the_uninterrupted_tables(
    spark: SparkSession, repo: Path, tmp_path: Path
) -> None:
    landing, base = tmp_path / "landing", tmp_path / "base"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=3, end=END, seed=5, history_days=10), landing)
    run_all_in_process(spark, repo, landing, base, END - timedelta(days=1))  # yesterday, loaded cleanly
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    shutil.copytree(base, reference)
    shutil.copytree(base, crashed)
    run_all_in_process(spark, repo, landing, reference, END)
    expected = lake_contents(reference)

    deaths: list[str] = []
    chance = random.Random(20261127)
    for _ in range(RANDOM_KILLS):  # first, while the day's whole load is still ahead (> 60 s of work)
        process = paylake_run(repo, landing, crashed, {})
        delay = chance.uniform(5, 40)
        try:
            output, _ = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=60)
            deaths.append(f"random kill after {delay:.1f} s")
        else:
            pytest.fail(f"the run ended in under {delay:.1f} s before its kill:\n{output[-3000:]}")

    for fault in FAULTS:
        process = paylake_run(repo, landing, crashed, {"PAYLAKE_FAULT": fault})
        output, _ = process.communicate(timeout=900)
        assert process.returncode == -signal.SIGKILL, f"{fault} was not reached:\n{output[-3000:]}"
        assert f"fault point {fault}: killing this process" in output
        assert (crashed / LOCK_FILE).exists(), "a killed run leaves its lock behind"
        deaths.append(fault)

    final = paylake_run(repo, landing, crashed, {})
    output, _ = final.communicate(timeout=900)
    assert final.returncode == 0, output[-4000:]
    assert "is gone" in output or "stale" in output, "the re-run took over the dead run's lock"
    actual = lake_contents(crashed)
    assert actual.keys() == expected.keys()
    different = [name for name in expected if actual[name] != expected[name]]
    assert not different, f"after {deaths}: tables differ from the uninterrupted run: {different}"
    files = [
        row["file_name"] for row in DeltaTable(str(crashed / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    ]
    assert len(files) == len(set(files)), "a file was logged twice"
    assert len(deaths) == len(FAULTS) + RANDOM_KILLS
