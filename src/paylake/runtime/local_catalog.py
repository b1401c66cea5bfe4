"""The local Spark + Delta engine's catalog: Spark's session catalog, kept in the lake itself.

Databricks keeps table names in Unity Catalog. A local session's catalog lives in memory and is gone with the
process, so each process attaches the lake again: every layer's schema is located at ``<lake_root>/<layer>`` (a
managed table of it is written at ``<lake_root>/<layer>/<table>``, where the embedded engine keeps the same
table), and the Delta tables already there are registered under their names. Local only: on Databricks the
catalog and schemas are set up by the deployment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import SparkSession

from paylake.errors import UsageError

logger = logging.getLogger(__name__)
_TABLE_FOLDER = re.compile(r"[a-z][a-z0-9_]*")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _schema_location(spark: SparkSession, schema: str) -> str:
    rows = spark.sql(f"DESCRIBE SCHEMA EXTENDED {schema}").collect()
    described = {str(row[0]).strip().lower(): str(row[1]) for row in rows}
    return described.get("location", "").removeprefix("file:")


def attach_local_catalog(spark: SparkSession, catalog: str, schemas: Mapping[str, str], lake_root: str) -> None:
    """Create each schema at ``<lake_root>/<key>`` (a layer, or ``analytics`` for the analyst views) if missing and
    register the Delta tables found there.

    Raises:
        UsageError: a schema of this session already belongs to another lake (one lake per session).
    """
    root = Path(lake_root).resolve()
    for layer, name in schemas.items():
        folder = root / layer
        schema = f"`{catalog}`.`{name}`"
        if spark.catalog.databaseExists(f"{catalog}.{name}"):
            bound = _schema_location(spark, schema).rstrip("/")
            if Path(bound) != folder:
                raise UsageError(
                    f"schema {catalog}.{name} of this Spark session is located at {bound}, not in lake {root}; "
                    f"one session serves one lake (use other schema names for another lake)"
                )
        else:
            spark.sql(f"CREATE SCHEMA {schema} LOCATION {_literal(str(folder))}")
        if not folder.is_dir():
            continue
        for table in sorted(folder.iterdir()):
            if not _TABLE_FOLDER.fullmatch(table.name) or not (table / "_delta_log").is_dir():
                continue
            if not spark.catalog.tableExists(f"{catalog}.{name}.{table.name}"):
                spark.sql(f"CREATE TABLE {schema}.`{table.name}` USING delta LOCATION {_literal(str(table))}")
                logger.debug("registered %s.%s.%s at %s", catalog, name, table.name, table)
