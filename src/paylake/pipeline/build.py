"""Build one silver or gold table: read its inputs, call its builder, gate the output, replace the table.

The only I/O of a derived layer lives here; builders are pure. A build is idempotent: the table holds the
state as of the run's business date and is replaced in one commit, so running the same ``as_of`` twice gives
the same table, and a failed build (missing input, broken contract, quality gate) leaves it untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.config.loader import DerivedTable
from paylake.contract import AS_OF, BUILT_AT, FLAGS, STALE_INPUTS, DerivedLayer, TableRef
from paylake.errors import BuildError
from paylake.lake.store import TableStore, sql_literal
from paylake.quality.checks import checks_for, passing_rows
from paylake.quality.gate import Gate, GateCounts, gated_write
from paylake.records import RunInfo, TableCounts

logger = logging.getLogger(__name__)
OTHER_DATES = "other_dates"  # rows whose history column is not the business date


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


def refuse_bad_output(spec: DerivedTable, as_of: date) -> Callable[[DataFrame, GateCounts], None]:
    """The gate's refusal of a builder's output whose key is null or repeated, or that holds rows of another
    business date in its ``history_column`` (builder bugs, never quarantined)."""
    config = spec.config

    def refuse(checked: DataFrame, counts: GateCounts) -> None:
        duplicates = duplicate_keys(checked, config.primary_key)
        if duplicates:
            raise BuildError(
                f"{spec.file}: primary_key {config.primary_key} is null or not unique in the output of builder "
                f"{spec.builder.name}, e.g. {'; '.join(duplicates)}"
            )
        if counts.extra.get(OTHER_DATES):
            raise BuildError(
                f"{spec.file}: history_column: builder {spec.builder.name} wrote {counts.extra[OTHER_DATES]} row(s) "
                f"whose {config.history_column} is not the business date {as_of}"
            )

    return refuse


def build_table(
    store: TableStore, layer: DerivedLayer, spec: DerivedTable, run: RunInfo, stale_inputs: Sequence[str] = ()
) -> TableCounts:
    """Compute ``spec`` as of ``run.as_of`` and replace ``<layer>.<table>`` with the rows that pass its rules.

    Rejected rows go to ``<layer>.<table>_quarantine`` (replaced on every build) with the rules they failed;
    flagged rows carry ``_dq_flags``; per-rule counts go to ``ops.dq_metrics``. Every row carries
    ``stale_inputs``: the bronze feeds it was built from that were stale on the business date (comma-separated),
    null when none was.

    Raises:
        BuildError: an input is missing, the output breaks its declared columns or primary key.
        DataQualityError: the share of rows passing every reject rule is under ``min_pass_rate``.
    """
    config = spec.config
    built_at = datetime.now(timezone.utc).replace(tzinfo=None)
    output = spec.builder.build(read_inputs(store, spec), spec.params, run.as_of)
    check_contract(spec, output)
    stale = F.lit(", ".join(sorted(stale_inputs)) if stale_inputs else None).cast("string")
    output = output.withColumns({AS_OF: F.lit(run.as_of), STALE_INPUTS: stale})
    columns = output.columns
    history = config.history_column
    table = TableRef(layer, config.table)
    gate = Gate(
        table=table,
        checks=checks_for(config.quality.rules),
        min_pass_rate=config.quality.min_pass_rate,
        batch_id=f"{table}@{run.as_of.isoformat()}",
        run=run,
        at=built_at,
        quarantine_columns=columns,
        extra={OTHER_DATES: F.col(history) != F.lit(run.as_of)} if history else {},
        refuse=refuse_bad_output(spec, run.as_of),
    )
    with gated_write(store, output.withColumn(BUILT_AT, F.lit(built_at)), gate) as batch:
        predicate = f"{history} = {sql_literal(run.as_of)}" if history else None
        accepted = batch.accepted.select(*columns, FLAGS, BUILT_AT)
        store.replace(table, accepted, predicate, config.partition_by, files=batch.accepted_files)
    logger.info("%s: %d rows as of %s", table, batch.counts.read - batch.counts.rejected, run.as_of)
    return batch.counts.table_counts(batch_id=gate.batch_id)


def accepted_rows(spec: DerivedTable, output: DataFrame) -> DataFrame:
    """The rows of a builder's ``output`` that pass the table's reject rules, as the daily build keeps them."""
    return passing_rows(output, checks_for(spec.config.quality.rules))
