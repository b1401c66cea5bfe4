"""Run the tables of a layer in dependency order, isolate failures, record every table in ``ops.pipeline_runs``;
and run several layers as one run, stopping at the first layer with a failed table (:func:`run_layers`), the
policy the CLI, the notebooks and the jobs share."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timezone

from paylake.bronze.discovery import unclaimed_files
from paylake.bronze.freshness import refuse_stale, stale_feeds
from paylake.bronze.ingest import ingest_table
from paylake.contract import OPS_SCHEMAS, PIPELINE_LAYERS, PIPELINE_RUNS, DerivedLayer, PipelineLayer
from paylake.errors import PaylakeError, UsageError, missing_data_file, storage_full
from paylake.faults import fault_point
from paylake.frames import arrow_rows
from paylake.graph import dependency_order
from paylake.pipeline.build import build_table
from paylake.records import RunInfo, Status, TableCounts, TableResult
from paylake.reporting.summary import render_summary
from paylake.runtime.context import PaylakeContext
from paylake.runtime.spark import table_jobs

logger = logging.getLogger(__name__)


def new_run_id() -> str:
    """A fresh run id (12 hex digits)."""
    return uuid.uuid4().hex[:12]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class LayerRun:
    """The outcome of one layer run."""

    layer: str
    run: RunInfo
    results: Sequence[TableResult]

    @property
    def ok(self) -> bool:
        """True when no table failed or was skipped."""
        return all(r.status == "SUCCESS" for r in self.results)

    def summary(self) -> str:
        """The printable summary block."""
        return render_summary(self.layer, self.results, self.run.run_id, self.run.as_of)


def select_tables(requested: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """Resolve ``all``/``None`` or a comma list of table names against the available ones.

    Raises:
        UsageError: a requested table is unknown; lists the available ones.
    """
    if requested is None or requested == "all" or requested == ["all"]:
        return sorted(available)
    names = [n.strip() for n in (requested.split(",") if isinstance(requested, str) else requested) if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise UsageError(f"unknown table(s) {unknown or names}; available: {', '.join(sorted(available))}")
    return list(dict.fromkeys(names))


TableRunner = Callable[[PaylakeContext, str, RunInfo], TableCounts]


def _run_bronze_table(context: PaylakeContext, table: str, run: RunInfo) -> TableCounts:
    config = context.bronze.tables[table]
    databricks = context.environment.databricks
    readers = databricks.pii_readers_group if databricks else None
    return ingest_table(context.spark, context.store, context.scd2, config, context.landing, run, readers)


def run_layer(
    context: PaylakeContext,
    layer: str,
    dependencies: Mapping[str, set[str]],
    run_table: TableRunner,
    tables: str | Sequence[str] | None,
    as_of: date,
    run_id: str | None = None,
) -> LayerRun:
    """Run the selected tables of a layer in dependency order.

    A failed table skips the tables that depend on it (directly or not), never its siblings. Every table's
    outcome is appended to ``ops.pipeline_runs``.
    """
    selected = select_tables(tables, list(dependencies))
    order = dependency_order({t: dependencies[t] & set(selected) for t in selected})
    run = RunInfo(run_id or new_run_id(), as_of, _now())
    results: list[TableResult] = []
    with context.cloudwatch.layer_run(run.run_id, layer):
        not_ok: set[str] = set()
        for index, table in enumerate(order, 1):
            context.progress.started(layer, table, index, len(order))
            result = _run_one(context, layer, table, dependencies[table] & not_ok, run_table, run)
            context.progress.finished(layer, result, index, len(order))
            if result.status != "SUCCESS":
                not_ok.add(table)
            results.append(result)
            try:
                _record(context, layer, run, result)
            except Exception as exc:
                full = storage_full(exc, f"{PIPELINE_RUNS} (the run log of {layer}.{table}, {result.status})")
                if full is None:
                    raise
                raise full from exc
    context.cloudwatch.publish(layer, results, as_of)
    return LayerRun(layer, run, results)


def _run_one(
    context: PaylakeContext, layer: str, table: str, blocked: set[str], run_table: TableRunner, run: RunInfo
) -> TableResult:
    started_at, started = _now(), time.perf_counter()
    counts, error, jobs = TableCounts(), None, None
    status: Status = "SUCCESS"
    if blocked:
        status, error = "SKIPPED", f"skipped: upstream {', '.join(sorted(blocked))} did not succeed"
    else:
        logger.info("%s.%s: start (as of %s)", layer, table, run.as_of, extra={"table": table, "step": "start"})
        try:
            with table_jobs(layer, table) as jobs_run:
                counts = run_table(context, table, run)
                jobs = jobs_run()
        except PaylakeError as exc:
            counts, status, error = exc.counts or TableCounts(), "FAILED", str(exc)
        except Exception as exc:  # one table's crash must not stop its siblings
            known = storage_full(exc, f"{layer}.{table}") or missing_data_file(exc, f"{layer}.{table}")
            if known is None:
                logger.exception("%s.%s failed unexpectedly", layer, table, extra={"table": table, "step": "error"})
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            status, error = (
                "FAILED",
                str(known) if known else f"{type(exc).__name__}: {first_line} (see log for details)",
            )
    seconds = time.perf_counter() - started
    counted = {f.name: getattr(counts, f.name) for f in fields(TableCounts)}
    result = TableResult(**counted, table=table, status=status, started_at=started_at, seconds=seconds, error=error)
    step = {"table": table, "step": status.lower(), "rows_loaded": result.rows_loaded}
    if status == "SUCCESS":
        ran = f", {jobs} Spark jobs" if jobs is not None else ""
        logger.info("%s.%s: done in %.1f s%s", layer, table, seconds, ran, extra=step)
    else:
        logger.error("%s.%s: %s", layer, table, error, extra=step)
    return result


def _record(context: PaylakeContext, layer: str, run: RunInfo, r: TableResult) -> None:
    row = (
        run.run_id,
        layer,
        r.table,
        r.status,
        run.as_of,
        context.environment.name,
        r.started_at,
        _now(),
        round(r.seconds, 3),
        r.files,
        r.rows_read,
        r.rows_loaded,
        r.rows_rejected,
        r.rows_flagged,
        r.new_versions,
        r.closed_versions,
        r.batch_id,
        r.error or (f"WARNING: {r.warning}" if r.warning else None),
        r.newest_extract,
        r.hours_since_newest_file,
    )
    context.store.put_rows(PIPELINE_RUNS, arrow_rows([row], OPS_SCHEMAS[PIPELINE_RUNS]))


def run_bronze(
    context: PaylakeContext, tables: str | Sequence[str] | None, as_of: date, run_id: str | None = None
) -> LayerRun:
    """Ingest the selected bronze tables (``all`` or a list) up to ``as_of``."""
    configs = context.bronze.tables
    for path in unclaimed_files(context.landing, configs.values()):
        logger.warning("%s: no bronze table reads this file (unknown feed or misplaced file); left alone", path)
    dependencies = {name: config.dependencies() for name, config in configs.items()}
    return run_layer(context, "bronze", dependencies, _run_bronze_table, tables, as_of, run_id)


def run_derived(
    context: PaylakeContext,
    layer: DerivedLayer,
    tables: str | Sequence[str] | None,
    as_of: date,
    run_id: str | None = None,
) -> LayerRun:
    """Build the selected tables of a silver or gold layer (``all`` or a list) as of ``as_of``."""
    metadata = context.derived(layer)
    feeds = stale_feeds(context.store, context.bronze.tables.values(), as_of)

    def run_table(ctx: PaylakeContext, table: str, run: RunInfo) -> TableCounts:
        stale = refuse_stale(f"{layer}.{table}", feeds, bronze_reads(ctx, layer, table))
        counts = build_table(ctx.store, layer, metadata.tables[table], run, stale)
        if not stale:
            return counts
        return replace(counts, warning=f"built on stale input(s) {', '.join(stale)}; its rows carry stale_inputs")

    dependencies = {name: spec.dependencies(layer) for name, spec in metadata.tables.items()}
    return run_layer(context, layer, dependencies, run_table, tables, as_of, run_id)


def bronze_reads(context: PaylakeContext, layer: DerivedLayer, table: str) -> set[str]:
    """The bronze tables a derived table reads, directly or through the derived tables it reads."""
    reads: set[str] = set()
    for name in context.derived(layer).tables[table].config.inputs.values():
        source_layer, source = name.split(".", 1)
        if source_layer == "bronze":
            reads.add(source)
        elif source_layer in ("silver", "gold"):
            reads |= bronze_reads(context, source_layer, source)  # type: ignore[arg-type]  # checked just above
    return reads


def run_silver(
    context: PaylakeContext, tables: str | Sequence[str] | None, as_of: date, run_id: str | None = None
) -> LayerRun:
    """Build the selected silver tables as of ``as_of`` from bronze history."""
    return run_derived(context, "silver", tables, as_of, run_id)


def run_gold(
    context: PaylakeContext, tables: str | Sequence[str] | None, as_of: date, run_id: str | None = None
) -> LayerRun:
    """Build the selected gold tables as of ``as_of`` (score date) from silver."""
    return run_derived(context, "gold", tables, as_of, run_id)


LayerRunner = Callable[[PaylakeContext, str | Sequence[str] | None, date, str | None], LayerRun]
LAYER_RUNNERS: dict[PipelineLayer, LayerRunner] = {
    "bronze": run_bronze,
    "silver": run_silver,
    "gold": run_gold,
}


def run_layers(
    context: PaylakeContext,
    layers: Sequence[PipelineLayer],
    tables: str | Sequence[str] | None,
    as_of: date,
    run_id: str | None = None,
    report: Callable[[LayerRun], None] | None = None,
) -> list[LayerRun]:
    """Run ``layers`` in pipeline order as one run (one run id), stopping after the first layer with a failed or
    skipped table: later layers would read incomplete inputs. ``report`` sees each layer's outcome as it ends.

    Raises:
        UsageError: an unknown layer, or a table selection with more than one layer.
    """
    unknown = [layer for layer in layers if layer not in LAYER_RUNNERS]
    if unknown or not layers:
        raise UsageError(f"unknown layer(s) {unknown or layers}; available: {', '.join(PIPELINE_LAYERS)}")
    if len(layers) > 1 and tables not in (None, "all", ["all"]):
        raise UsageError("a table selection applies to one layer; name the layer instead of several")
    run_id = run_id or new_run_id()
    outcomes: list[LayerRun] = []
    for layer in sorted(layers, key=PIPELINE_LAYERS.index):
        if outcomes:
            fault_point("between_layers", layer)
        outcome = LAYER_RUNNERS[layer](context, tables, as_of, run_id)
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
        if not outcome.ok:
            break
    return outcomes
