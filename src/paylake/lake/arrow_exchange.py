"""Data crossing between Spark and Arrow for the embedded store: staging folders, batches, schemas, the JVM heap.

Spark → delta-rs goes through a staging folder: Spark's own Parquet writer materialises the DataFrame (in
parallel, spilling as it needs), and delta-rs reads it back as a stream of Arrow batches. Collecting a DataFrame
into the driver instead (``toArrow``) holds the whole result in the JVM and in Python at once: 3 million line
items lost their task result that way, and it is slower. Only results Spark estimates as small are collected.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import WriterProperties
from py4j.protocol import Py4JError
from pyspark.sql import Column, DataFrame, Observation, Row, SparkSession

from paylake.contract import TableRef
from paylake.faults import fault_point

logger = logging.getLogger(__name__)


def _relaxed(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_list(data_type):
        return pa.list_(pa.field("element", _relaxed(data_type.value_type), nullable=True))
    if pa.types.is_map(data_type):  # values nullable, as Spark's Delta writer declares them
        return pa.map_(data_type.key_type, pa.field("value", _relaxed(data_type.item_type), nullable=True))
    return data_type


def path_partition_type(data_type: pa.DataType) -> bool:
    """Partition column types whose path values Spark reads back as delta-rs wrote them: integers, booleans and
    dates. Not text: delta-rs percent-escapes the UTF-8 bytes of a value and Spark decodes each byte as a
    character (`ünï` comes back as `Ã¼nÃ¯`); timestamps and decimals are rendered differently by the two."""
    return bool(pa.types.is_integer(data_type) or pa.types.is_boolean(data_type) or pa.types.is_date32(data_type))


def local_path(uri: str) -> str | None:
    """The local file path of a delta-rs file URI, or None for a remote one."""
    if uri.startswith("file://"):
        return unquote(uri.removeprefix("file://"))
    return uri if uri.startswith("/") else None


def for_delta_rs(table: pa.Table) -> pa.Table:
    """Arrow data from Spark, made safe for delta-rs.

    * Spark's NOT NULL markers are dropped, so later batches with nulls in those columns still append.
    * List columns are rebuilt: when every list in a chunk is empty, Spark exports the child string array with
      empty buffers, on which arrow-rs panics inside a delta-rs MERGE ("range start index ... out of range");
      ``take`` writes standard buffers. The same holds for lists nested in maps and structs, so every nested
      column is rebuilt; only nested columns pay for the copy.
    """
    everything = pa.array(range(table.num_rows), type=pa.int64())
    for index, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            table = table.set_column(index, field, table.column(index).take(everything))
    return table.cast(delta_rs_schema(table.schema))


def delta_rs_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every top-level column, list element and map value nullable (see :func:`for_delta_rs`)."""
    return pa.schema([pa.field(f.name, _relaxed(f.type), nullable=True) for f in schema])


# Row groups of 128k rows instead of the writer's default of 1M: Spark splits a file between tasks only at row
# groups (a million-row bronze file was read by one task), DuckDB parallelises by row group, and the writer buffers
# one row group in memory. Measured on 3.1M line items: a silver window pass 13.0 s -> 11.1 s.
WRITER_ROW_GROUP_ROWS = 128 * 1024
WRITER = WriterProperties(max_row_group_size=WRITER_ROW_GROUP_ROWS)

# A result Spark estimates at most this big crosses as one Arrow collect: a Parquet write costs a job, a commit and
# a folder (~0.3-0.9 s), which dominates the many small writes of a run (quarantines, metrics, gold tables).
SMALL_RESULT_BYTES = 16 * 1024 * 1024


def estimated_bytes(df: DataFrame) -> int | None:
    """Spark's size estimate of ``df`` from its optimized plan (no job runs), or None when it cannot tell.

    Without cost-based statistics the estimate errs high for joins and unknown sources, and is exact for cached
    data; it errs low for a Parquet scan (on-disk bytes), hence the margin of :data:`SMALL_RESULT_BYTES`."""
    try:
        return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except (AttributeError, ValueError, Py4JError):
        return None


def _utc(table: pa.Table) -> pa.Table:
    """Spark's Arrow timestamps carry the session time zone; Delta's (and the staged Parquet's) are UTC."""
    schema = pa.schema(
        [
            f.with_type(pa.timestamp(f.type.unit, tz="UTC")) if pa.types.is_timestamp(f.type) and f.type.tz else f
            for f in table.schema
        ]
    )
    return table.cast(schema)


@contextmanager
def staged(df: DataFrame) -> Iterator[ds.Dataset]:
    """``df`` as an Arrow dataset: collected when small (:func:`estimated_bytes`), otherwise written by Spark to a
    temporary Parquet folder, removed afterwards."""
    estimate = estimated_bytes(df)
    if estimate is not None and estimate <= SMALL_RESULT_BYTES:
        yield ds.dataset(_utc(df.toArrow()))
        return
    folder = tempfile.mkdtemp(prefix="paylake-stage-")
    # Timestamps as int64 microseconds in UTC (Delta's timestamp), not Spark's legacy INT96 nanoseconds.
    df.sparkSession.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    try:
        df.write.mode("overwrite").parquet(folder)
        yield ds.dataset(folder, format="parquet")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def release_jvm_heap(spark: SparkSession) -> None:
    """Run a full collection in the local JVM, which returns its free heap beyond ``MaxHeapFreeRatio`` to the OS.

    Called where Spark has written its result and Python-side engines (DuckDB, delta-rs) do the next step: a
    collection then costs ~0.1 s and the JVM's resident size drops by the heap the batch needed (2.1 -> 0.9 GiB
    after the line items' gate)."""
    jvm = spark.sparkContext._jvm
    if jvm is None:  # a stopped session has no gateway, and no heap to give back
        return
    started = time.perf_counter()
    heap = jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
    before = heap.getHeapMemoryUsage().getCommitted()
    jvm.java.lang.System.gc()
    after = heap.getHeapMemoryUsage().getCommitted()
    logger.debug(
        "JVM heap released in %.2f s: committed %d -> %d MiB", time.perf_counter() - started, before >> 20, after >> 20
    )


# A staged batch at least this big on disk gives the JVM's free heap back afterwards (release_jvm_heap); a
# smaller one never grew the heap enough to be worth a full collection (~0.2 s each on a run's small tables).
RELEASE_HEAP_BYTES = 64 * 1024 * 1024


@contextmanager
def staged_split(
    df: DataFrame, by: str, totals: Sequence[Column] = ()
) -> Iterator[tuple[DataFrame, ds.Dataset | None, Row | None]]:
    """``df`` written once by Spark to a temporary Parquet folder, its rows split into two folders by the boolean
    column ``by``; yields ``df`` read back from the folder (every later job reads the files, not the plan again),
    the rows where ``by`` is true as a dataset of whole files (None when there are none), and the aggregates
    ``totals`` over all rows, observed while writing (None without ``totals``).

    A persisted DataFrame that later crosses to Arrow is built twice (the cache, then the staging files); this
    writes once, and the true part crosses as it is. Each task keeps one writer per value instead of sorting its
    rows by ``by``: planned writes would add that sort of every row to the plan, concurrent writers need none.
    Once a large batch is written, the JVM gives its free heap back (:func:`release_jvm_heap`)."""
    spark = df.sparkSession
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")  # as in staged()
    spark.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    spark.conf.set("spark.sql.maxConcurrentOutputFileWriters", "2")
    folder = tempfile.mkdtemp(prefix="paylake-stage-")
    observation = Observation("paylake_totals") if totals else None
    try:
        (df.observe(observation, *totals) if observation else df).write.mode("overwrite").partitionBy(by).parquet(
            folder
        )
        if sum(path.stat().st_size for path in Path(folder).rglob("*.parquet")) >= RELEASE_HEAP_BYTES:
            release_jvm_heap(spark)  # the files hold the batch now; what reads the true part runs in this process
        back = spark.read.schema(df.schema).parquet(folder).select(*df.columns)
        files = sorted(str(path) for path in Path(folder, f"{by}=true").glob("*.parquet"))
        yield (
            back,
            ds.dataset(files, format="parquet") if files else None,
            Row(**observation.get) if observation else None,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def batches(data: ds.Dataset | pa.RecordBatchReader, ref: TableRef) -> pa.RecordBatchReader:
    """The rows as a stream of delta-rs-safe batches for ``ref``: memory is bounded by a batch, not the
    table. The fault point ``mid_write@<ref>`` sits after the first batch, before delta-rs commits."""
    schema = delta_rs_schema(data.schema.remove_metadata())
    source = data.to_batches(batch_size=256 * 1024) if isinstance(data, ds.Dataset) else data

    def safe() -> Iterator[pa.RecordBatch]:
        for batch in source:
            yield from for_delta_rs(pa.Table.from_batches([batch]).replace_schema_metadata(None)).to_batches()
            fault_point("mid_write", str(ref))

    return pa.RecordBatchReader.from_batches(schema, safe())
