"""One context object that the CLI, the notebooks and the tests share: settings in, Spark and stores out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pyspark.sql import SparkSession

from paylake.bronze.discovery import LandingZone
from paylake.bronze.scd2_writers import Scd2Writer, SparkScd2
from paylake.config.environment import Engine, EnvironmentConfig
from paylake.config.loader import (
    BronzeMetadata,
    DerivedMetadata,
    MetadataSource,
    load_bronze,
    load_derived,
    load_environment,
    open_source,
)
from paylake.contract import DerivedLayer
from paylake.errors import UsageError
from paylake.io.objects import open_objects
from paylake.lake.delta_spark import DeltaSparkStore
from paylake.lake.store import TableStore
from paylake.observability.cloudwatch import CloudWatch, Secrets
from paylake.records import RunObserver, Unobserved
from paylake.runtime.local_catalog import attach_local_catalog
from paylake.runtime.secrets import EnvSecrets
from paylake.runtime.spark import local_spark


@dataclass(frozen=True)
class Lake:
    """The lake's store and the SCD2 writer that goes with it, chosen together once per run."""

    store: TableStore
    scd2: Scd2Writer


def _embedded(context: PaylakeContext) -> Lake:
    # delta-rs and DuckDB are the `local` extra's packages; a Databricks cluster has neither and never gets here.
    from paylake.bronze.scd2_duckdb import DuckDbScd2
    from paylake.lake.delta_rs import DeltaRsStore

    store = DeltaRsStore(lambda: context.spark, context.lake_root)
    return Lake(store, DuckDbScd2(store) if context.environment.scd2_engine == "duckdb" else SparkScd2(store))


def _spark_delta(context: PaylakeContext) -> Lake:
    names = context.environment.catalog_names
    schemas = {str(layer): name for layer, name in names.schemas.items()} | {"analytics": names.analyst_schema}
    attach_local_catalog(context.spark, names.catalog, schemas, context.lake_root)
    store = DeltaSparkStore(context.spark, names.catalog, names.schemas)
    return Lake(store, SparkScd2(store))


def _databricks(context: PaylakeContext) -> Lake:
    names = context.environment.catalog_names
    store = DeltaSparkStore(context.spark, names.catalog, names.schemas)
    return Lake(store, SparkScd2(store))


ENGINES: dict[Engine, Callable[[PaylakeContext], Lake]] = {
    "local": _embedded,
    "spark-delta": _spark_delta,
    "databricks": _databricks,
}


@dataclass
class PaylakeContext:
    """Everything a run needs, built lazily from an environment and optional path overrides.

    Attributes:
        environment: the environment's settings.
        metadata: where table metadata is read from.
        landing_root: landing zone (the environment's, unless overridden).
        lake_root: lake root (the environment's, unless overridden).
        spark_session: a session to use instead of starting one (Databricks, tests).
        progress: where table progress goes (silent unless the CLI sets it).
    """

    environment: EnvironmentConfig
    metadata: MetadataSource
    landing_root: str
    lake_root: str
    spark_session: SparkSession | None = field(default=None, repr=False)
    secrets: Secrets = field(default_factory=EnvSecrets, repr=False)
    progress: RunObserver = field(default_factory=Unobserved, repr=False)
    _derived: dict[str, DerivedMetadata] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def create(
        cls,
        env: str = "local",
        metadata_root: str | Path = "metadata",
        landing_root: str | Path | None = None,
        lake_root: str | Path | None = None,
        spark: SparkSession | None = None,
        secrets: Secrets | None = None,
    ) -> PaylakeContext:
        """Load the environment ``env`` from ``metadata_root`` and apply path overrides."""
        source = open_source(metadata_root)
        environment = load_environment(source, env)
        return cls(
            environment=environment,
            metadata=source,
            landing_root=str(landing_root or environment.landing_root),
            lake_root=environment.lake(lake_root),
            spark_session=spark,
            secrets=secrets or EnvSecrets(),
        )

    @cached_property
    def spark(self) -> SparkSession:
        """The SparkSession: the injected one, or a local one started on first use.

        Raises:
            UsageError: the environment runs on Databricks and no session was handed over (a local session has
                neither its catalog nor its credentials).
        """
        if self.spark_session is not None:
            return self.spark_session
        if self.environment.engine == "databricks":
            raise UsageError(
                f"environment {self.environment.name!r} runs on Databricks (engine databricks): its tables are in "
                f"Unity Catalog, which a local Spark session cannot reach. Run it there: the job paylake-daily "
                f"(run), paylake-maintenance (maintain), paylake-backtest (backtest), or the notebook "
                f"notebooks/table_versions.py (history, rollback); see docs/databricks.md, 'First deployment'"
            )
        delta = self.environment.engine == "spark-delta"
        return local_spark(self.environment.spark, self.environment.timezone, delta=delta)

    @cached_property
    def landing(self) -> LandingZone:
        """The landing zone. Local Spark cannot read s3:// (no hadoop-aws jars), so the local engines copy remote
        files to a temporary staging folder first; Databricks reads them in place."""
        objects = open_objects(self.landing_root)
        remote = self.landing_root.startswith("s3://")
        staging = (
            Path(tempfile.mkdtemp(prefix="paylake-staging-"))
            if remote and self.environment.engine != "databricks"
            else None
        )
        return LandingZone(objects, staging, self.environment.landing_settle_seconds)

    @cached_property
    def cloudwatch(self) -> CloudWatch:
        """CloudWatch logs and metrics of layer runs (inactive unless the environment enables it)."""
        return CloudWatch(self.environment.cloudwatch, self.environment.name, self.secrets)

    @cached_property
    def lake(self) -> Lake:
        """The environment's store and SCD2 writer (:data:`ENGINES`)."""
        return ENGINES[self.environment.engine](self)

    @property
    def store(self) -> TableStore:
        """The environment's TableStore."""
        return self.lake.store

    @property
    def scd2(self) -> Scd2Writer:
        """What writes bronze SCD2 changes into :attr:`store`."""
        return self.lake.scd2

    @cached_property
    def bronze(self) -> BronzeMetadata:
        """All bronze table metadata, validated."""
        return load_bronze(self.metadata)

    def derived(self, layer: DerivedLayer) -> DerivedMetadata:
        """All table metadata of a silver or gold layer, validated (loaded once)."""
        if layer not in self._derived:
            self._derived[layer] = load_derived(self.metadata, layer)
        return self._derived[layer]
