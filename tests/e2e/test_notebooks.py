"""The notebooks, executed cell by cell from their Databricks source files with a small ``dbutils`` stand-in
(widgets with job parameters, secrets from a dict), so the notebooks cannot rot: the layer notebooks on the embedded
engine, and the daily job's tasks in order (set-up, bronze, silver, gold) on the local Spark + Delta engine."""

from __future__ import annotations

import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.deploy.setup import SetupResult
from paylake.notebook import business_date
from paylake.pipeline.runner import LayerRun

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


def test_the_layer_and_operations_notebooks_run_on_a_lake(
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

    # The operations notebooks on the same lake: history, maintenance, rollback, and a backtest's widget check.
    capsys.readouterr()
    versions = {**parameters, "table": "ops.pipeline_runs"}  # one commit per layer run
    run_notebook(repo / "notebooks" / "table_versions.py", spark, versions)
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["version", "committed", "(UTC)", "operation", "rows", "added", "rows", "removed"]
    assert len(listed) >= 2 and listed[-1].split()[0] == "0"
    run_notebook(repo / "notebooks" / "maintenance.py", spark, {**parameters, "vacuum": "false"})
    report = capsys.readouterr().out
    assert "files vacuumed" in report and "bronze.accounts" in report
    run_notebook(repo / "notebooks" / "table_versions.py", spark, {**versions, "to_version": "0"})
    assert "restored ops.pipeline_runs to version 0" in capsys.readouterr().out
    history = DeltaTable(str(tmp_path / "lake" / "ops" / "pipeline_runs")).history()
    assert history[0]["operation"] == "RESTORE"
    with pytest.raises(Exception, match="widget start: '' is not a date"):
        run_notebook(repo / "notebooks" / "backtest.py", spark, parameters)


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
    paths = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))
    assert len(paths) == 7
    for path in paths:
        code = [line for c in cells(path) for line in c.splitlines() if line.strip() and not line.startswith("#")]
        assert len(code) <= 8, f"{path.name} holds logic; move it into the paylake package"
        assert code[0].startswith("from paylake.notebook import define_widgets, run_"), path.name


def test_an_empty_as_of_is_the_day_before_the_job_run_started_in_the_environments_time_zone() -> None:
    assert business_date("2026-03-01", "2026-03-09T05:00:00", "UTC") == date(2026, 3, 1)
    # Every task and retry of one run gets the same run_started, so crossing midnight changes nothing.
    assert business_date("", "2026-03-10T23:59:59", "UTC") == date(2026, 3, 9)
    assert business_date("", "2026-03-10T03:00:00Z", "America/New_York") == date(2026, 3, 8)  # 23:00 on the 9th
    with pytest.raises(Exception, match="widget as_of is empty and no run_started was passed"):
        business_date("", "", "UTC")
    with pytest.raises(Exception, match="widget run_started: 'yesterday' is not an ISO date-time"):
        business_date("", "yesterday", "UTC")


def spark_environment(repo: Path, root: Path) -> tuple[Path, str]:
    """A copy of the metadata with a local Spark + Delta environment whose schema names are this test's own (the
    test session's catalog serves several lakes)."""
    metadata = root / "metadata"
    shutil.copytree(repo / "metadata", metadata)
    prefix = f"nb{uuid.uuid4().hex[:8]}"
    schemas = ", ".join(f"{layer}: {prefix}_{layer}" for layer in ("bronze", "silver", "gold", "ops"))
    (metadata / "environments" / "nb-spark.yaml").write_text(
        f"name: nb-spark\nengine: spark-delta\nlanding_root: landing\nlake_root: {root / 'lake'}\n"
        f"databricks:\n  catalog: spark_catalog\n  schemas: {{{schemas}}}\n  analyst_schema: {prefix}_analytics\n"
    )
    return metadata, prefix


def test_the_daily_job_runs_its_tasks_in_order_on_spark_delta_and_masked_pii_never_reaches_bronze(
    spark: SparkSession, repo: Path, landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metadata, prefix = spark_environment(repo, tmp_path)
    first = END - timedelta(days=1)
    # As a job run passes them: no as_of, the run's start (just after midnight UTC).
    parameters = {
        "metadata_path": str(metadata),
        "environment": "nb-spark",
        "landing_path": str(landing),
        "run_started": f"{END.isoformat()}T00:30:00",
    }
    setup = run_notebook(repo / "notebooks" / "setup_unity_catalog.py", spark, parameters)["result"]
    assert isinstance(setup, SetupResult)
    assert [s.sql.split(" ")[0] for s in setup.not_run] == ["CREATE"] + ["GRANT"] * (len(setup.not_run) - 1)
    assert setup.not_run[0].sql.startswith("CREATE CATALOG") and len(setup.not_run) > 4
    assert spark.catalog.tableExists(f"spark_catalog.{prefix}_gold.customer_payment_metrics")  # created empty
    assert "statement(s) run" in capsys.readouterr().out
    for layer in ("bronze", "silver", "gold"):
        outcome = run_notebook(repo / "notebooks" / f"{layer}_orchestrator.py", spark, parameters)["outcome"]
        assert isinstance(outcome, LayerRun) and outcome.ok and outcome.run.as_of == first, layer
    scores = spark.table(f"spark_catalog.{prefix}_gold.customer_payment_metrics")
    assert scores.count() > 0 and {r[0] for r in scores.select("score_date").distinct().collect()} == {first}
    # The analyst view masks PII (nobody is in a group locally); the table the job reads holds the names.
    view = spark.table(f"spark_catalog.{prefix}_analytics.accounts").where("is_current")
    table = spark.table(f"spark_catalog.{prefix}_bronze.accounts").where("is_current")
    assert {r[0] for r in view.select("account_name").distinct().collect()} == {"****"}
    assert table.count() == view.count() > 0 and table.where("account_name = '****'").count() == 0
    again = run_notebook(repo / "notebooks" / "setup_unity_catalog.py", spark, parameters)["result"]
    assert len(again.executed) == len(setup.executed)  # idempotent, on tables that exist and hold data now
    assert spark.table(f"spark_catalog.{prefix}_bronze.accounts").count() == table.count()
    assert spark.table(f"spark_catalog.{prefix}_analytics.accounts").where("is_current").count() == view.count()

    # Spark has no column masks; make the job's read of bronze return what a mask returns to a principal outside
    # the PII readers group, then load the next day: the batch is refused before anything is written.
    accounts = f"spark_catalog.{prefix}_bronze.accounts"
    spark.sql(f"UPDATE {accounts} SET account_name = '****' WHERE is_current")
    version = spark.sql(f"DESCRIBE HISTORY {accounts}").first()[0]  # type: ignore[index]
    capsys.readouterr()
    next_day = {**parameters, "run_started": f"{(END + timedelta(days=1)).isoformat()}T00:30:00"}
    with pytest.raises(RuntimeError, match="bronze layer failed for accounts"):
        run_notebook(repo / "notebooks" / "bronze_orchestrator.py", spark, next_day)
    printed = capsys.readouterr().out
    assert "PII column account_name of bronze.accounts reads as masked ('****')" in printed
    assert "run the job as a member of the PII readers (group 'paylake-pii-readers')" in printed
    assert spark.sql(f"DESCRIBE HISTORY {accounts}").first()[0] == version  # type: ignore[index]
