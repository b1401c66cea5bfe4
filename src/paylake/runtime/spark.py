"""The local SparkSession, tuned for one machine (on Databricks the runtime's session is used instead), and
small DataFrames built from Python rows."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_type
from pyspark.sql.types import DataType, DateType, StructType, TimestampType

from paylake.config.environment import SparkConfig
from paylake.errors import UsageError

logger = logging.getLogger(__name__)

# See local_spark: G1 returns free heap to the OS after a full collection down to 20% free (10% when it grows).
JVM_HEAP_OPTIONS = "-XX:+UseG1GC -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=20"


# Where the Delta Lake jars are: this variable (a folder, or jar paths separated by ","), else jars/lib/ of the
# source tree, where `make jars` puts what jars/pom.xml pins.
DELTA_JARS_ENV = "PAYLAKE_DELTA_JARS"
_SOURCE_JARS = Path(__file__).resolve().parents[3] / "jars" / "lib"

# Delta on local Spark: the session extension and catalog Databricks configures itself, and a small machine's
# parallelism for Delta's own jobs (a table's log state in 50 partitions and VACUUM's listing in 10,000 tasks cost
# seconds per call on 2 cores). Retention below 7 days is paylake's own setting (vacuum_retention_hours); on
# Databricks the check stays on.
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "4",
    "spark.databricks.delta.retentionDurationCheck.enabled": "false",
}


def delta_jars() -> list[str]:
    """The Delta Lake jars for a local session (see :data:`DELTA_JARS_ENV`).

    Raises:
        UsageError: no jars found; says how to fetch them.
    """
    setting = os.environ.get(DELTA_JARS_ENV, "")
    if setting and not Path(setting).is_dir():
        jars = [part for part in setting.split(",") if part]
    else:
        jars = sorted(str(path) for path in Path(setting or _SOURCE_JARS).glob("*.jar"))
    missing = [jar for jar in jars if not Path(jar).is_file()]
    if not jars or missing:
        raise UsageError(
            f"the local Spark + Delta engine needs the Delta Lake jars, found none at "
            f"{', '.join(missing) or setting or _SOURCE_JARS}: run 'make jars' (fetches them with mvn from "
            f"jars/pom.xml) or set {DELTA_JARS_ENV} to their folder"
        )
    return jars


def local_spark(config: SparkConfig, timezone: str, delta: bool = False) -> SparkSession:
    """Start (or reuse) a local SparkSession for ``config``; all times are interpreted in ``timezone``.

    With ``delta`` the session loads the Delta Lake jars (:func:`delta_jars`) and Delta's SQL extension and
    catalog, as a Databricks cluster has them: the local Spark + Delta engine."""
    builder = (
        SparkSession.builder.master(config.master)
        .appName("paylake")
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.session.timeZone", timezone)
        .config("spark.sql.shuffle.partitions", str(config.shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="paylake-warehouse-"))
        # G1 keeping at most 20% of its heap free after a full collection: the heap Spark grew for a large batch
        # goes back to the OS when DuckDB and delta-rs take over (release_jvm_heap), so the two never hold their
        # peaks at once. Measured on the bench's initial load (3.1M line items): peak RSS of Python + JVM 3.87 ->
        # 2.48 GiB; the throughput collector never shrinks its heap and was ~5% faster.
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone={timezone} {JVM_HEAP_OPTIONS}")
    )
    if delta:
        builder = builder.config("spark.jars", ",".join(delta_jars()))
        for key, value in DELTA_CONF.items():
            builder = builder.config(key, value)
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    logger.info("starting local Spark (%s%s)", config.master, ", Delta Lake" if delta else "")
    started = time.perf_counter()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    logger.info("local Spark (%s) started in %.2f s", config.master, time.perf_counter() - started)
    return spark


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


def _arrow_array(values: list[Any], spark_type: DataType) -> pa.Array:
    """Spark's internal values of one column as the Arrow array Spark reads back as the same values."""
    if isinstance(spark_type, TimestampType):  # microseconds since the epoch, UTC
        return pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    if isinstance(spark_type, DateType):  # days since the epoch
        return pa.array(values, pa.int32()).cast(pa.date32())
    return pa.array(values, to_arrow_type(spark_type))


def rows_frame(spark: SparkSession, rows: Iterable[Sequence[Any]], schema: str | StructType) -> DataFrame:
    """``spark.createDataFrame(rows, schema)`` as a local relation, with the same values.

    ``createDataFrame`` over Python rows makes an RDD of unknown size, so a store stages even one row through a
    Parquet job (about a second each for the run log, metrics and file log of every table). Through Arrow the plan
    holds the rows and their size, and a store collects them at once. Values are converted the way
    ``createDataFrame`` converts them (``StructType.toInternal``), naive datetimes included.
    """
    struct = schema if isinstance(schema, StructType) else DataType.fromDDL(schema)
    if not isinstance(struct, StructType):
        raise TypeError(f"schema must describe a struct, got {schema!r}")
    internal = [struct.toInternal(tuple(row)) for row in rows]
    columns = [
        _arrow_array([row[index] for row in internal], field.dataType) for index, field in enumerate(struct.fields)
    ]
    return spark.createDataFrame(pa.Table.from_arrays(columns, names=struct.fieldNames()), schema=struct)
