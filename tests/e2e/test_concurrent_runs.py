"""Two real `paylake run bronze` processes on one lake: the second exits at once naming the first; nothing is
loaded twice."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.lake.lock import LOCK_FILE

pytestmark = pytest.mark.slow
END = date(2026, 3, 10)


def command(repo: Path, landing: Path, lake: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "paylake.cli",
        "run",
        "bronze",
        "--as-of",
        END.isoformat(),
        "--landing",
        str(landing),
        "--lake",
        str(lake),
    ]


def test_a_second_run_on_the_same_lake_is_refused_and_nothing_is_duplicated(repo: Path, tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_landing(
        GeneratorConfig(accounts=40, skus=6, days=3, end=END, seed=3, history_days=15, dirty_rate=0.005), landing
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        command(repo, landing, lake), cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (lake / LOCK_FILE).exists():
        assert first.poll() is None and time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.05)
    second = subprocess.run(
        command(repo, landing, lake), cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, err[-3000:]
    assert second.returncode == 3, second.stderr[-3000:]
    assert f"lake {lake} is in use by run " in second.stderr and "(paylake run bronze, pid " in second.stderr
    assert "Traceback" not in second.stderr and not (lake / LOCK_FILE).exists()

    log = DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table().to_pylist()
    assert log and max(Counter((r["table"], r["file_name"]) for r in log).values()) == 1
    for table, key in [("accounts", "account_id"), ("invoices", "invoice_id"), ("skus", "sku_id")]:
        rows = DeltaTable(str(lake / "bronze" / table)).to_pyarrow_table().to_pylist()
        assert max(Counter((r[key], r["record_version"]) for r in rows).values()) == 1, table
    third = subprocess.run(command(repo, landing, lake), cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert third.returncode == 0 and len(DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table()) == len(
        log
    )
