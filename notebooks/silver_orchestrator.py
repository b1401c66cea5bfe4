# Databricks notebook source
# MAGIC %md
# MAGIC # Silver orchestrator
# MAGIC Builds the silver feature tables (invoice details, account profiles, payment history, product catalog)
# MAGIC as of a business date from bronze SCD2 history.
# MAGIC All logic lives in the `paylake` package; this notebook only reads its widgets and calls it.
# MAGIC
# MAGIC Widgets: `metadata_path` (workspace path or `s3://...`), `table_list` (`all` or a comma list),
# MAGIC `environment`, `as_of` (YYYY-MM-DD; empty = the day before the job run started, `run_started`, in the
# MAGIC environment's time zone, the same for every task and retry of a run) and optional `landing_path` /
# MAGIC `lake_path` overrides.

# COMMAND ----------

from paylake.notebook import define_widgets, run_layer

define_widgets(dbutils)

# COMMAND ----------

outcome = run_layer("silver", dbutils, spark)
print(outcome.summary())

# COMMAND ----------

# Fail the task so that Jobs and Airflow see the failure.
if not outcome.ok:
    failed = [r.table for r in outcome.results if r.status != "SUCCESS"]
    raise RuntimeError(f"silver layer failed for {', '.join(failed)}; see the summary above")
