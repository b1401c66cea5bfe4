"""MWAA DAG: run the paylake_daily Databricks job (bronze -> silver -> gold) once per business date.

The job is deployed by the Databricks Asset Bundle (``databricks.yml``) with its own schedule paused; this DAG is
its only trigger. Each run passes the DAG run's logical date as the job parameter ``as_of`` (the job hands it to
every task), so a backfill of a past date recomputes that date; for this daily schedule it is the day before the
run, the same date a manual "Run now" with an empty ``as_of`` computes. Set the connection ``databricks_default``
to the workspace, with a token of the orchestrator's service principal (the bundle grants it CAN_MANAGE_RUN on the
production job), and the Airflow Variable ``paylake_job_name`` to target another deployment: the bundle names the
job ``paylake-daily-<target>``, and in development mode ``[dev <user>] paylake-daily-dev``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.databricks.operators.databricks import DatabricksRunNowOperator

with DAG(
    dag_id="paylake_daily",
    description="paylake medallion pipeline on Databricks, one run per business date",
    schedule="0 6 * * *",  # after the landing feeds of the previous day have arrived
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs of different dates must not write the same tables at once
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=4),
    },
    tags=["paylake", "databricks"],
) as dag:
    DatabricksRunNowOperator(
        task_id="run_paylake_daily",
        databricks_conn_id="databricks_default",
        job_name="{{ var.value.get('paylake_job_name', 'paylake-daily-prod') }}",
        job_parameters={"as_of": "{{ ds }}"},  # a job parameter: it reaches every task of the run
        wait_for_termination=True,
    )
