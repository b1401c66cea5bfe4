# Databricks notebook source
# MAGIC %md
# MAGIC # Backtest
# MAGIC Backtests the risk score on past score dates against what happened after them (`paylake backtest`).
# MAGIC Run by the job paylake-backtest with the widgets `start`, `end` and optionally `horizon_days`,
# MAGIC `step_days`, `challenger`.
# MAGIC All logic lives in the `paylake` package; this notebook only reads its widgets and calls it.

# COMMAND ----------

from paylake.notebook import define_widgets, run_backtest

define_widgets(dbutils, "backtest")

# COMMAND ----------

print(run_backtest(dbutils, spark))
