"""The MWAA DAG, imported by a real Airflow 2.10 (its own environment, made by `make airflow-env`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from paylake.notebook import WIDGETS

INSPECT = """
import json, sys
from airflow.models import DagBag
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
dag = bag.dags.get("paylake_daily")
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dags),
    "schedule": str(dag.schedule_interval) if dag else None,
    "max_active_runs": dag.max_active_runs if dag else None,
    "catchup": dag.catchup if dag else None,
    "tasks": [
        {
            "task_id": t.task_id,
            "operator": type(t).__name__,
            "retries": t.retries,
            "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
            "conn_id": getattr(t, "databricks_conn_id", None),
            "json": getattr(t, "json", None),
            "templated": list(t.template_fields),
        }
        for t in (dag.tasks if dag else [])
    ],
}))
"""


@pytest.fixture(scope="module")
def dag(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    python = os.environ.get("PAYLAKE_AIRFLOW_PYTHON", str(repo / ".venv-airflow" / "bin" / "python"))
    assert Path(python).is_file(), f"no Airflow environment at {python}: run `make airflow-env` (make test does)"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
    done = subprocess.run(
        [python, "-c", INSPECT, str(repo / "airflow" / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_dag_imports_and_runs_one_job_per_day(dag: dict[str, Any]) -> None:
    assert dag["errors"] == {} and dag["dags"] == ["paylake_daily"]
    assert dag["schedule"] == "0 6 * * *" and dag["max_active_runs"] == 1 and dag["catchup"] is False
    (task,) = dag["tasks"]
    assert task["operator"] == "DatabricksRunNowOperator" and task["conn_id"] == "databricks_default"
    assert task["retries"] == 2 and task["timeout_s"] == 4 * 3600
    assert "json" in task["templated"]


def test_the_dag_passes_the_logical_date_to_the_bundles_job(dag: dict[str, Any], repo: Path) -> None:
    (task,) = dag["tasks"]
    assert task["json"]["job_parameters"] == {"as_of": "{{ ds }}"} and "notebook_params" not in task["json"]
    bundle = yaml.safe_load((repo / "databricks.yml").read_text())
    job_parameters = {p["name"] for p in bundle["resources"]["jobs"]["paylake_daily"]["parameters"]}
    assert set(task["json"]["job_parameters"]) <= job_parameters & set(WIDGETS["layer"])
    job_name = bundle["resources"]["jobs"]["paylake_daily"]["name"].replace("${bundle.target}", "prod")
    assert task["json"]["job_name"] == f"{{{{ var.value.get('paylake_job_name', '{job_name}') }}}}"
