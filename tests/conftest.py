"""Shared fixtures: one local SparkSession for the whole test run, and the repository's paths."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from pyspark.sql import SparkSession

from lakes import SampleLake, build_sample_lake
from paylake.bronze.scd2_duckdb import DuckDbScd2
from paylake.bronze.scd2_writers import Scd2Writer, SparkScd2
from paylake.config.environment import LOCAL_SPARK_CATALOG, SparkConfig
from paylake.contract import LAKE_LAYERS
from paylake.lake.delta_rs import DeltaRsStore
from paylake.lake.delta_spark import DeltaSparkStore
from paylake.lake.store import TableStore
from paylake.runtime.local_catalog import attach_local_catalog
from paylake.runtime.spark import JVM_OPTIONS_ENV, local_spark

REPO = Path(__file__).resolve().parents[1]

# The suite's JVMs (its session and every paylake subprocess) run the throughput collector: the shipped small-heap
# G1 collects often to give memory back, which costs ~25% on the many small jobs of the tests and buys nothing on
# their small data (docs/development.md). The heap-release test runs the shipped options in a JVM of its own.
os.environ.setdefault(JVM_OPTIONS_ENV, "-XX:+UseParallelGC")

# CI replays the same examples on every run (a red CI must be reproducible); developers' runs keep exploring
# new random examples, and every failure they find is pinned with @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One session for the run, with the Delta Lake jars, so both stores run in it (the embedded one needs none)."""
    session = local_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"), "UTC", delta=True)
    yield session
    session.stop()


STORE_KINDS = ("delta_rs", "delta_spark")


def new_store(kind: str, spark: SparkSession, lake_root: Path) -> TableStore:
    """A store of ``kind`` over ``lake_root``: delta-rs, or native Delta through Spark SQL in ``spark_catalog``
    under schema names of its own (one session serves many test lakes)."""
    if kind == "delta_rs":
        return DeltaRsStore(spark, str(lake_root))
    prefix = f"t{uuid.uuid4().hex[:8]}"
    schemas = {layer: f"{prefix}_{layer}" for layer in LAKE_LAYERS}
    attach_local_catalog(spark, LOCAL_SPARK_CATALOG, schemas, str(lake_root))
    return DeltaSparkStore(spark, LOCAL_SPARK_CATALOG, schemas)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def sample_lake(spark: SparkSession, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> SampleLake:
    """The bundled sample after one `paylake run all` (see lakes.py); tests that change the lake work on a copy
    (``shutil.copytree(sample_lake.root, ...)``)."""
    return build_sample_lake(repo, tmp_path_factory.mktemp("sample") / "lake")


# The Spark SCD2 writers and native Delta through Spark SQL cost several times the embedded engine per case: they
# run in `make test`, and `make test-fast` (-m "not slow") keeps the embedded engine's case of each test.
SLOW_KINDS = {"delta_spark", "spark/delta_spark", "spark/delta_rs"}


def _kinds(kinds: tuple[str, ...]) -> list[object]:
    return [pytest.param(kind, marks=pytest.mark.slow) if kind in SLOW_KINDS else kind for kind in kinds]


@pytest.fixture(params=_kinds(STORE_KINDS))
def store_kind(request: pytest.FixtureRequest) -> str:
    """Runs a test once per store: delta-rs and native Delta through Spark SQL."""
    return str(request.param)


@pytest.fixture
def make_store(spark: SparkSession) -> Callable[[str, Path], TableStore]:
    """:func:`new_store` in the test session."""
    return lambda kind, lake_root: new_store(kind, spark, lake_root)


# The SCD2 writers as the engines ship them: DuckDB on delta-rs (embedded default), Spark on delta-rs (embedded,
# scd2: spark) and Spark on native Delta (local Spark + Delta engine and Databricks).
SCD2_WRITERS = ("duckdb/delta_rs", "spark/delta_rs", "spark/delta_spark")


def new_scd2_writer(kind: str, spark: SparkSession, lake_root: Path) -> tuple[TableStore, Scd2Writer]:
    """The store and SCD2 writer of ``kind`` (one of :data:`SCD2_WRITERS`) over ``lake_root``."""
    computed_by, store_kind = kind.split("/")
    if computed_by == "duckdb":
        local = DeltaRsStore(spark, str(lake_root))
        return local, DuckDbScd2(local)
    store = new_store(store_kind, spark, lake_root)
    return store, SparkScd2(store)


@pytest.fixture(params=_kinds(SCD2_WRITERS))
def scd2_writer_kind(request: pytest.FixtureRequest) -> str:
    """Runs a test once per shipped SCD2 writer (:data:`SCD2_WRITERS`)."""
    return str(request.param)


@pytest.fixture
def make_scd2_writer(spark: SparkSession) -> Callable[[str, Path], tuple[TableStore, Scd2Writer]]:
    """:func:`new_scd2_writer` in the test session."""
    return lambda kind, lake_root: new_scd2_writer(kind, spark, lake_root)
