"""The data-quality gate every layer writes through: check, checkpoint, count, quarantine, metrics, judge.

:func:`gated_write` is the one sequence bronze ingestion and silver and gold builds share:

1. evaluate the table's checks on its rows (:func:`paylake.quality.checks.evaluate`);
2. checkpoint the checked rows once (:meth:`TableStore.checkpoint`), so the reads that follow never recompute them;
3. count rows, rejects, flags and failures per rule: per file (bronze) in one aggregate, over the whole output
   (derived) while the checkpoint is computed;
4. let the caller refuse the batch on its own terms (a builder's duplicate keys, rows of another date);
5. replace the rejected rows in the table's quarantine and the batch's per-rule counts in ``ops.dq_metrics``;
6. hold the batch back whole when a file (or the output) passes under ``min_pass_rate``;
7. hand the caller the accepted rows, their checkpoint files and the counts, to write the target.

The quarantine and the metrics are written before the pass rate is judged, so a held-back batch still shows an
operator why. Every write is idempotent for the batch: quarantine rows are replaced per source file (or whole),
metrics per batch. An error raised from step 4 on, by the gate or by the caller's write, carries the counts
(:attr:`paylake.errors.PaylakeError.counts`): nothing loaded, the quarantined rows rejected, every other row held
back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import pyarrow.dataset as ds
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from paylake.contract import (
    ACCEPTED,
    BRONZE_QUARANTINE_TAIL,
    DERIVED_QUARANTINE_TAIL,
    DQ_METRICS,
    DQ_REASON,
    DQ_RULES,
    FLAGS,
    OPS_SCHEMAS,
    QUARANTINED_AT,
    REASONS,
    REJECTS,
    SOURCE_FILE,
    TableRef,
)
from paylake.errors import DataQualityError, PaylakeError
from paylake.frames import arrow_rows, no_rows
from paylake.lake.store import TableStore, sql_literal
from paylake.quality.checks import CheckSpec, evaluate, failure_counts, failure_rows, is_rejected
from paylake.records import RunInfo, TableCounts


@dataclass(frozen=True)
class GateCounts:
    """What the gate counted. ``per_file`` maps a source file (or the table, for a derived build) to its rows
    read and rejected; ``extra`` holds the sums of the caller's ``extra`` aggregates."""

    per_file: Mapping[str, tuple[int, int]]
    flagged: int
    failures: Sequence[Row]
    extra: Mapping[str, int] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(read for read, _ in self.per_file.values())

    @property
    def rejected(self) -> int:
        return sum(rejected for _, rejected in self.per_file.values())

    def table_counts(self, loaded: bool = True, quarantined: bool = True, **more: object) -> TableCounts:
        """These counts as a table's record (``more`` adds files, versions, batch id). A batch that was not
        ``loaded`` counts its rows as rejected (when the quarantine was written) or held back."""
        failures = {row["rule"]: row["rows_failed"] for row in self.failures if row["rows_failed"]}
        rejected = self.rejected if quarantined else 0
        return TableCounts(
            rows_read=self.read,
            rows_loaded=self.read - rejected if loaded else 0,
            rows_rejected=rejected,
            rows_held_back=0 if loaded else self.read - rejected,
            rows_flagged=self.flagged if loaded else 0,
            failures_by_rule=failures,
            **more,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Gate:
    """How one table's rows are gated.

    Attributes:
        table: the table the accepted rows are written to; rejected rows go to ``table.quarantine``.
        checks: the evaluated rules.
        min_pass_rate: the share of rows (of each file, when ``files`` is given) that must pass every reject rule.
        batch_id: the batch's id in the quarantine and the metrics.
        run: the run writing the batch.
        at: the audit timestamp of the batch's writes.
        quarantine_columns: how a rejected row is kept (its values), before the rules, reason and lineage.
        files: the batch's source files by name -> how messages name them; None gates one output as a whole.
        held_back: what happened to the target when the batch is held back, for the message.
        extra: further aggregates summed in the counting job, as ``name -> column`` (see :attr:`GateCounts.extra`).
        refuse: the caller's own refusal, after counting and before anything is written (raises to refuse).
    """

    table: TableRef
    checks: Sequence[CheckSpec]
    min_pass_rate: float
    batch_id: str
    run: RunInfo
    at: datetime
    quarantine_columns: Sequence[str | Column]
    files: Mapping[str, str] | None = None
    held_back: str = "table left as it was"
    extra: Mapping[str, Column] = field(default_factory=dict)
    refuse: Callable[[DataFrame, GateCounts], None] | None = None

    @property
    def label(self) -> str:
        return str(self.table)


@dataclass(frozen=True)
class Gated:
    """A batch that passed its gate: every checked row, the accepted ones, their files (local store) and counts."""

    checked: DataFrame
    accepted: DataFrame
    accepted_files: ds.Dataset | None
    counts: GateCounts


@contextmanager
def gated_write(store: TableStore, rows: DataFrame, gate: Gate) -> Iterator[Gated]:
    """Gate ``rows`` (see the module doc) and yield what passed; the caller writes the target in the block.

    Raises:
        DataQualityError: a file (or the output) passes under ``gate.min_pass_rate``; the quarantine and metrics
            are written, the target is not.
        PaylakeError: what ``gate.refuse`` or the caller's block raises, with the counts attached.
    """
    verdicts = evaluate(rows, gate.checks).withColumn(ACCEPTED, ~is_rejected())
    totals = _aggregates(gate) if gate.files is None else ()
    with store.checkpoint(verdicts, ACCEPTED, totals) as (checked, accepted_files, total):
        counts = _counts(gate, [total] if total is not None else _per_file(checked, gate))
        quarantined = False
        try:
            if gate.refuse is not None:
                gate.refuse(checked, counts)
            rejected = checked.where(~F.col(ACCEPTED))  # the local store reads only the rejected files
            _write_quarantine(store, rejected, counts, gate)
            quarantined = True
            _write_metrics(store, counts, gate)
            _judge(counts, gate)
            accepted = checked.where(F.col(ACCEPTED)).drop(ACCEPTED, REJECTS, REASONS)
            yield Gated(checked, accepted, accepted_files, counts)
        except PaylakeError as error:
            files = len(gate.files or {})
            error.counts = error.counts or counts.table_counts(False, quarantined, batch_id=gate.batch_id, files=files)
            raise


def _aggregates(gate: Gate) -> list[Column]:
    """Rows, rejects, flagged loaded rows, failures per rule and the caller's extras."""
    return [
        F.count(F.lit(1)).alias("rows"),
        F.sum(is_rejected().cast("long")).alias("rejected"),
        F.sum((~is_rejected() & (F.size(FLAGS) > 0)).cast("long")).alias("flagged"),
        *failure_counts(gate.checks),
        *[F.sum(column.cast("long")).alias(f"extra_{name}") for name, column in gate.extra.items()],
    ]


def _per_file(checked: DataFrame, gate: Gate) -> list[Row]:
    """:func:`_aggregates` per source file, in one job over the checkpointed rows."""
    return checked.groupBy(SOURCE_FILE).agg(*_aggregates(gate)).collect()


def _counts(gate: Gate, stats: Sequence[Row]) -> GateCounts:
    """The gate's counts from :func:`_aggregates` rows: one per file (bronze), or one over the output, observed
    while the checkpoint was written."""
    if gate.files is None:
        per_file = {gate.label: (stats[0]["rows"], stats[0]["rejected"] or 0)}
    else:
        per_file = {row[SOURCE_FILE]: (row["rows"], row["rejected"] or 0) for row in stats}
    return GateCounts(
        per_file,
        sum(row["flagged"] or 0 for row in stats),
        failure_rows(gate.checks, stats),
        {name: sum(row[f"extra_{name}"] or 0 for row in stats) for name in gate.extra},
    )


def _write_quarantine(store: TableStore, rejected: DataFrame, counts: GateCounts, gate: Gate) -> None:
    """Replace the batch's rows in the quarantine: per source file (bronze), or the whole table (derived). A row
    keeps its values, then the columns of the contract's quarantine tail. A bronze batch without rejected rows
    clears its files' earlier rows without running ``rejected``."""
    tail = BRONZE_QUARANTINE_TAIL if gate.files is not None else DERIVED_QUARANTINE_TAIL
    made = {
        DQ_RULES: F.col(REJECTS),
        DQ_REASON: F.array_join(REASONS, "; "),
        QUARANTINED_AT: F.lit(gate.at),
    }
    quarantine = rejected.select(*gate.quarantine_columns, *[made.get(name, F.col(name)).alias(name) for name in tail])
    if gate.files is None:
        store.overwrite(gate.table.quarantine, quarantine)
        return
    names = ", ".join(sql_literal(name) for name in gate.files)
    predicate = f"{SOURCE_FILE} IN ({names})"
    if counts.rejected:
        store.replace_where(gate.table.quarantine, quarantine, predicate)
    else:
        store.put_rows(gate.table.quarantine, no_rows(quarantine.schema), predicate)


def _write_metrics(store: TableStore, counts: GateCounts, gate: Gate) -> None:
    """Replace the batch's per-rule counts in ``ops.dq_metrics`` (a rule that checked no rows, as on a header-only
    file, passed)."""
    if not counts.failures:
        return
    rows = [
        (
            gate.run.run_id,
            gate.batch_id,
            gate.table.layer,
            gate.table.name,
            row["rule"],
            row["rule_type"],
            row["action"],
            row["rows_checked"],
            row["rows_failed"],
            1 - row["rows_failed"] / row["rows_checked"] if row["rows_checked"] > 0 else 1.0,
            gate.run.as_of,
            gate.at,
        )
        for row in counts.failures
    ]
    scope = {"batch_id": gate.batch_id, "layer": gate.table.layer, "table": gate.table.name}
    predicate = " AND ".join(f"{column} = {sql_literal(value)}" for column, value in scope.items())
    store.put_rows(DQ_METRICS, arrow_rows(rows, OPS_SCHEMAS[DQ_METRICS]), predicate)


def _judge(counts: GateCounts, gate: Gate) -> None:
    """Hold the batch back when a file (or the output) passes under ``min_pass_rate``."""
    threshold = gate.min_pass_rate
    units = gate.files if gate.files is not None else {gate.label: gate.label}
    for unit, label in units.items():
        read, rejected = counts.per_file.get(unit, (0, 0))
        rate = 1 - rejected / read if read else 1.0
        if rate < threshold:
            raise DataQualityError(
                f"Data quality check failed: {rate:.0%} pass rate (threshold {threshold:.0%}) in {label}; "
                f"{gate.held_back}, rejected rows are in {gate.table.quarantine}"
            )
