"""The local SparkSession, tuned for one machine. On Databricks the runtime's session is used instead."""

from __future__ import annotations

import logging
import tempfile
import time

from pyspark.sql import SparkSession

from paylake.config.environment import SparkConfig

logger = logging.getLogger(__name__)


def local_spark(config: SparkConfig, timezone: str) -> SparkSession:
    """Start (or reuse) a local SparkSession for ``config``; all times are interpreted in ``timezone``."""
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
        .config("spark.driver.extraJavaOptions", f"-Duser.timezone={timezone}")
    )
    for key, value in config.conf.items():
        builder = builder.config(key, value)
    logger.info("starting local Spark (%s)", config.master)
    started = time.perf_counter()
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    logger.info("local Spark (%s) started in %.2f s", config.master, time.perf_counter() - started)
    return spark
