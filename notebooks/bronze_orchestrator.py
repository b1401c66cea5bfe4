# Databricks notebook source
# MAGIC %md
# MAGIC # Bronze orchestrator
# MAGIC Ingests the landing feeds into bronze SCD2 Delta tables behind the data-quality gates.
# MAGIC All logic lives in the `paylake` package; this notebook only reads widgets and calls it.

# COMMAND ----------

dbutils.widgets.text("metadata_path", "metadata")
dbutils.widgets.text("table_list", "all")
dbutils.widgets.text("environment", "dev")
dbutils.widgets.text("as_of", "")

# COMMAND ----------

from datetime import date

from paylake.orchestration.runner import run_bronze
from paylake.runtime.context import PaylakeContext

as_of_text = dbutils.widgets.get("as_of").strip()
as_of = date.fromisoformat(as_of_text) if as_of_text else date.today()
context = PaylakeContext.create(dbutils.widgets.get("environment"), dbutils.widgets.get("metadata_path"), spark=spark)
outcome = run_bronze(context, dbutils.widgets.get("table_list"), as_of)
print(outcome.summary())

# COMMAND ----------

if not outcome.ok:
    failed = [r.table for r in outcome.results if r.status != "SUCCESS"]
    raise RuntimeError(f"bronze layer failed for {', '.join(failed)}; see the summary above")
