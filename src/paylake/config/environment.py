"""Metadata of one environment (local, dev, prod): where data lives and which engine writes it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from paylake.config.base import StrictModel
from paylake.config.identifiers import EnvironmentName, Identifier
from paylake.contract import LAKE_LAYERS, Layer


class SparkConfig(StrictModel):
    """Local Spark settings; ignored on Databricks, where the runtime owns the session."""

    master: str = "local[2]"
    shuffle_partitions: int = Field(default=4, ge=1)
    driver_memory: str = "2g"
    conf: dict[str, str] = Field(default_factory=dict)


def _default_schemas() -> dict[Layer, str]:
    return {layer: layer for layer in LAKE_LAYERS}


_PRINCIPAL = r"^[A-Za-z0-9_.@-]+$"


class DatabricksConfig(StrictModel):
    """Unity Catalog names: tables are ``<catalog>.<schemas[layer]>.<table>``; who reads them and how.

    The job writes and reads the layers' tables unmasked; people read them through the views of
    ``analyst_schema``, which mask PII for everybody outside ``pii_readers_group`` (see ``paylake uc-sql``).

    Attributes:
        catalog: the environment's catalog.
        schemas: schema of each layer (a layer left out keeps its own name).
        analyst_schema: schema of the analyst-facing views, one per bronze, silver and gold table.
        analysts_group: account group that may read the analyst views (PII masked).
        pii_readers_group: account group that sees PII columns unmasked in the analyst views.
        job_principal: the job's run-as identity (a service principal's application ID, or a user name), granted
            what the pipeline needs; the set-up task on Databricks grants to whoever runs it.
        managed_location: storage root of the catalog when the set-up creates it (``s3://...``); none means the
            metastore's.
        landing_external_location: the Unity Catalog external location over the landing bucket, whose READ FILES
            the job principal is granted; none when the job reads landing with its instance profile only.
    """

    catalog: Identifier
    schemas: dict[Layer, Identifier] = Field(default_factory=_default_schemas)
    analyst_schema: Identifier = "analytics"
    analysts_group: str = Field(default="paylake-analysts", pattern=_PRINCIPAL)
    pii_readers_group: str = Field(default="paylake-pii-readers", pattern=_PRINCIPAL)
    job_principal: str | None = Field(default=None, pattern=_PRINCIPAL)
    managed_location: str | None = Field(default=None, pattern=r"^s3://[a-z0-9.-]+(/[A-Za-z0-9_./-]*)?$")
    landing_external_location: Identifier | None = None

    @field_validator("schemas")
    @classmethod
    def _every_layer(cls, schemas: dict[Layer, str]) -> dict[Layer, str]:
        return {**_default_schemas(), **schemas}

    @model_validator(mode="after")
    def _distinct_schemas(self) -> DatabricksConfig:
        if self.analyst_schema in self.schemas.values():
            raise ValueError(f"analyst_schema: {self.analyst_schema!r} is already the schema of a layer")
        return self


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
        lake_root: where the local engines keep their tables; unused (and refused) with engine ``databricks``,
            whose tables are Unity Catalog managed tables named by ``databricks:``.
        scd2: what computes a bronze batch's SCD2 changes: ``duckdb`` (embedded engine only, its default) or
            ``spark`` (every engine; the default of the Spark ones).
    """

    name: EnvironmentName
    engine: Engine = "local"
    scd2: Scd2Engine | None = None
    landing_root: str
    lake_root: str | None = None
    timezone: str = "UTC"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    databricks: DatabricksConfig | None = None
    cloudwatch: CloudWatchConfig = Field(default_factory=CloudWatchConfig)
    vacuum_retention_hours: int = Field(default=168, ge=0)  # `paylake maintain` keeps 7 days of time travel
    # A landing file changed less than this many seconds before a run may still be being written: it waits for a
    # later run. 0 (the default) takes every file, for landing zones that receive files whole (renamed into place).
    landing_settle_seconds: int = Field(default=0, ge=0, le=86_400)

    @model_validator(mode="after")
    def _engine_settings(self) -> EnvironmentConfig:
        if self.engine == "databricks" and self.lake_root is not None:
            raise ValueError(
                "lake_root: engine databricks keeps its tables in Unity Catalog (databricks.catalog and schemas, "
                "databricks.managed_location for the storage); remove lake_root"
            )
        if self.engine != "databricks" and self.lake_root is None:
            raise ValueError(f"lake_root: engine {self.engine} needs a folder for its tables")
        if self.engine == "databricks" and self.databricks is None:
            raise ValueError("databricks: engine databricks needs the catalog and schemas of its tables")
        if self.scd2 == "duckdb" and self.engine != "local":
            raise ValueError(f"scd2: duckdb reads delta-rs tables and runs with engine local only, not {self.engine}")
        if self.engine == "spark-delta" and self.databricks and self.databricks.catalog != LOCAL_SPARK_CATALOG:
            raise ValueError(
                f"databricks.catalog: engine spark-delta keeps its tables in {LOCAL_SPARK_CATALOG!r}, "
                f"not {self.databricks.catalog!r}"
            )
        return self

    def lake(self, override: str | Path | None = None) -> str:
        """The lake root: ``override`` (``--lake``, a widget), else :attr:`lake_root`; empty on Databricks."""
        return str(override or self.lake_root or "")

    @property
    def scd2_engine(self) -> Scd2Engine:
        """The SCD2 engine: the one set, else the engine's default (DuckDB embedded, Spark otherwise)."""
        return self.scd2 or ("duckdb" if self.engine == "local" else "spark")

    @property
    def catalog_names(self) -> DatabricksConfig:
        """Catalog and schema names of the Spark engines (``spark_catalog`` and the layers' own names locally)."""
        return self.databricks or DatabricksConfig(catalog=LOCAL_SPARK_CATALOG)
