# Databricks notebook source
# MAGIC %md
# MAGIC # Maintenance
# MAGIC Archives bronze SCD2 versions past each table's retention, compacts every table's small files (`OPTIMIZE`,
# MAGIC Z-ordered by the table's `cluster_by`) and vacuums files older than the environment's
# MAGIC `vacuum_retention_hours` (`paylake maintain`). Run by the job paylake-maintenance.
# MAGIC All logic lives in the `paylake` package; this notebook only reads its widgets and calls it.

# COMMAND ----------

from paylake.notebook import define_widgets, run_maintenance

define_widgets(dbutils, "maintenance")

# COMMAND ----------

print(run_maintenance(dbutils, spark))
