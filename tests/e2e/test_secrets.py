"""Known secret values (AWS keys, a session token, a Databricks token) given to a real `paylake` process that
hits failures on purpose (an unreachable CloudWatch, a feed with a broken header) appear nowhere: not in its
output or log lines, not in an error message, not in any table it wrote."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable

from paylake.datagen.generator import GeneratorConfig, write_landing

pytestmark = pytest.mark.slow
END = date(2026, 3, 10)
SECRETS = {
    "PAYLAKE_SECRET_AWS_CREDENTIALS__CLOUDWATCH_ACCESS_KEY_ID": "AKIAPAYLAKESECRET777",
    "PAYLAKE_SECRET_AWS_CREDENTIALS__CLOUDWATCH_SECRET_ACCESS_KEY": "wJalr/Secret+Value/Never-Print-Me",
    "AWS_ACCESS_KEY_ID": "AKIAPAYLAKESECRET777",
    "AWS_SECRET_ACCESS_KEY": "wJalr/Secret+Value/Never-Print-Me",
    "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLE-session-token-Never-Print-Me",
    "DATABRICKS_TOKEN": "dapi0123456789abcdefNeverPrintMe",
}


def test_secrets_appear_in_no_output_error_or_table(repo: Path, tmp_path: Path) -> None:
    landing, lake, metadata = tmp_path / "landing", tmp_path / "lake", tmp_path / "metadata"
    write_landing(
        GeneratorConfig(accounts=40, skus=6, days=2, end=END, seed=3, history_days=15, dirty_rate=0.005), landing
    )
    broken = sorted((landing / "skus").iterdir())[-1]
    lines = broken.read_text().splitlines()
    broken.write_text("\n".join(["sku;name;price", *lines[1:]]) + "\n")  # a header the table does not know
    shutil.copytree(repo / "metadata", metadata)
    local = metadata / "environments" / "local.yaml"
    local.write_text(local.read_text().replace("  enabled: false", "  enabled: true"))
    with socket.socket() as probe:  # CloudWatch at a loopback port nobody listens on: its calls fail
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    env = {**os.environ, **SECRETS, "AWS_ENDPOINT_URL": closed, "AWS_DEFAULT_REGION": "us-east-1"}
    command = [
        sys.executable,
        "-m",
        "paylake.cli",
        "-v",
        "run",
        "bronze",
        "--as-of",
        END.isoformat(),
        "--metadata",
        str(metadata),
        "--landing",
        str(landing),
        "--lake",
        str(lake),
    ]
    run = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 1, run.stderr[-3000:]  # skus failed on its header; the others loaded
    assert broken.name in run.stdout and "CloudWatch" in run.stderr  # the failures did happen
    written = []
    for table in sorted(p for layer in ("bronze", "ops") for p in (lake / layer).iterdir()):
        written.append(json.dumps(DeltaTable(str(table)).to_pyarrow_table().to_pylist(), default=str))
    for name, value in SECRETS.items():
        for where, text in [("stdout", run.stdout), ("stderr", run.stderr), ("tables", "\n".join(written))]:
            assert value not in text, f"{name} leaked into {where}"
