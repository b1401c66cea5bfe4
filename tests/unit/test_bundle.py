"""The Databricks Asset Bundle references only things that exist: notebooks, widgets, variables, environments."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from paylake.runtime.notebook import WIDGETS


@pytest.fixture(scope="module")
def bundle(repo: Path) -> dict[str, Any]:
    data = yaml.safe_load((repo / "databricks.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_bundle_has_the_fields_a_bundle_needs(bundle: dict[str, Any]) -> None:
    assert bundle["bundle"]["name"] == "paylake"
    assert bundle["targets"]["dev"] == {"mode": "development", "default": True, "variables": {"environment": "dev"}}
    assert bundle["targets"]["prod"]["mode"] == "production"
    assert bundle["artifacts"]["paylake"]["type"] == "whl"
    job = bundle["resources"]["jobs"]["paylake_daily"]
    assert job["schedule"]["pause_status"] == "PAUSED" and job["max_concurrent_runs"] == 1
    assert job["email_notifications"]["on_failure"] == ["${var.notification_email}"]
    (cluster,) = job["job_clusters"]
    assert re.fullmatch(r"17\.\d+\.x-scala2\.13", cluster["new_cluster"]["spark_version"])
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert list(tasks) == ["bronze", "silver", "gold"]
    assert tasks["silver"]["depends_on"] == [{"task_key": "bronze"}]
    assert tasks["gold"]["depends_on"] == [{"task_key": "silver"}]
    for task in tasks.values():
        assert task["job_cluster_key"] == cluster["job_cluster_key"]
        assert task["libraries"] == [{"whl": "./dist/*.whl"}]
        assert task["max_retries"] >= 1


def test_every_notebook_widget_variable_and_environment_exists(bundle: dict[str, Any], repo: Path) -> None:
    for task in bundle["resources"]["jobs"]["paylake_daily"]["tasks"]:
        notebook = task["notebook_task"]
        assert (repo / notebook["notebook_path"]).is_file(), notebook["notebook_path"]
        assert (repo / notebook["notebook_path"]).read_text().startswith("# Databricks notebook source\n")
        assert set(notebook["base_parameters"]) <= set(WIDGETS), notebook["base_parameters"]
    declared = set(bundle["variables"])
    used = set(re.findall(r"\$\{var\.([a-z_]+)\}", (repo / "databricks.yml").read_text()))
    assert used <= declared, used - declared
    for target in bundle["targets"].values():
        environment = target["variables"]["environment"]
        assert (repo / "metadata" / "environments" / f"{environment}.yaml").is_file(), environment


def test_the_dashboard_resource_reads_the_environments_gold_schema(bundle: dict[str, Any], repo: Path) -> None:
    dashboard = bundle["resources"]["dashboards"]["payment_health"]
    assert (repo / dashboard["file_path"]).is_file() and dashboard["file_path"].endswith(".lvdash.json")
    assert dashboard["warehouse_id"] == "${var.warehouse_id}"
    assert (dashboard["dataset_catalog"], dashboard["dataset_schema"]) == ("${var.catalog}", "${var.gold_schema}")
    defaults = {name: spec.get("default") for name, spec in bundle["variables"].items()}
    for target in bundle["targets"].values():
        variables = {**defaults, **target["variables"]}
        environment = yaml.safe_load(
            (repo / "metadata" / "environments" / f"{variables['environment']}.yaml").read_text()
        )
        assert variables["catalog"] == environment["databricks"]["catalog"], target
        assert variables["gold_schema"] == environment["databricks"]["schemas"]["gold"], target
