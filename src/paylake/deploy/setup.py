"""The Unity Catalog set-up of an environment, run by the daily job's first task before bronze.

Every statement is idempotent (``IF NOT EXISTS``, ``OR REPLACE``, grants), so the task runs before every run: a new
table's YAML gets its table and analyst view the next day, and a revoked grant comes back. On Databricks each
statement runs; on the local Spark + Delta engine (``spark_catalog``) the schemas, tables and views run, and the
Unity Catalog-only statements (``CREATE CATALOG``, ``GRANT``) are returned unrun.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from paylake.config.environment import DatabricksConfig
from paylake.contract import TableRef
from paylake.deploy.unity_catalog import Schema, Statement, lake_schemas, uc_statements
from paylake.errors import UsageError
from paylake.runtime.context import PaylakeContext

logger = logging.getLogger(__name__)

# Unity Catalog's builtin, stood in for on spark_catalog so the analyst views run locally: nobody is a member of
# any group there, so local analyst views always mask.
LOCAL_GROUP_MEMBERSHIP = (
    "CREATE OR REPLACE FUNCTION `spark_catalog`.`default`.`is_account_group_member`(group_name STRING) "
    "RETURNS BOOLEAN RETURN FALSE"
)


@dataclass(frozen=True)
class SetupResult:
    """What the set-up ran, and the Unity Catalog statements a local engine rendered without running."""

    environment: str
    principal: str
    executed: list[Statement]
    not_run: list[Statement]

    def summary(self) -> str:
        lines = [
            f"Unity Catalog set-up of environment {self.environment} (job principal {self.principal}): "
            f"{len(self.executed)} statement(s) run"
        ]
        if self.not_run:
            lines.append(f"{len(self.not_run)} Unity Catalog statement(s) not run on this engine:")
            lines += [f"  {s.sql.splitlines()[0]}" for s in self.not_run]
        return "\n".join(lines)


def _existing_columns(spark: SparkSession, settings: DatabricksConfig, names: list[str]) -> dict[str, Schema]:
    """The columns of each table of ``names`` (``<layer>.<table>``) that exists already."""
    found: dict[str, Schema] = {}
    for full in names:
        layer, table = full.split(".", 1)
        name = f"{settings.catalog}.{settings.schemas[layer]}.{table}"  # type: ignore[index]
        if spark.catalog.tableExists(name):
            found[full] = [(f.name, f.dataType.simpleString()) for f in spark.table(name).schema.fields]
    return found


def set_up(context: PaylakeContext, job_principal: str | None = None) -> SetupResult:
    """Create the catalog, schemas, tables and analyst views of ``context``'s environment and grant access.

    ``job_principal`` defaults to the environment's ``databricks.job_principal``, else to the identity running
    the set-up (``current_user()``): the job's run-as principal when the job's first task runs it.

    Raises:
        UsageError: the embedded engine, which keeps tables as delta-rs folders and has no catalog.
    """
    environment = context.environment
    if environment.engine == "local":
        raise UsageError(
            f"environment {environment.name!r} uses the embedded engine (delta-rs folders, no catalog); "
            "there is nothing to set up"
        )
    settings = environment.catalog_names
    spark = context.spark
    _ = context.lake  # the local engine attaches its catalog here
    derived = [context.derived("silver"), context.derived("gold")]
    schemas, partitions = lake_schemas(spark, context.bronze, derived)
    principal = job_principal or settings.job_principal or str(spark.sql("SELECT current_user()").collect()[0][0])
    bronze = [
        f"bronze.{t}" for table in context.bronze.tables for t in (table, TableRef("bronze", table).quarantine.name)
    ]
    existing = _existing_columns(spark, settings, [*bronze, *schemas])
    statements = uc_statements(settings, context.bronze, schemas, partitions, principal, existing)
    unity_catalog = environment.engine == "databricks"
    if not unity_catalog:
        spark.sql(LOCAL_GROUP_MEMBERSHIP)
    executed: list[Statement] = []
    for statement in statements:
        if statement.unity_catalog_only and not unity_catalog:
            continue
        logger.info("set-up: %s", statement.sql.splitlines()[0])
        spark.sql(statement.sql)
        executed.append(statement)
    not_run = [s for s in statements if s not in executed]
    return SetupResult(environment.name, principal, executed, not_run)
