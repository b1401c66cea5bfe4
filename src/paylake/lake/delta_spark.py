"""TableStore on Spark's native Delta and catalog names ``<catalog>.<schema>.<table>``: Databricks' code path.

It runs on Databricks (Unity Catalog) and on local Spark with the Delta Lake jars (engine ``spark-delta``,
``spark_catalog``), where the store contract suite and the engine parity test run it. It renders the shared
:class:`MergeSpec` as ``MERGE INTO`` SQL and otherwise uses Spark SQL and DataFrame writer calls of Spark 4.0
(Databricks Runtime 17.3 LTS); nothing here touches the JVM gateway (shared-access clusters forbid it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.contract import Layer, TableRef
from paylake.errors import TableStoreError
from paylake.lake.store import Compaction, Filters, MergeSpec, TableStore, filters_sql


def merge_sql(target: str, source_view: str, spec: MergeSpec) -> str:
    """Render a MergeSpec as a Spark SQL ``MERGE INTO`` statement (aliases ``t`` and ``s``).

    With schema evolution, as on delta-rs: a column paylake adds later (``_rescued_data``) joins an older table.
    Delta honours ``WITH SCHEMA EVOLUTION`` from 4.3 on (Databricks Runtime 15.2 on); older OSS Delta parses and
    ignores it, which the store contract suite would catch (a new column arriving by merge).
    """
    lines = [f"MERGE WITH SCHEMA EVOLUTION INTO {target} AS t", f"USING {source_view} AS s", f"ON {spec.predicate}"]
    if spec.update:
        condition = f" AND ({spec.matched_condition})" if spec.matched_condition else ""
        # Target columns unqualified: with schema evolution Delta resolves `col` = s.col for a column the target
        # does not have yet (it is added), but fails on t.`col` (DELTA_MERGE_UNRESOLVED_EXPRESSION, Delta 4.3).
        assignments = ", ".join(f"`{column}` = {expression}" for column, expression in spec.update.items())
        lines.append(f"WHEN MATCHED{condition} THEN UPDATE SET {assignments}")
    if spec.insert_all:
        lines.append("WHEN NOT MATCHED THEN INSERT *")
    return "\n".join(lines)


class DeltaSparkStore(TableStore):
    """Native Delta through Spark SQL, addressing tables by catalog name (Unity Catalog on Databricks)."""

    def __init__(self, spark: SparkSession, catalog: str, schemas: Mapping[Layer, str]) -> None:
        self.spark = spark
        self.catalog = catalog
        self.schemas = schemas

    def full_name(self, ref: TableRef) -> str:
        """Backquoted three-part Unity Catalog name of a table."""
        return f"`{self.catalog}`.`{self.schemas[ref.layer]}`.`{ref.name}`"

    def exists(self, ref: TableRef) -> bool:
        return bool(self.spark.catalog.tableExists(f"{self.catalog}.{self.schemas[ref.layer]}.{ref.name}"))

    def read(self, ref: TableRef, filters: Filters = (), columns: Sequence[str] | None = None) -> DataFrame:
        if not self.exists(ref):
            raise TableStoreError(f"table {ref} does not exist as {self.full_name(ref)}")
        df = self.spark.table(self.full_name(ref)).where(filters_sql(filters))
        return df.select(*columns) if columns else df

    def _create_empty(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str]) -> None:
        writer = df.limit(0).write.format("delta").mode("append")
        (writer.partitionBy(*partition_by) if partition_by else writer).saveAsTable(self.full_name(ref))

    def append(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        writer = df.write.format("delta").mode("append").option("mergeSchema", "true")
        (writer.partitionBy(*partition_by) if partition_by else writer).saveAsTable(self.full_name(ref))

    def replace_where(self, ref: TableRef, df: DataFrame, predicate: str, partition_by: Sequence[str] = ()) -> None:
        if not self.exists(ref):  # nothing to replace: the table is created holding the rows, in one commit
            self.append(ref, df, partition_by)
            return
        writer = df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
        writer.option("mergeSchema", "true").saveAsTable(self.full_name(ref))

    def put_rows(self, ref: TableRef, rows: pa.Table, predicate: str | None = None) -> None:
        df = self.spark.createDataFrame(rows)
        if predicate is None:
            self.append(ref, df)
        else:
            self.replace_where(ref, df, predicate)

    def overwrite(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        """An existing table with the same partitioning is overwritten in place (a WRITE commit of data and schema,
        as delta-rs does); otherwise the table is created or replaced with the new partitioning.

        Not ``saveAsTable`` in overwrite mode on an existing table: that is a REPLACE TABLE, after which Delta
        rewrites the table's catalog entry, and Spark's own catalog (the local engine's) then fails on a partition
        column that is not the last one (`CatalogTable.partitionSchema`: assertion failed)."""
        name = self.full_name(ref)
        if self.exists(ref) and self._partition_columns(ref) == list(partition_by):
            df.writeTo(name).option("overwriteSchema", "true").overwrite(F.lit(True))
            return
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        (writer.partitionBy(*partition_by) if partition_by else writer).saveAsTable(name)

    def _detail(self, ref: TableRef, field: str) -> Any:
        """One field of ``DESCRIBE DETAIL`` (read from the table's snapshot, no data job)."""
        detail = self.spark.sql(f"DESCRIBE DETAIL {self.full_name(ref)}").select(field).first()
        return detail[0] if detail is not None else None

    def _partition_columns(self, ref: TableRef) -> list[str]:
        return list(self._detail(ref, "partitionColumns") or [])

    def merge(self, ref: TableRef, source: DataFrame, spec: MergeSpec, partition_by: Sequence[str] = ()) -> None:
        if not self.exists(ref):
            if spec.insert_all:  # nothing to match: the table is created holding the rows, in one commit
                self.append(ref, source, partition_by)
                return
            self._create_empty(ref, source, partition_by)
        view = f"paylake_merge_source_{ref.layer}_{ref.name}"
        source.createOrReplaceTempView(view)
        self.spark.sql(merge_sql(self.full_name(ref), view, spec)).collect()  # a command: its metrics row, no job

    def history(self, ref: TableRef, limit: int | None = None) -> list[dict[str, object]]:
        query = f"DESCRIBE HISTORY {self.full_name(ref)}" + (f" LIMIT {int(limit)}" if limit else "")
        return [row.asDict() for row in self.spark.sql(query).collect()]

    def restore(self, ref: TableRef, version: int) -> None:
        self.spark.sql(f"RESTORE TABLE {self.full_name(ref)} TO VERSION AS OF {int(version)}")

    def compact(self, ref: TableRef, cluster_by: Sequence[str] = ()) -> Compaction:
        """``OPTIMIZE [ZORDER BY]``; its result row carries the files it removed and added. (A table created with
        liquid clustering would take a plain ``OPTIMIZE``; paylake's tables are not: delta-rs cannot write them.)"""
        name = self.full_name(ref)
        before = self._detail(ref, "numFiles")
        zorder = f" ZORDER BY ({', '.join(f'`{column}`' for column in cluster_by)})" if cluster_by else ""
        metrics = self.spark.sql(f"OPTIMIZE {name}{zorder}").first()["metrics"]  # type: ignore[index]
        return Compaction(int(before), int(before) - metrics["numFilesRemoved"] + metrics["numFilesAdded"])

    def vacuum(self, ref: TableRef, retention_hours: int) -> int:
        """VACUUM returns the table's path, not what it removed; the count is the ``numDeletedFiles`` of the
        ``VACUUM END`` commit Delta logs (``spark.databricks.delta.vacuum.logging.enabled``, on by default).

        Below Delta's 7-day default retention Databricks also needs ``retentionDurationCheck`` disabled."""
        before = self._latest_version(ref)
        self.spark.sql(f"VACUUM {self.full_name(ref)} RETAIN {int(retention_hours)} HOURS").collect()
        removed = 0
        for entry in self.history(ref, limit=4):
            if int(str(entry["version"])) > before and entry["operation"] == "VACUUM END":
                metrics = entry.get("operationMetrics") or {}
                removed += int(metrics.get("numDeletedFiles", 0)) if isinstance(metrics, dict) else 0
        return removed

    def _latest_version(self, ref: TableRef) -> int:
        return int(str(self.history(ref, limit=1)[0]["version"]))
