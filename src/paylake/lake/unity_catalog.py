"""Unity Catalog DDL for an environment: schemas, tables, column masks on PII and grants for analysts.

Bronze schemas follow from the YAML (declared columns, lineage and SCD2 columns); silver schemas are what the
builders return, found by running each builder on empty inputs (no data is read). Columns marked ``pii: true``
in bronze, and any silver column of the same name, get a column mask: members of the PII readers group see the
value, everybody else (the analysts) sees ``****`` (strings) or null.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date

from pyspark.sql import SparkSession

from paylake.bronze.ingest import rescued_columns, scd2_spec
from paylake.bronze.landing import RESCUED
from paylake.bronze.scd2 import target_columns
from paylake.config.bronze import BronzeTableConfig
from paylake.config.derived import AS_OF, BUILT_AT
from paylake.config.environment import DatabricksConfig, Layer
from paylake.config.loader import LAYER_ORDER, BronzeMetadata, DerivedMetadata
from paylake.lineage import BATCH_ID, EXTRACT_DATE, INGESTED_AT, SOURCE_FILE, SOURCE_ROW
from paylake.orchestration.dependencies import dependency_order
from paylake.quality.gate import FLAGS

Schema = list[tuple[str, str]]  # (column, Spark SQL type)
_BOOKKEEPING = {
    FLAGS: "array<string>",
    BATCH_ID: "string",
    SOURCE_FILE: "string",
    INGESTED_AT: "timestamp",
    "effective_from": "timestamp",
    "effective_to": "timestamp",
    "is_current": "boolean",
    "record_version": "int",
    "row_hash": "string",
    RESCUED: "string",
}


def bronze_schema(config: BronzeTableConfig) -> Schema:
    """Columns of a bronze SCD2 table, in table order."""
    declared = {c.name: c.type for c in config.columns}
    return [(name, declared.get(name) or _BOOKKEEPING[name]) for name in target_columns(scd2_spec(config))]


def quarantine_schema(config: BronzeTableConfig) -> Schema:
    """Columns of a bronze quarantine table: every value as delivered (text), then why and where from."""
    return [
        *[(c.name, "string") for c in config.columns],
        *[(name, "string") for name in rescued_columns(config)],
        ("_dq_rules", "array<string>"),
        ("_dq_reason", "string"),
        (SOURCE_FILE, "string"),
        (SOURCE_ROW, "int"),
        (EXTRACT_DATE, "date"),
        (BATCH_ID, "string"),
        ("_quarantined_at", "timestamp"),
    ]


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
        schemas[f"{metadata.layer}.{table}"] = [
            *columns,
            (AS_OF, "date"),
            (FLAGS, "array<string>"),
            (BUILT_AT, "timestamp"),
        ]
    return {name: schema for name, schema in schemas.items() if name.startswith(f"{metadata.layer}.")}


def lake_schemas(
    spark: SparkSession, bronze: BronzeMetadata, layers: Sequence[DerivedMetadata]
) -> tuple[dict[str, Schema], dict[str, Sequence[str]]]:
    """Schemas and partition columns of every derived table of ``layers`` (in layer order), by full name."""
    from paylake.bronze.ingest import INGESTED_FILES_SCHEMA
    from paylake.orchestration.runner import PIPELINE_RUNS_SCHEMA

    known: dict[str, Schema] = {f"bronze.{n}": bronze_schema(c) for n, c in bronze.tables.items()}
    for table, ddl in (("pipeline_runs", PIPELINE_RUNS_SCHEMA), ("ingested_files", INGESTED_FILES_SCHEMA)):
        fields = spark.createDataFrame([], ddl).schema.fields
        known[f"ops.{table}"] = [(f.name, f.dataType.simpleString()) for f in fields]
    schemas: dict[str, Schema] = {}
    partitions: dict[str, Sequence[str]] = {}
    for metadata in layers:
        schemas |= derived_schemas(spark, metadata, known | schemas)
        partitions |= {f"{metadata.layer}.{n}": s.config.partition_by for n, s in metadata.tables.items()}
    return schemas, partitions


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _mask_function(catalog: str, settings: DatabricksConfig, kind: str) -> str:
    return f"`{catalog}`.`{settings.schemas['ops']}`.`paylake_mask_{re.sub(r'[^a-z0-9]+', '_', kind).strip('_')}`"


def uc_statements(
    settings: DatabricksConfig,
    bronze: BronzeMetadata,
    derived: Mapping[str, Schema],
    partitions: Mapping[str, Sequence[str]],
) -> list[str]:
    """Every statement, in the order to run them: schemas, mask functions, tables, masks, grants."""
    catalog, schemas = settings.catalog, settings.schemas

    def name(layer: Layer, table: str) -> str:
        return f"`{catalog}`.`{schemas[layer]}`.`{table}`"

    tables: dict[str, tuple[Schema, Sequence[str], Mapping[str, str]]] = {}
    for table, config in sorted(bronze.tables.items()):
        comments = {c.name: c.description for c in config.columns if c.description}
        tables[name("bronze", table)] = (bronze_schema(config), config.partition_by, comments)
        tables[name("bronze", f"{table}_quarantine")] = (quarantine_schema(config), (), {})
    for full, schema in sorted(derived.items(), key=lambda item: (LAYER_ORDER.index(item[0].split(".")[0]), item[0])):
        derived_layer, table = full.split(".", 1)
        tables[name(derived_layer, table)] = (schema, partitions.get(full, ()), {})  # type: ignore[arg-type]
    pii = {c.name for config in bronze.tables.values() for c in config.columns if c.pii}

    statements = [f"CREATE SCHEMA IF NOT EXISTS `{catalog}`.`{schemas[layer]}`" for layer in schemas]
    masked = [
        (table, column, kind) for table, (schema, _, _) in tables.items() for column, kind in schema if column in pii
    ]
    for kind in sorted({kind for _, _, kind in masked}):
        hidden = "'****'" if kind == "string" else f"CAST(NULL AS {kind.upper()})"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {_mask_function(catalog, settings, kind)}(value {kind.upper()}) "
            f"RETURNS {kind.upper()} RETURN CASE WHEN is_account_group_member({_quote(settings.pii_readers_group)}) "
            f"THEN value ELSE {hidden} END"
        )
    for table, (schema, partition_columns, notes) in tables.items():
        columns = ",\n  ".join(
            f"`{column}` {kind.upper()}" + (f" COMMENT {_quote(notes[column])}" if column in notes else "")
            for column, kind in schema
        )
        partitioned = (
            f"\nPARTITIONED BY ({', '.join(f'`{c}`' for c in partition_columns)})" if partition_columns else ""
        )
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} (\n  {columns}\n)\nUSING DELTA{partitioned}")
    for table, column, kind in masked:
        function = _mask_function(catalog, settings, kind)
        statements.append(f"ALTER TABLE {table} ALTER COLUMN `{column}` SET MASK {function}")
    analysts = f"`{settings.analysts_group}`"
    statements.append(f"GRANT USE CATALOG ON CATALOG `{catalog}` TO {analysts}")
    for layer in ("bronze", "silver", "gold"):
        statements.append(f"GRANT USE SCHEMA, SELECT ON SCHEMA `{catalog}`.`{schemas[layer]}` TO {analysts}")
    return statements


def render(statements: Sequence[str], environment: str) -> str:
    """A SQL script: a header naming the environment, then one statement per block, each ending in ``;``."""
    header = f"-- paylake Unity Catalog set-up for environment {environment}; generated by `paylake uc-sql`"
    return "\n\n".join([header, *[f"{statement};" for statement in statements]]) + "\n"
