"""The orchestrator notebooks, executed cell by cell from their Databricks source files with a small ``dbutils``
stand-in (widgets with job parameters, secrets from a dict), so the notebooks cannot rot."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.orchestration.runner import LayerRun

END = date(2026, 3, 10)
CONFIG = GeneratorConfig(accounts=40, skus=6, days=2, end=END, seed=3, history_days=15, dirty_rate=0.005)
HEADER, SEPARATOR = "# Databricks notebook source\n", "\n# COMMAND ----------\n"


class Widgets:
    def __init__(self, parameters: dict[str, str]) -> None:
        self.parameters, self.defaults = parameters, {}

    def text(self, name: str, default: str, label: str | None = None) -> None:
        self.defaults[name] = default

    def get(self, name: str) -> str:
        if name not in self.defaults:
            raise ValueError(f"InputWidgetNotDefined: {name}")  # as dbutils does for an undefined widget
        return self.parameters.get(name, self.defaults[name])


class SecretsStandIn:
    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values

    def get(self, scope: str, key: str) -> str:
        if (scope, key) not in self.values:
            raise ValueError(f"Secret does not exist with scope: {scope} and key: {key}")
        return self.values[(scope, key)]


class DbutilsStandIn:
    def __init__(self, parameters: dict[str, str]) -> None:
        self.widgets = Widgets(parameters)
        self.secrets = SecretsStandIn({})


def cells(path: Path) -> list[str]:
    """The Python cells of a Databricks source-format notebook (markdown cells are all ``# MAGIC`` lines)."""
    text = path.read_text()
    assert text.startswith(HEADER), f"{path} is not in Databricks notebook source format"
    found = [cell.strip() for cell in text[len(HEADER) :].split(SEPARATOR)]
    return [c for c in found if c and not all(line.startswith("# MAGIC") for line in c.splitlines())]


def run_notebook(path: Path, spark: SparkSession, parameters: dict[str, str]) -> dict[str, object]:
    namespace: dict[str, object] = {"spark": spark, "dbutils": DbutilsStandIn(parameters)}
    for index, cell in enumerate(cells(path)):
        exec(compile(cell, f"{path.name}[cell {index}]", "exec"), namespace)  # noqa: S102 - the notebook itself
    return namespace


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    write_landing(CONFIG, root)
    return root


def test_bronze_silver_and_gold_notebooks_run_the_layers(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parameters = {
        "metadata_path": str(repo / "metadata"),
        "environment": "local",
        "as_of": END.isoformat(),
        "landing_path": str(landing),
        "lake_path": str(tmp_path / "lake"),
    }
    for layer, title in [
        ("bronze", "BRONZE LAYER INGESTION SUMMARY"),
        ("silver", "SILVER LAYER TRANSFORMATION"),
        ("gold", "GOLD LAYER SUMMARY"),
    ]:
        namespace = run_notebook(repo / "notebooks" / f"{layer}_orchestrator.py", spark, parameters)
        outcome = namespace["outcome"]
        assert isinstance(outcome, LayerRun) and outcome.ok and outcome.run.as_of == END
        assert title in capsys.readouterr().out
    details = DeltaTable(str(tmp_path / "lake" / "silver" / "invoice_details")).to_pyarrow_table()
    assert details.num_rows > 0 and set(details.column("as_of").to_pylist()) == {END}
    scores = DeltaTable(str(tmp_path / "lake" / "gold" / "customer_payment_metrics")).to_pyarrow_table()
    accounts = DeltaTable(str(tmp_path / "lake" / "silver" / "account_profiles")).to_pyarrow_table()
    assert scores.num_rows == accounts.num_rows > 0 and set(scores.column("score_date").to_pylist()) == {END}


def test_a_failed_layer_fails_the_notebook_and_a_bad_widget_is_named(
    spark: SparkSession, repo: Path, tmp_path: Path
) -> None:
    parameters = {
        "metadata_path": str(repo / "metadata"),
        "environment": "local",
        "as_of": END.isoformat(),
        "lake_path": str(tmp_path / "empty-lake"),
        "table_list": "product_catalog",
    }
    with pytest.raises(RuntimeError, match="silver layer failed for product_catalog; see the summary above"):
        run_notebook(repo / "notebooks" / "silver_orchestrator.py", spark, parameters)
    with pytest.raises(Exception, match="widget as_of: '2026-02-30' is not a date"):
        run_notebook(repo / "notebooks" / "silver_orchestrator.py", spark, {**parameters, "as_of": "2026-02-30"})


def test_every_notebook_is_thin() -> None:
    for path in sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py")):
        code = [line for c in cells(path) for line in c.splitlines() if line.strip() and not line.startswith("#")]
        assert len(code) <= 8, f"{path.name} holds logic; move it into the paylake package"
        assert "run_layer(" in "\n".join(code)
