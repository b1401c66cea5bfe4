"""One context object that the CLI, the notebooks and the tests share: settings in, Spark and stores out."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pyspark.sql import SparkSession

from paylake.bronze.landing import LandingZone
from paylake.builders import DerivedLayer
from paylake.config.environment import EnvironmentConfig
from paylake.config.loader import (
    BronzeMetadata,
    DerivedMetadata,
    MetadataSource,
    load_bronze,
    load_derived,
    load_environment,
    open_source,
)
from paylake.io.objects import open_objects
from paylake.lake.delta_rs import DeltaRsStore
from paylake.lake.delta_spark import DeltaSparkStore
from paylake.lake.store import TableStore
from paylake.observability.cloudwatch import CloudWatch, Secrets
from paylake.orchestration.progress import Progress
from paylake.runtime.secrets import EnvSecrets
from paylake.runtime.spark import local_spark


def _local_store(context: PaylakeContext) -> TableStore:
    return DeltaRsStore(lambda: context.spark, context.lake_root)


def _databricks_store(context: PaylakeContext) -> TableStore:
    settings = context.environment.databricks
    if settings is None:
        raise ValueError(
            f"environment {context.environment.name!r} uses engine databricks but has no databricks: section"
        )
    return DeltaSparkStore(context.spark, settings.catalog, settings.schemas)


STORES: dict[str, Callable[[PaylakeContext], TableStore]] = {"local": _local_store, "databricks": _databricks_store}


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
    progress: Progress = field(default_factory=Progress.silent, repr=False)
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
            lake_root=str(lake_root or environment.lake_root),
            spark_session=spark,
            secrets=secrets or EnvSecrets(),
        )

    @cached_property
    def spark(self) -> SparkSession:
        """The SparkSession: the injected one, or a local one started on first use."""
        return self.spark_session or local_spark(self.environment.spark, self.environment.timezone)

    @cached_property
    def landing(self) -> LandingZone:
        """The landing zone. Local Spark cannot read s3:// (no hadoop-aws jars), so the local engine copies remote
        files to a temporary staging folder first; Databricks reads them in place."""
        objects = open_objects(self.landing_root)
        remote = self.landing_root.startswith("s3://")
        staging = (
            Path(tempfile.mkdtemp(prefix="paylake-staging-")) if remote and self.environment.engine == "local" else None
        )
        return LandingZone(objects, staging)

    @cached_property
    def cloudwatch(self) -> CloudWatch:
        """CloudWatch logs and metrics of layer runs (inactive unless the environment enables it)."""
        return CloudWatch(self.environment.cloudwatch, self.environment.name, self.secrets)

    @cached_property
    def store(self) -> TableStore:
        """The environment's TableStore."""
        return STORES[self.environment.engine](self)

    @cached_property
    def bronze(self) -> BronzeMetadata:
        """All bronze table metadata, validated."""
        return load_bronze(self.metadata)

    def derived(self, layer: DerivedLayer) -> DerivedMetadata:
        """All table metadata of a silver or gold layer, validated (loaded once)."""
        if layer not in self._derived:
            self._derived[layer] = load_derived(self.metadata, layer)
        return self._derived[layer]
