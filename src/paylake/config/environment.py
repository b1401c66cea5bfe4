"""Metadata of one environment (local, dev, prod): where data lives and which engine writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from paylake.config.base import StrictModel
from paylake.config.identifiers import EnvironmentName, Identifier

Layer = Literal["bronze", "silver", "gold", "ops"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold", "ops")


class SparkConfig(StrictModel):
    """Local Spark settings; ignored on Databricks, where the runtime owns the session."""

    master: str = "local[2]"
    shuffle_partitions: int = Field(default=4, ge=1)
    driver_memory: str = "2g"
    conf: dict[str, str] = Field(default_factory=dict)


def _default_schemas() -> dict[Layer, str]:
    return {layer: layer for layer in LAYERS}


class DatabricksConfig(StrictModel):
    """Unity Catalog names: tables are ``<catalog>.<schemas[layer]>.<table>``; who reads them.

    Attributes:
        catalog: the environment's catalog.
        schemas: schema of each layer (a layer left out keeps its own name).
        analysts_group: account group that may read bronze, silver and gold (PII masked).
        pii_readers_group: account group that sees PII columns unmasked.
    """

    catalog: Identifier
    schemas: dict[Layer, Identifier] = Field(default_factory=_default_schemas)
    analysts_group: str = Field(default="paylake-analysts", pattern=r"^[A-Za-z0-9_.@-]+$")
    pii_readers_group: str = Field(default="paylake-pii-readers", pattern=r"^[A-Za-z0-9_.@-]+$")

    @field_validator("schemas")
    @classmethod
    def _every_layer(cls, schemas: dict[Layer, str]) -> dict[Layer, str]:
        return {**_default_schemas(), **schemas}


class CloudWatchConfig(StrictModel):
    """CloudWatch Logs and Metrics settings (used from the Databricks/AWS integration on)."""

    enabled: bool = False
    log_group: str | None = None
    region: str = "us-east-1"
    namespace: str = "PayLake"


Engine = Literal["local", "spark-delta", "databricks"]
Scd2Engine = Literal["duckdb", "spark"]
# The catalog of a local Spark + Delta session: Spark's own, with Delta's catalog plugged in.
LOCAL_SPARK_CATALOG = "spark_catalog"


class EnvironmentConfig(StrictModel):
    """Where an environment's landing files, lake and metadata are, and which Delta engine writes.

    Attributes:
        engine: ``local`` (embedded: delta-rs writes, no jars), ``spark-delta`` (local Spark with the Delta Lake
            jars, tables in ``spark_catalog``: the code path Databricks runs) or ``databricks`` (the runtime's
            Spark, Unity Catalog).
        scd2: what computes a bronze batch's SCD2 changes: ``duckdb`` (embedded engine only, its default) or
            ``spark`` (every engine; the default of the Spark ones).
    """

    name: EnvironmentName
    engine: Engine = "local"
    scd2: Scd2Engine | None = None
    landing_root: str
    lake_root: str
    timezone: str = "UTC"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    databricks: DatabricksConfig | None = None
    cloudwatch: CloudWatchConfig = Field(default_factory=CloudWatchConfig)
    vacuum_retention_hours: int = Field(default=168, ge=0)  # `paylake maintain` keeps 7 days of time travel

    @model_validator(mode="after")
    def _engine_settings(self) -> EnvironmentConfig:
        if self.scd2 == "duckdb" and self.engine != "local":
            raise ValueError(f"scd2: duckdb reads delta-rs tables and runs with engine local only, not {self.engine}")
        if self.engine == "spark-delta" and self.databricks and self.databricks.catalog != LOCAL_SPARK_CATALOG:
            raise ValueError(
                f"databricks.catalog: engine spark-delta keeps its tables in {LOCAL_SPARK_CATALOG!r}, "
                f"not {self.databricks.catalog!r}"
            )
        return self

    @property
    def scd2_engine(self) -> Scd2Engine:
        """The SCD2 engine: the one set, else the engine's default (DuckDB embedded, Spark otherwise)."""
        return self.scd2 or ("duckdb" if self.engine == "local" else "spark")

    @property
    def catalog_names(self) -> DatabricksConfig:
        """Catalog and schema names of the Spark engines (``spark_catalog`` and the layers' own names locally)."""
        if self.databricks is not None:
            return self.databricks
        if self.engine == "databricks":
            raise ValueError(f"environment {self.name!r} uses engine databricks but has no databricks: section")
        return DatabricksConfig(catalog=LOCAL_SPARK_CATALOG)
