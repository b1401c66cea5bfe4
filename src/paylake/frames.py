"""Small Spark helpers every layer uses: DataFrames from Python rows, and map aggregation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema, to_arrow_type
from pyspark.sql.types import DataType, DateType, StructType, TimestampType


def _arrow_array(values: list[Any], spark_type: DataType) -> pa.Array:
    """Spark's internal values of one column as the Arrow array Spark reads back as the same values."""
    if isinstance(spark_type, TimestampType):  # microseconds since the epoch, UTC
        return pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    if isinstance(spark_type, DateType):  # days since the epoch
        return pa.array(values, pa.int32()).cast(pa.date32())
    return pa.array(values, to_arrow_type(spark_type))


def _struct(schema: str | StructType) -> StructType:
    struct = schema if isinstance(schema, StructType) else DataType.fromDDL(schema)
    if not isinstance(struct, StructType):
        raise TypeError(f"schema must describe a struct, got {schema!r}")
    return struct


def arrow_rows(rows: Iterable[Sequence[Any]], schema: str | StructType) -> pa.Table:
    """Python rows as the Arrow table Spark reads back as ``spark.createDataFrame(rows, schema)``: values are
    converted the way ``createDataFrame`` converts them (``StructType.toInternal``), naive datetimes included.

    A store that writes Arrow takes such a table as it is (:meth:`TableStore.put_rows`): the run log, file log and
    metrics of every table are written without a Spark job."""
    struct = _struct(schema)
    internal = [struct.toInternal(tuple(row)) for row in rows]
    columns = [
        _arrow_array([row[index] for row in internal], field.dataType) for index, field in enumerate(struct.fields)
    ]
    return pa.Table.from_arrays(columns, names=struct.fieldNames())


def no_rows(schema: StructType) -> pa.Table:
    """An Arrow table without rows whose columns read back in Spark as ``schema``."""
    return to_arrow_schema(schema, error_on_duplicated_field_names_in_struct=True).empty_table()


def rows_frame(spark: SparkSession, rows: Iterable[Sequence[Any]], schema: str | StructType) -> DataFrame:
    """``spark.createDataFrame(rows, schema)`` as a local relation (:func:`arrow_rows`), with the same values.

    ``createDataFrame`` over Python rows makes an RDD of unknown size, so a store stages even one row through a
    Parquet job; through Arrow the plan holds the rows and their size, and a store collects them at once."""
    struct = _struct(schema)
    return spark.createDataFrame(arrow_rows(rows, struct), schema=struct)


def map_agg(key: str | Column, value: str | Column) -> Column:
    """Aggregate: the group's ``key -> value`` pairs as a map, its entries in key order.

    ``collect_list`` gathers in the order rows arrive from the shuffle, which differs between runs, partitionings
    and engines; a map is written in its entry order, so unsorted the same rows gave maps that compare unequal
    (found by the engine parity test)."""
    entries = F.collect_list(F.struct(F.col(key) if isinstance(key, str) else key, value))
    return F.map_from_entries(F.array_sort(entries))
