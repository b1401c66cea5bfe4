"""Run the tables of a layer in dependency order, isolate failures, and record every run in ops.pipeline_runs."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from pyspark.sql import functions as F

from paylake.bronze.ingest import RunInfo, ingest_table
from paylake.bronze.landing import unclaimed_files
from paylake.builders import DerivedLayer
from paylake.errors import PaylakeError, UsageError
from paylake.lake.store import TableRef
from paylake.orchestration.dependencies import dependency_order
from paylake.orchestration.derived import build_table
from paylake.orchestration.results import TableResult, render_summary
from paylake.runtime.context import PaylakeContext
from paylake.runtime.spark import rows_frame

logger = logging.getLogger(__name__)

PIPELINE_RUNS = TableRef("ops", "pipeline_runs")
PIPELINE_RUNS_SCHEMA = (
    "run_id string, layer string, table string, status string, as_of date, environment string, "
    "started_at timestamp, finished_at timestamp, seconds double, files bigint, rows_read bigint, "
    "rows_loaded bigint, rows_rejected bigint, rows_flagged bigint, new_versions bigint, closed_versions bigint, "
    "batch_id string, error string"
)


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


TableRunner = Callable[[PaylakeContext, str, RunInfo, TableResult], TableResult]


def _run_bronze_table(context: PaylakeContext, table: str, run: RunInfo, result: TableResult) -> TableResult:
    config = context.bronze.tables[table]
    databricks = context.environment.databricks
    readers = databricks.pii_readers_group if databricks else None
    return ingest_table(context.spark, context.store, context.scd2, config, context.landing, run, result, readers)


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
    run = RunInfo(run_id or uuid.uuid4().hex[:12], as_of, datetime.now(timezone.utc).replace(tzinfo=None))
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
            _record(context, layer, run, result)
    context.cloudwatch.publish(layer, results)
    return LayerRun(layer, run, results)


def _run_one(
    context: PaylakeContext, layer: str, table: str, blocked: set[str], run_table: TableRunner, run: RunInfo
) -> TableResult:
    result = TableResult(table)
    started = time.perf_counter()
    if blocked:
        result.status, result.error = "SKIPPED", f"skipped: upstream {', '.join(sorted(blocked))} did not succeed"
    else:
        logger.info("%s.%s: start (as of %s)", layer, table, run.as_of, extra={"table": table, "step": "start"})
        try:
            run_table(context, table, run, result)
        except PaylakeError as exc:
            result.status, result.error = "FAILED", str(exc)
        except Exception as exc:  # one table's crash must not stop its siblings
            logger.exception("%s.%s failed unexpectedly", layer, table, extra={"table": table, "step": "error"})
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            result.status, result.error = "FAILED", f"{type(exc).__name__}: {first_line} (see log for details)"
    result.seconds = time.perf_counter() - started
    step = {"table": table, "step": result.status.lower(), "rows_loaded": result.rows_loaded}
    if result.status == "SUCCESS":
        logger.info("%s.%s: done in %.1f s", layer, table, result.seconds, extra=step)
    else:
        logger.error("%s.%s: %s", layer, table, result.error, extra=step)
    return result


def _record(context: PaylakeContext, layer: str, run: RunInfo, r: TableResult) -> None:
    finished = datetime.now(timezone.utc).replace(tzinfo=None)
    row = (
        run.run_id,
        layer,
        r.table,
        r.status,
        run.as_of,
        context.environment.name,
        run.started_at,
        finished,
        r.seconds,
        r.files,
        r.rows_read,
        r.rows_loaded,
        r.rows_rejected,
        r.rows_flagged,
        r.new_versions,
        r.closed_versions,
        r.batch_id,
        r.error,
    )
    df = rows_frame(context.spark, [row], PIPELINE_RUNS_SCHEMA).withColumn("seconds", F.round("seconds", 3))
    context.store.append(PIPELINE_RUNS, df)


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

    def run_table(ctx: PaylakeContext, table: str, run: RunInfo, result: TableResult) -> TableResult:
        return build_table(ctx.store, layer, metadata.tables[table], run, result)

    dependencies = {name: spec.dependencies(layer) for name, spec in metadata.tables.items()}
    return run_layer(context, layer, dependencies, run_table, tables, as_of, run_id)


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


# Layers in run order; `paylake run all` runs them one after the other.
LayerRunner = Callable[[PaylakeContext, str | Sequence[str] | None, date, str | None], LayerRun]
LAYERS: dict[str, LayerRunner] = {
    "bronze": run_bronze,
    "silver": run_silver,
    "gold": run_gold,
}
