"""The local SparkSession, tuned for one machine (on Databricks the runtime's session is used instead)."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from paylake.config.environment import SparkConfig
from paylake.errors import UsageError

if TYPE_CHECKING:
    from pyspark import SparkContext

logger = logging.getLogger(__name__)

# See local_spark: G1 returns free heap to the OS after a full collection down to 20% free (10% when it grows).
JVM_HEAP_OPTIONS = "-XX:+UseG1GC -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=20"
# Replaces JVM_HEAP_OPTIONS when set. The small-heap G1 costs time on many small jobs (it collects often to stay
# small); where memory is plentiful and the data small, "-XX:+UseParallelGC" runs a day of the sample ~25% faster
# (the test suite sets it, see docs/development.md).
JVM_OPTIONS_ENV = "PAYLAKE_JVM_OPTIONS"


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


def jvm_options() -> str:
    """The local driver JVM's GC and heap options: :data:`JVM_OPTIONS_ENV` if set, else :data:`JVM_HEAP_OPTIONS`."""
    return os.environ.get(JVM_OPTIONS_ENV, "").strip() or JVM_HEAP_OPTIONS


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
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone={timezone} {jvm_options()}")
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
    quiet_task_failures(spark)
    logger.info("local Spark (%s) started in %.2f s", config.master, time.perf_counter() - started)
    return spark


def quiet_task_failures(spark: SparkSession) -> None:
    """Silence the local JVM's log of a failed task (a Java stack trace on the terminal): the failure reaches
    Python as an exception, which paylake reports in one line naming the table and the file."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    level = jvm.org.apache.logging.log4j.Level.OFF
    for name in ("org.apache.spark.executor.Executor", "org.apache.spark.scheduler.TaskSetManager"):
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, level)


def _spark_context() -> SparkContext | None:
    """The active session's SparkContext, or None without a session or where it has none (Spark Connect)."""
    session = SparkSession.getActiveSession()
    try:
        return session.sparkContext if session is not None else None
    except Exception:  # noqa: BLE001 - Spark Connect and serverless sessions have no SparkContext
        return None


@contextmanager
def table_jobs(layer: str, table: str) -> Iterator[Callable[[], int | None]]:
    """Spark jobs started inside, Delta's own included, carry the job tag ``paylake:<layer>.<table>`` and the
    description ``paylake <layer>.<table>``: the Spark UI and the event log say which table ran each (Delta
    prefixes its jobs' descriptions with it: ``Delta: paylake bronze.invoices: Filtering files for query``).
    A caller's job group stays as it is (a notebook cancels its cell's jobs by group) and its description comes
    back afterwards. Yields how many jobs have started inside so far (None where there is no SparkContext: Spark
    Connect, serverless)."""
    context = _spark_context()
    if context is None:
        yield lambda: None
        return
    tag, previous = f"paylake:{layer}.{table}", context.getLocalProperty("spark.job.description")
    group = context.getLocalProperty("spark.jobGroup.id")  # None: the jobs outside any group
    tracker = context.statusTracker()
    # The tracker hears of a job from Spark's listener bus, a moment after it starts: a job heard of after its
    # table's count is not in the next table's `before`, so it counts there and the counts add up to the run's.
    before = set(tracker.getJobIdsForGroup(group))
    context.addJobTag(tag)
    context.setJobDescription(f"paylake {layer}.{table}")
    try:
        yield lambda: len(set(tracker.getJobIdsForGroup(group)) - before)
    finally:
        context.removeJobTag(tag)
        context.setLocalProperty("spark.job.description", previous)  # type: ignore[arg-type]  # None removes it
