"""Unity Catalog set-up of an environment: catalog, schemas, tables, analyst views that mask PII, and grants.

Bronze schemas follow from the YAML (declared columns, lineage and SCD2 columns); silver and gold schemas are what
the builders return, found by running each builder on empty inputs (no data is read).

PII is masked on analyst-facing views, never on the tables the job writes: a column mask applies to every
principal, so a job identity outside the PII group would read ``****`` from bronze and MERGE it back for good; and
Delta refuses DESCRIBE HISTORY and time travel (``history``, ``rollback``) on tables with per-table masks. So the
job reads and writes plain tables, and analysts are granted only the schema of views, where each column marked
``pii: true`` in bronze (and any silver or gold column of that name) shows its value to members of the PII readers
group and ``****`` (strings) or null to everybody else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import SparkSession

from paylake.config.bronze import BronzeTableConfig
from paylake.config.environment import DatabricksConfig
from paylake.config.loader import BronzeMetadata, DerivedMetadata
from paylake.contract import (
    BOOKKEEPING_TYPES,
    BRONZE_QUARANTINE_TAIL,
    DERIVED_TAIL,
    OPS_SCHEMAS,
    PIPELINE_LAYERS,
    SCD2_COLUMNS,
    Layer,
    TableRef,
    bronze_row_columns,
    delivered_columns,
)
from paylake.graph import dependency_order
from paylake.pii import masked_value

Schema = list[tuple[str, str]]  # (column, Spark SQL type)


def bronze_schema(config: BronzeTableConfig) -> Schema:
    """Columns of a bronze SCD2 table, in table order: declared, rescued, audit, then SCD2."""
    declared = {c.name: c.type for c in config.columns}
    columns = [*bronze_row_columns(config.column_names, config.on_new_columns == "rescue"), *SCD2_COLUMNS]
    return [(name, declared.get(name) or BOOKKEEPING_TYPES[name]) for name in columns]


def quarantine_schema(config: BronzeTableConfig) -> Schema:
    """Columns of a bronze quarantine table: every value as delivered (text), then why and where from."""
    delivered = delivered_columns(config.column_names, config.on_new_columns == "rescue")
    tail = [(name, BOOKKEEPING_TYPES[name]) for name in BRONZE_QUARANTINE_TAIL]
    return [*[(name, "string") for name in delivered], *tail]


def _ddl(schema: Schema) -> str:
    return ", ".join(f"`{name}` {kind}" for name, kind in schema)


def derived_schemas(spark: SparkSession, metadata: DerivedMetadata, known: Mapping[str, Schema]) -> dict[str, Schema]:
    """Schema of every table of a derived layer, from its builder run on empty inputs (``known`` holds the
    schemas of the tables it reads by ``<layer>.<table>``)."""
    schemas = dict(known)
    graph = {name: spec.dependencies(metadata.layer) for name, spec in metadata.tables.items()}
    for table in dependency_order(graph):
        spec = metadata.tables[table]
        inputs = {
            argument: spark.createDataFrame([], _ddl(schemas[name])) for argument, name in spec.config.inputs.items()
        }
        output = spec.builder.build(inputs, spec.params, date(2000, 1, 1))
        columns = [(f.name, f.dataType.simpleString()) for f in output.schema.fields]
        schemas[f"{metadata.layer}.{table}"] = [*columns, *[(name, BOOKKEEPING_TYPES[name]) for name in DERIVED_TAIL]]
    return {name: schema for name, schema in schemas.items() if name.startswith(f"{metadata.layer}.")}


def ops_schema(spark: SparkSession, ref: TableRef) -> Schema:
    """Columns of an operational table, as the contract declares them."""
    return [(f.name, f.dataType.simpleString()) for f in spark.createDataFrame([], OPS_SCHEMAS[ref]).schema.fields]


def lake_schemas(
    spark: SparkSession, bronze: BronzeMetadata, layers: Sequence[DerivedMetadata]
) -> tuple[dict[str, Schema], dict[str, Sequence[str]]]:
    """Schemas and partition columns of every derived table of ``layers`` (in layer order), by full name."""
    known: dict[str, Schema] = {f"bronze.{n}": bronze_schema(c) for n, c in bronze.tables.items()}
    known |= {str(ref): ops_schema(spark, ref) for ref in OPS_SCHEMAS}
    schemas: dict[str, Schema] = {}
    partitions: dict[str, Sequence[str]] = {}
    for metadata in layers:
        schemas |= derived_schemas(spark, metadata, known | schemas)
        partitions |= {f"{metadata.layer}.{n}": s.config.partition_by for n, s in metadata.tables.items()}
    return schemas, partitions


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Statement:
    """One set-up statement. ``unity_catalog_only`` marks Unity Catalog's own statements (CREATE CATALOG, GRANT),
    which a local Spark + Delta session cannot run; the rest run on both."""

    sql: str
    unity_catalog_only: bool = False


def _principal(name: str) -> str:
    return f"`{name}`"


def uc_statements(
    settings: DatabricksConfig,
    bronze: BronzeMetadata,
    derived: Mapping[str, Schema],
    partitions: Mapping[str, Sequence[str]],
    job_principal: str | None = None,
    existing: Mapping[str, Schema] | None = None,
) -> list[Statement]:
    """Every statement, in the order to run them, each idempotent: catalog, schemas, tables, analyst views, grants.

    ``job_principal`` (default: ``settings.job_principal``) is granted what the pipeline needs; without one, only
    the groups are granted (the set-up task passes the identity it runs as). ``existing`` holds the columns of
    tables that exist already, by ``<layer>.<table>``: their views select what the table has now, since a column
    added to the YAML reaches the table with its next load, after the set-up.

    Raises:
        ValueError: two layers hold a table of the same name (their analyst views would collide).
    """
    catalog, schemas, analytics = settings.catalog, settings.schemas, settings.analyst_schema
    job_principal = job_principal or settings.job_principal

    def name(schema: str, table: str) -> str:
        return f"`{catalog}`.`{schema}`.`{table}`"

    tables: dict[tuple[Layer, str], tuple[Schema, Sequence[str], Mapping[str, str]]] = {}
    for table, config in sorted(bronze.tables.items()):
        comments = {c.name: c.description for c in config.columns if c.description}
        tables["bronze", table] = (bronze_schema(config), config.partition_by, comments)
        tables["bronze", TableRef("bronze", table).quarantine.name] = (quarantine_schema(config), (), {})
    for full, schema in sorted(
        derived.items(), key=lambda item: (PIPELINE_LAYERS.index(item[0].split(".")[0]), item[0])
    ):
        derived_layer, table = full.split(".", 1)
        tables[derived_layer, table] = (schema, partitions.get(full, ()), {})  # type: ignore[index]
    pii = {c.name for config in bronze.tables.values() for c in config.columns if c.pii}
    seen: dict[str, Layer] = {}
    for layer, table in tables:
        if table in seen:
            raise ValueError(
                f"{seen[table]}.{table} and {layer}.{table} would share the analyst view {analytics}.{table}"
            )
        seen[table] = layer

    location = f" MANAGED LOCATION {_quote(settings.managed_location)}" if settings.managed_location else ""
    statements = [Statement(f"CREATE CATALOG IF NOT EXISTS `{catalog}`{location}", unity_catalog_only=True)]
    statements += [Statement(f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{s}`") for s in [*schemas.values(), analytics]]
    for (layer, table), (schema, partition_columns, notes) in tables.items():
        columns = ",\n  ".join(
            f"`{column}` {kind}" + (f" COMMENT {_quote(notes[column])}" if column in notes else "")
            for column, kind in schema
        )
        partitioned = (
            f"\nPARTITIONED BY ({', '.join(f'`{c}`' for c in partition_columns)})" if partition_columns else ""
        )
        statements.append(
            Statement(
                f"CREATE TABLE IF NOT EXISTS {name(schemas[layer], table)} (\n  {columns}\n)\nUSING DELTA{partitioned}"
            )
        )
    for (layer, table), (schema, _, _) in tables.items():
        columns_now = (existing or {}).get(f"{layer}.{table}", schema)
        query = analyst_view_query(name(schemas[layer], table), columns_now, pii, settings.pii_readers_group)
        statements.append(Statement(f"CREATE OR REPLACE VIEW {name(analytics, table)} AS\n{query}"))

    def grant(privileges: str, securable: str, principal: str) -> Statement:
        return Statement(f"GRANT {privileges} ON {securable} TO {_principal(principal)}", unity_catalog_only=True)

    if job_principal:
        statements.append(grant("USE CATALOG, CREATE SCHEMA", f"CATALOG `{catalog}`", job_principal))
        for schema_name in [*schemas.values(), analytics]:
            statements.append(
                grant("USE SCHEMA, CREATE TABLE, SELECT, MODIFY", f"SCHEMA `{catalog}`.`{schema_name}`", job_principal)
            )
        if settings.landing_external_location:
            location_name = f"EXTERNAL LOCATION `{settings.landing_external_location}`"
            statements.append(grant("READ FILES", location_name, job_principal))
    for group in (settings.analysts_group, settings.pii_readers_group):
        statements.append(grant("USE CATALOG", f"CATALOG `{catalog}`", group))
        statements.append(grant("USE SCHEMA, SELECT", f"SCHEMA `{catalog}`.`{analytics}`", group))
    return statements


def analyst_view_query(table: str, schema: Schema, pii: set[str], pii_readers_group: str) -> str:
    """The SELECT of a table's analyst view: every column, PII ones shown only to ``pii_readers_group``."""
    member = f"is_account_group_member({_quote(pii_readers_group)})"
    columns = [
        f"CASE WHEN {member} THEN `{column}` ELSE {masked_value(kind)} END AS `{column}`"
        if column in pii
        else f"`{column}`"
        for column, kind in schema
    ]
    return "SELECT\n  " + ",\n  ".join(columns) + f"\nFROM {table}"


def render(statements: Sequence[Statement], environment: str) -> str:
    """A SQL script: a header naming the environment, then one statement per block, each ending in ``;``."""
    header = (
        f"-- paylake Unity Catalog set-up for environment {environment}; generated by `paylake uc-sql`.\n"
        "-- Every statement is idempotent; the job's set-up task runs the same statements before each run."
    )
    return "\n\n".join([header, *[f"{statement.sql};" for statement in statements]]) + "\n"
