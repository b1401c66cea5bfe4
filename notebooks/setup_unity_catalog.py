# Databricks notebook source
# MAGIC %md
# MAGIC # Unity Catalog set-up
# MAGIC Creates the catalog, the layers' schemas and tables, the analyst views that mask PII, and the grants for
# MAGIC the analysts, the PII readers and the job's principal. Idempotent: the daily job runs it before bronze.
# MAGIC All logic lives in the `paylake` package; this notebook only reads its widgets and calls it.

# COMMAND ----------

from paylake.notebook import define_widgets, run_setup

define_widgets(dbutils, "setup")

# COMMAND ----------

result = run_setup(dbutils, spark)
print(result.summary())
