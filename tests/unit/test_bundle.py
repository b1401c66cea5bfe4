"""The Databricks Asset Bundle, validated offline: every resource of every target goes through the typed models of
the ``databricks-bundles`` package (an unknown key or a wrong type fails), with the target's variables substituted;
then the checks no model expresses (production settings, notebooks and widgets, task order, CLI pin, sync)."""

from __future__ import annotations

import copy
import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from databricks.bundles.dashboards import Dashboard
from databricks.bundles.jobs import Job

from paylake.notebook import WIDGETS

TOP_LEVEL = {"bundle", "variables", "artifacts", "sync", "resources", "targets", "workspace", "permissions", "run_as"}
TARGET_KEYS = {"mode", "default", "variables", "workspace", "run_as", "permissions", "resources", "presets"}
MODELS = {"jobs": Job, "dashboards": Dashboard}
LAYER_TASKS = ["setup", "bronze", "silver", "gold"]
REQUIRED = {"warehouse_id", "instance_profile_arn", "run_as_service_principal", "orchestrator_principal"}


@pytest.fixture(scope="module")
def bundle(repo: Path) -> dict[str, Any]:
    data = yaml.safe_load((repo / "databricks.yml").read_text())
    assert isinstance(data, dict)
    return data


def _merge(base: Any, override: Any) -> Any:
    """A target's override merged into the top-level configuration, maps key by key (as the CLI does)."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: _merge(base[k], v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return copy.deepcopy(override)


def resolved(bundle: dict[str, Any], target: str, given: dict[str, str]) -> dict[str, Any]:
    """The target's configuration with every ``${...}`` reference substituted, as `bundle validate -t` would.

    Raises:
        AssertionError: a variable without a value (neither default, target value nor ``given``) or an unknown
            reference.
    """
    settings = bundle["targets"][target]
    variables = {name: spec.get("default") for name, spec in bundle["variables"].items()}
    variables |= settings.get("variables", {}) | given
    unset = sorted(name for name, value in variables.items() if value is None)
    assert not unset, f"target {target}: no value for required variable(s) {unset}"
    config = {k: v for k, v in bundle.items() if k != "targets"}
    config = _merge(config, {k: v for k, v in settings.items() if k not in ("variables", "mode", "default")})
    known = {
        "bundle.name": bundle["bundle"]["name"],
        "bundle.target": target,
        "workspace.file_path": f"/Workspace/Users/someone/.bundle/paylake/{target}/files",
        "workspace.current_user.userName": "someone@example.com",
    } | {f"var.{name}": str(value) for name, value in variables.items()}

    def substitute(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [substitute(v) for v in value]
        if not isinstance(value, str):
            return value
        for _ in range(3):  # a variable's default may itself hold a reference
            for reference in re.findall(r"\$\{([^}]+)\}", value):
                assert reference in known, f"target {target}: unknown reference ${{{reference}}}"
                value = value.replace(f"${{{reference}}}", known[reference])
        return value

    return substitute(config)  # type: ignore[no-any-return]


GIVEN = {name: f"<{name}>" for name in REQUIRED}


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_every_resource_of_every_target_loads_into_the_typed_models(bundle: dict[str, Any], target: str) -> None:
    assert set(bundle) <= TOP_LEVEL, set(bundle) - TOP_LEVEL
    assert set(bundle["targets"][target]) <= TARGET_KEYS, set(bundle["targets"][target]) - TARGET_KEYS
    config = resolved(bundle, target, GIVEN)
    loaded = 0
    for kind, resources in config["resources"].items():
        assert kind in MODELS, f"no model checks resources of kind {kind}"
        for resource in resources.values():
            MODELS[kind].from_dict(resource)  # raises on an unknown field, a wrong type, a bad enum value
            loaded += 1
    assert loaded == 4


def test_the_validation_catches_what_a_deploy_would_refuse(bundle: dict[str, Any]) -> None:
    config = resolved(bundle, "prod", GIVEN)
    job = copy.deepcopy(config["resources"]["jobs"]["paylake_daily"])
    job["tasks"][0]["notebook_taskz"] = job["tasks"][0].pop("notebook_task")
    with pytest.raises(ValueError, match="Unexpected field 'notebook_taskz' for class Task"):
        Job.from_dict(job)
    with pytest.raises(ValueError, match="is not a valid JobPermissionLevel"):
        Job.from_dict({**config["resources"]["jobs"]["paylake_daily"], "permissions": [{"level": "CAN_RUN_NOW"}]})
    with pytest.raises(AssertionError, match=r"no value for required variable\(s\) \['warehouse_id'\]"):
        resolved(bundle, "dev", {k: v for k, v in GIVEN.items() if k != "warehouse_id"})


def test_required_variables_have_no_default_and_the_cli_version_is_pinned(bundle: dict[str, Any]) -> None:
    assert {name for name, spec in bundle["variables"].items() if "default" not in spec} == REQUIRED
    pin = bundle["bundle"]["databricks_cli_version"]
    found = re.fullmatch(r">=\s*0\.(\d+)\.\d+", pin)
    assert found and int(found.group(1)) >= 281, pin  # dataset_catalog / dataset_schema on dashboards


def test_production_has_a_root_path_a_service_principal_and_permissions(bundle: dict[str, Any]) -> None:
    prod = resolved(bundle, "prod", GIVEN)
    assert prod["workspace"]["root_path"].startswith("/Workspace/") and "prod" in prod["workspace"]["root_path"]
    assert prod["run_as"] == {"service_principal_name": "<run_as_service_principal>"}
    assert {"level": "CAN_MANAGE", "group_name": "paylake-admins"} in prod["permissions"]
    daily = prod["resources"]["jobs"]["paylake_daily"]
    assert {"level": "CAN_MANAGE_RUN", "service_principal_name": "<orchestrator_principal>"} in daily["permissions"]
    dev = resolved(bundle, "dev", GIVEN)
    assert "run_as" not in dev and "permissions" not in dev["resources"]["jobs"]["paylake_daily"]
    assert bundle["targets"]["dev"]["mode"] == "development" and bundle["targets"]["prod"]["mode"] == "production"


def _notebook_kind(path: Path) -> str:
    found = re.search(r'define_widgets\(dbutils(?:, "(\w+)")?\)', path.read_text())
    assert found, f"{path} defines no widgets"
    return found.group(1) or "layer"


def test_every_notebook_and_widget_exists_and_the_tasks_run_in_layer_order(bundle: dict[str, Any], repo: Path) -> None:
    config = resolved(bundle, "prod", GIVEN)
    for name, job in config["resources"]["jobs"].items():
        parameters = {p["name"] for p in job.get("parameters", [])}
        for task in job["tasks"]:
            path = repo / task["notebook_task"]["notebook_path"]
            assert path.is_file() and path.read_text().startswith("# Databricks notebook source\n"), path
            widgets = set(WIDGETS[_notebook_kind(path)])
            assert set(task["notebook_task"]["base_parameters"]) <= widgets, (name, task["task_key"])
            if task["task_key"] != "setup":
                assert parameters <= widgets, (name, task["task_key"], parameters - widgets)
            assert task["libraries"] == [{"whl": "./dist/*.whl"}]
            (cluster,) = job["job_clusters"]
            assert task["job_cluster_key"] == cluster["job_cluster_key"]
            assert cluster["new_cluster"]["aws_attributes"]["instance_profile_arn"] == "<instance_profile_arn>"
            assert cluster["new_cluster"]["data_security_mode"] == "SINGLE_USER"
            assert re.fullmatch(r"17\.\d+\.x-scala2\.13", cluster["new_cluster"]["spark_version"])
    tasks = config["resources"]["jobs"]["paylake_daily"]["tasks"]
    assert [t["task_key"] for t in tasks] == LAYER_TASKS
    assert "depends_on" not in tasks[0]
    for before, task in zip(tasks, tasks[1:], strict=False):
        assert task["depends_on"] == [{"task_key": before["task_key"]}]


def test_one_business_date_per_run_reaches_every_task(bundle: dict[str, Any]) -> None:
    for name in ("paylake_daily", "paylake_maintenance"):
        job = bundle["resources"]["jobs"][name]
        parameters = {p["name"]: p["default"] for p in job["parameters"]}
        # Job parameters reach every task and stay fixed for the run's retries and repairs.
        assert parameters == {"as_of": "", "run_started": "{{job.start_time.iso_datetime}}"}, name
        for task in job["tasks"]:
            assert not {"as_of", "run_started"} & set(task["notebook_task"]["base_parameters"]), task["task_key"]


def test_the_dashboard_reads_the_analyst_views_of_each_targets_environment(bundle: dict[str, Any], repo: Path) -> None:
    for target in bundle["targets"]:
        config = resolved(bundle, target, GIVEN)
        dashboard = config["resources"]["dashboards"]["payment_health"]
        assert (repo / dashboard["file_path"]).is_file() and dashboard["file_path"].endswith(".lvdash.json")
        assert dashboard["warehouse_id"] == "<warehouse_id>"
        environment = yaml.safe_load(
            (
                repo / "metadata" / "environments" / f"{bundle['targets'][target]['variables']['environment']}.yaml"
            ).read_text()
        )["databricks"]
        assert (dashboard["dataset_catalog"], dashboard["dataset_schema"]) == (
            environment["catalog"],
            environment["analyst_schema"],
        ), target
        assert dashboard["permissions"] == [{"level": "CAN_RUN", "group_name": environment["analysts_group"]}]


def test_sync_uploads_what_the_workspace_needs_and_nothing_else(bundle: dict[str, Any], repo: Path) -> None:
    listed = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    files = subprocess.run(listed, cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    excluded = bundle["sync"]["exclude"]
    synced = {f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in excluded)}
    assert {f"notebooks/{n}.py" for n in ("setup_unity_catalog", "bronze_orchestrator", "maintenance")} <= synced
    assert "metadata/environments/prod.yaml" in synced and "resources/dashboards/payment_health.lvdash.json" in synced
    assert not {f for f in synced if f.split("/")[0] in {"landing", "tests", "bench", "src", "airflow", "jars"}}
    assert any(f.startswith("landing/") for f in files)  # the check above is not vacuous
