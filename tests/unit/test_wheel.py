"""The wheel a Databricks cluster installs: runtime dependencies are what a cluster lacks, never a second pyspark,
and the code a cluster runs imports without the local engine's packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

LOCAL_ONLY = {"pyspark", "delta-spark", "deltalake", "duckdb", "plotly", "pyarrow", "pandas", "numpy"}


@pytest.fixture(scope="module")
def requires(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(repo)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("paylake-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    return [line.removeprefix("Requires-Dist: ") for line in text.splitlines() if line.startswith("Requires-Dist: ")]


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0].strip()


def test_the_wheel_requires_no_pyspark_and_no_local_engine_package(requires: list[str]) -> None:
    unconditional = {_name(r).lower() for r in requires if ";" not in r}
    assert unconditional == {"pyyaml", "pydantic", "boto3", "watchtower"}
    local = {_name(r).lower() for r in requires if 'extra == "local"' in r}
    assert local == LOCAL_ONLY


def test_the_databricks_code_path_imports_without_the_local_packages() -> None:
    blocked = ["deltalake", "duckdb", "plotly", "delta"]  # delta: delta-spark's Python package
    script = f"""
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not installed on a Databricks cluster")
sys.meta_path.insert(0, Blocked())
import paylake.notebook, paylake.deploy.setup, paylake.pipeline.maintain
import paylake.scoring.backtest, paylake.lake.versions, paylake.lake.delta_spark
import paylake.silver, paylake.gold
from paylake.runtime.context import ENGINES
print(sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r}))
"""
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == "[]"
