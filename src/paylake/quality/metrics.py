"""Per-rule data-quality metrics of every layer, in ``ops.dq_metrics`` (one row per rule and batch)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from paylake.lake.store import TableRef, TableStore, sql_literal
from paylake.runtime.spark import rows_frame

DQ_METRICS = TableRef("ops", "dq_metrics")
FAILURES_SCHEMA = "rule string, rule_type string, action string, rows_checked bigint, rows_failed bigint"


def write_dq_metrics(
    spark: SparkSession,
    store: TableStore,
    layer: str,
    table: str,
    failures: Sequence[Row],
    batch_id: str,
    run_id: str,
    as_of: date,
    at: datetime,
) -> None:
    """Replace the metrics of one table's batch with ``failures`` (rows of :data:`FAILURES_SCHEMA`)."""
    if not failures:
        return
    metrics = rows_frame(spark, failures, FAILURES_SCHEMA)
    store.replace_where(
        DQ_METRICS,
        metrics.select(
            F.lit(run_id).alias("run_id"),
            F.lit(batch_id).alias("batch_id"),
            F.lit(layer).alias("layer"),
            F.lit(table).alias("table"),
            "rule",
            "rule_type",
            "action",
            "rows_checked",
            "rows_failed",
            # No rows checked (a header-only file): nothing failed.
            F.when(F.col("rows_checked") > 0, 1 - F.col("rows_failed") / F.col("rows_checked"))
            .otherwise(F.lit(1.0))
            .alias("pass_rate"),
            F.lit(as_of).alias("as_of"),
            F.lit(at).alias("recorded_at"),
        ),
        f"batch_id = {sql_literal(batch_id)} AND layer = {sql_literal(layer)} AND table = {sql_literal(table)}",
    )
