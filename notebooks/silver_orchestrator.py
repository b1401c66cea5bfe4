# Databricks notebook source
# MAGIC %md
# MAGIC # Silver orchestrator
# MAGIC Builds the silver feature tables (invoice details, account profiles, payment history, product catalog)
# MAGIC as of a business date from bronze SCD2 history. All logic lives in the `paylake` package; this notebook
# MAGIC only reads widgets and calls it.

# COMMAND ----------

dbutils.widgets.text("metadata_path", "metadata")
dbutils.widgets.text("table_list", "all")
dbutils.widgets.text("environment", "dev")
dbutils.widgets.text("as_of", "")

# COMMAND ----------

from datetime import date

from paylake.orchestration.runner import run_silver
from paylake.runtime.context import PaylakeContext

as_of_text = dbutils.widgets.get("as_of").strip()
as_of = date.fromisoformat(as_of_text) if as_of_text else date.today()
context = PaylakeContext.create(dbutils.widgets.get("environment"), dbutils.widgets.get("metadata_path"), spark=spark)
outcome = run_silver(context, dbutils.widgets.get("table_list"), as_of)
print(outcome.summary())

# COMMAND ----------

if not outcome.ok:
    failed = [r.table for r in outcome.results if r.status != "SUCCESS"]
    raise RuntimeError(f"silver layer failed for {', '.join(failed)}; see the summary above")
