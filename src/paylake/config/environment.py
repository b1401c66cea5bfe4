"""Metadata of one environment (local, dev, prod): where data lives and which engine writes it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from paylake.config.base import StrictModel
from paylake.config.identifiers import Identifier

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


class EnvironmentConfig(StrictModel):
    """Where an environment's landing files, lake and metadata are, and which Delta engine writes."""

    name: Identifier
    engine: Literal["local", "databricks"] = "local"
    landing_root: str
    lake_root: str
    timezone: str = "UTC"
    spark: SparkConfig = Field(default_factory=SparkConfig)
    databricks: DatabricksConfig | None = None
    cloudwatch: CloudWatchConfig = Field(default_factory=CloudWatchConfig)
    vacuum_retention_hours: int = Field(default=168, ge=0)  # `paylake maintain` keeps 7 days of time travel
