"""Build one silver or gold table: read its inputs, call its builder, gate the output, replace the table.

The only I/O of a derived layer lives here; builders are pure. A build is idempotent: the table holds the
state as of the run's business date and is replaced in one commit, so running the same ``as_of`` twice gives
the same table, and a failed build (missing input, broken contract, quality gate) leaves it untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.bronze.ingest import RunInfo
from paylake.builders import DerivedLayer
from paylake.config.derived import AS_OF, BUILT_AT
from paylake.config.loader import DerivedTable
from paylake.errors import BuildError, DataQualityError
from paylake.lake.store import TableRef, TableStore, sql_literal
from paylake.lineage import SOURCE_FILE, SOURCE_ROW
from paylake.orchestration.results import TableResult
from paylake.quality.gate import (
    ACCEPTED,
    FLAGS,
    REASONS,
    REJECTS,
    CheckSpec,
    apply_checks,
    checks_for,
    failure_counts,
    failure_rows,
    is_rejected,
)
from paylake.quality.metrics import write_dq_metrics

logger = logging.getLogger(__name__)


def read_inputs(store: TableStore, spec: DerivedTable) -> dict[str, DataFrame]:
    """The builder's input DataFrames by argument name.

    Raises:
        BuildError: an input table does not exist yet; names it and the layer to run first.
    """
    inputs = {}
    for argument, name in spec.config.inputs.items():
        layer, table = name.split(".", 1)
        ref = TableRef(layer, table)  # type: ignore[arg-type]  # validated by the loader
        if not store.exists(ref):
            raise BuildError(f"{spec.file}: input {argument} = {name} does not exist yet; run the {layer} layer first")
        inputs[argument] = store.read(ref)
    return inputs


def check_contract(spec: DerivedTable, output: DataFrame) -> None:
    """Check the builder's output against the table's declared columns and key.

    Raises:
        BuildError: a declared column is missing, an undeclared one appears, or a key column is unknown.
    """
    actual = output.columns
    declared = [c.name for c in spec.config.columns]
    if declared and actual != declared:
        missing = [c for c in declared if c not in actual]
        extra = [c for c in actual if c not in declared]
        detail = "; ".join(
            p for p in (f"missing {missing}" if missing else "", f"undeclared {extra}" if extra else "") if p
        )
        raise BuildError(f"{spec.file}: columns: builder {spec.builder.name} output differs: {detail or 'order'}")
    unknown = [c for c in [*spec.config.primary_key, *spec.config.partition_by] if c not in [*actual, AS_OF]]
    if unknown:
        raise BuildError(f"{spec.file}: builder {spec.builder.name} output has no column(s) {unknown}")


def duplicate_keys(output: DataFrame, keys: Sequence[str]) -> list[str]:
    """Up to three keys that are null or appear more than once (a builder bug, never quarantined)."""
    any_null = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    repeated = output.groupBy(*keys).count().where((F.col("count") > 1) | any_null)
    return [", ".join(f"{k}={row[k]}" for k in keys) for row in repeated.limit(3).collect()]


def check_rows(layer: DerivedLayer, spec: DerivedTable, output: DataFrame, checks: Sequence[CheckSpec]) -> DataFrame:
    """``output`` with the rule engine's verdict columns (``_dq_rejects``, ``_dq_reasons``, ``_dq_flags``)."""
    # The rule engine names a row by file and row number; a derived table is one "file".
    rows = output.withColumns({SOURCE_FILE: F.lit(f"{layer}.{spec.config.table}"), SOURCE_ROW: F.lit(0)})
    return apply_checks(rows, checks).drop(SOURCE_FILE, SOURCE_ROW)


def accepted_rows(layer: DerivedLayer, spec: DerivedTable, output: DataFrame) -> DataFrame:
    """The rows of a builder's ``output`` that pass the table's reject rules, as the daily build keeps them."""
    checked = check_rows(layer, spec, output, checks_for(spec.config.quality.rules))
    return checked.where(~is_rejected()).select(*output.columns)


def build_table(
    store: TableStore, layer: DerivedLayer, spec: DerivedTable, run: RunInfo, result: TableResult
) -> TableResult:
    """Compute ``spec`` as of ``run.as_of`` and replace ``<layer>.<table>`` with the rows that pass its rules.

    Rejected rows go to ``<layer>.<table>_quarantine`` (replaced on every build) with the rules they failed;
    flagged rows carry ``_dq_flags``; per-rule counts go to ``ops.dq_metrics``.

    Raises:
        BuildError: an input is missing, the output breaks its declared columns or primary key.
        DataQualityError: the share of rows passing every reject rule is under ``min_pass_rate``.
    """
    config = spec.config
    built_at = datetime.now(timezone.utc).replace(tzinfo=None)
    output = spec.builder.build(read_inputs(store, spec), spec.params, run.as_of)
    check_contract(spec, output)
    output = output.withColumn(AS_OF, F.lit(run.as_of))
    checks = checks_for(config.quality.rules)
    verdicts = check_rows(layer, spec, output, checks).withColumns(
        {BUILT_AT: F.lit(built_at), ACCEPTED: ~is_rejected()}
    )
    with store.checkpoint(verdicts, ACCEPTED) as (checked, accepted_files):
        duplicates = duplicate_keys(checked, config.primary_key)
        if duplicates:
            raise BuildError(
                f"{spec.file}: primary_key {config.primary_key} is null or not unique in the output of builder "
                f"{spec.builder.name}, e.g. {'; '.join(duplicates)}"
            )
        history = config.history_column
        totals = checked.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum((F.col(history) != F.lit(run.as_of)).cast("long") if history else F.lit(0)).alias("other_dates"),
            F.sum(is_rejected().cast("long")).alias("rejected"),
            F.sum((~is_rejected() & (F.size(FLAGS) > 0)).cast("long")).alias("flagged"),
            *failure_counts(checks),
        ).collect()[0]  # a global aggregate has exactly one row
        failures = failure_rows(checks, [totals])
        if totals["other_dates"]:
            raise BuildError(
                f"{spec.file}: history_column: builder {spec.builder.name} wrote {totals['other_dates']} row(s) "
                f"whose {history} is not the business date {run.as_of}"
            )
        result.rows_read, result.rows_rejected = totals["rows"], totals["rejected"] or 0
        result.rows_loaded, result.rows_flagged = result.rows_read - result.rows_rejected, totals["flagged"] or 0
        result.failures_by_rule = {row["rule"]: row["rows_failed"] for row in failures if row["rows_failed"]}
        batch_id = f"{layer}.{config.table}@{run.as_of.isoformat()}"
        result.batch_id = batch_id
        quarantine = checked.where(~F.col(ACCEPTED)).select(
            *output.columns,
            F.col(REJECTS).alias("_dq_rules"),
            F.array_join(REASONS, "; ").alias("_dq_reason"),
            F.lit(built_at).alias("_quarantined_at"),
        )
        store.overwrite(TableRef(layer, f"{config.table}_quarantine"), quarantine)
        write_dq_metrics(
            checked.sparkSession, store, layer, config.table, failures, batch_id, run.run_id, run.as_of, built_at
        )
        threshold = config.quality.min_pass_rate
        rate = result.rows_loaded / result.rows_read if result.rows_read else 1.0
        if rate < threshold:
            raise DataQualityError(
                f"Data quality check failed: {rate:.0%} pass rate (threshold {threshold:.0%}) in {layer}.{config.table}"
                f"; table left as it was, rejected rows are in {layer}.{config.table}_quarantine"
            )
        predicate = f"{config.history_column} = {sql_literal(run.as_of)}" if config.history_column else None
        accepted = checked.where(F.col(ACCEPTED)).select(*output.columns, FLAGS, BUILT_AT)
        store.replace(TableRef(layer, config.table), accepted, predicate, config.partition_by, files=accepted_files)
    logger.info("%s.%s: %d rows as of %s", layer, config.table, result.rows_loaded, run.as_of)
    return result
