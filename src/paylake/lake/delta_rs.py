"""Local TableStore on delta-rs: tables at ``<lake_root>/<layer>/<table>``, data crossing from Spark via Arrow."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession

from paylake.errors import TableStoreError
from paylake.lake.store import Filters, MergeMetrics, MergeSpec, TableRef, TableStore


def for_delta_rs(table: pa.Table) -> pa.Table:
    """Arrow data from Spark, made safe for delta-rs.

    * Spark's NOT NULL markers are dropped, so later batches with nulls in those columns still append.
    * List columns are rebuilt: when every list in a chunk is empty, Spark exports the child string array with
      empty buffers, on which arrow-rs panics inside a delta-rs MERGE ("range start index ... out of range");
      ``take`` writes standard buffers. The same holds for lists nested in maps and structs, so every nested
      column is rebuilt; only nested columns pay for the copy.
    """

    def relax(data_type: pa.DataType) -> pa.DataType:
        if pa.types.is_list(data_type):
            return pa.list_(pa.field("element", relax(data_type.value_type), nullable=True))
        return data_type

    everything = pa.array(range(table.num_rows), type=pa.int64())
    for index, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            table = table.set_column(index, field, table.column(index).take(everything))
    schema = pa.schema([pa.field(f.name, relax(f.type), nullable=True) for f in table.schema])
    return table.cast(schema)


class DeltaRsStore(TableStore):
    """Delta tables written and merged by delta-rs; Spark DataFrames cross as Arrow tables."""

    def __init__(self, spark: SparkSession | Callable[[], SparkSession], lake_root: str) -> None:
        # A factory defers starting Spark until data must cross into it: history and restore need none.
        self._spark = spark
        self.lake_root = lake_root.rstrip("/")

    @property
    def spark(self) -> SparkSession:
        """The SparkSession DataFrames are created in."""
        if callable(self._spark):
            self._spark = self._spark()
        return self._spark

    def path(self, ref: TableRef) -> str:
        """Location of a table."""
        return f"{self.lake_root}/{ref.layer}/{ref.name}"

    def _table(self, ref: TableRef) -> DeltaTable:
        try:
            return DeltaTable(self.path(ref))
        except TableNotFoundError:
            raise TableStoreError(f"table {ref} does not exist at {self.path(ref)}") from None

    def exists(self, ref: TableRef) -> bool:
        return DeltaTable.is_deltatable(self.path(ref))

    def read_arrow(self, ref: TableRef, filters: Filters = (), columns: Sequence[str] | None = None) -> pa.Table:
        """The table's rows as Arrow, with ``filters`` and ``columns`` pushed into the delta-rs scan."""
        table = self._table(ref)
        return table.to_pyarrow_table(filters=list(filters) or None, columns=list(columns) if columns else None)

    def read(self, ref: TableRef, filters: Filters = (), columns: Sequence[str] | None = None) -> DataFrame:
        return self.spark.createDataFrame(self.read_arrow(ref, filters, columns))

    def _append(self, ref: TableRef, data: pa.Table, partition_by: Sequence[str]) -> None:
        write_deltalake(self.path(ref), data, partition_by=list(partition_by) or None, mode="append")

    def append(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        data = for_delta_rs(df.toArrow())
        if data.num_rows or not self.exists(ref):
            self._append(ref, data, partition_by)

    def replace_where(self, ref: TableRef, df: DataFrame, predicate: str, partition_by: Sequence[str] = ()) -> None:
        data = for_delta_rs(df.toArrow())
        if not self.exists(ref):
            self._append(ref, data, partition_by)
        else:
            write_deltalake(self.path(ref), data, mode="overwrite", predicate=predicate, schema_mode="merge")

    def overwrite(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        data = for_delta_rs(df.toArrow())
        write_deltalake(
            self.path(ref), data, mode="overwrite", schema_mode="overwrite", partition_by=list(partition_by) or None
        )

    def merge(
        self, ref: TableRef, source: DataFrame, spec: MergeSpec, partition_by: Sequence[str] = ()
    ) -> MergeMetrics:
        data = for_delta_rs(source.toArrow())
        if not self.exists(ref):
            self._append(ref, data.slice(0, 0), partition_by)
        if data.num_rows == 0:
            return MergeMetrics(inserted=0, updated=0)
        builder = self._table(ref).merge(data, predicate=spec.predicate, source_alias="s", target_alias="t")
        if spec.update:
            builder = builder.when_matched_update(updates=dict(spec.update), predicate=spec.matched_condition)
        if spec.insert_all:
            builder = builder.when_not_matched_insert_all()
        metrics = builder.execute()
        return MergeMetrics(
            inserted=int(metrics.get("num_target_rows_inserted", 0)),
            updated=int(metrics.get("num_target_rows_updated", 0)),
        )

    def history(self, ref: TableRef, limit: int | None = None) -> list[dict[str, object]]:
        return list(self._table(ref).history(limit))

    def restore(self, ref: TableRef, version: int) -> None:
        self._table(ref).restore(version)

    def vacuum(self, ref: TableRef, retention_hours: int) -> int:
        removed = self._table(ref).vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )
        return len(removed)
