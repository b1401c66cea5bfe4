# Databricks notebook source
# MAGIC %md
# MAGIC # Table versions
# MAGIC Lists a table's Delta versions (`paylake history`); with `to_version` set, restores the table to that version
# MAGIC as a new commit (`paylake rollback`). Widgets: `table` (`<layer>.<table>`), `to_version`, `limit`.
# MAGIC All logic lives in the `paylake` package; this notebook only reads its widgets and calls it.

# COMMAND ----------

from paylake.notebook import define_widgets, run_table_versions

define_widgets(dbutils, "table_versions")

# COMMAND ----------

print(run_table_versions(dbutils, spark))
