"""`paylake maintain`: archive old SCD2 versions per each bronze table's retention, compact every table's small
files (Z-ordered by the table's ``cluster_by``), then vacuum every table.

Archiving is two commits that are safe to repeat: the old versions are merged into ``bronze.<table>_archive``
(inserted only if not already there), then the table is rewritten without them. A crash between the two leaves
the versions in both places, and the next run finishes the move. Current rows are never touched. Compaction is one
commit per table that changes no row; daily merges, partition replaces and the run log's appends leave many small
files, and a read's cost grows with their number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from paylake.bronze.retention import split_for_archive
from paylake.contract import DERIVED_LAYERS, OPS_SCHEMAS, RECORD_VERSION, TableRef
from paylake.lake.store import MergeSpec
from paylake.runtime.context import PaylakeContext
from paylake.silver.point_in_time import end_of_day

logger = logging.getLogger(__name__)


@dataclass
class MaintainResult:
    """What maintenance did to one table."""

    table: str
    archived: int = 0
    kept: int = 0
    files_before: int | None = None  # None: not compacted
    files_after: int | None = None
    vacuumed_files: int = 0


def archive_old_versions(context: PaylakeContext, as_of: date) -> list[MaintainResult]:
    """Move versions closed more than ``retention.archive_after_days`` before ``as_of`` to the archive tables."""
    results = []
    for table, config in sorted(context.bronze.tables.items()):
        ref = TableRef("bronze", table)
        if config.retention is None or not context.store.exists(ref):
            continue
        cutoff = end_of_day(as_of - timedelta(days=config.retention.archive_after_days))
        history = context.store.read(ref).persist()
        try:
            kept, old = split_for_archive(history, config.primary_key, cutoff)
            result = MaintainResult(f"bronze.{table}", archived=old.count(), kept=kept.count())
            if result.archived:
                match = " AND ".join(f"t.{c} = s.{c}" for c in [*config.primary_key, RECORD_VERSION])
                context.store.merge(ref.archive, old, MergeSpec(match), config.partition_by)
                context.store.overwrite(ref, kept, config.partition_by)
        finally:
            history.unpersist()
        logger.info("bronze.%s: %d versions archived, %d kept", table, result.archived, result.kept)
        results.append(result)
    return results


def lake_tables(context: PaylakeContext) -> dict[TableRef, list[str]]:
    """Every table paylake may have written, per the metadata (those that exist), with its ``cluster_by``."""
    refs: dict[TableRef, list[str]] = dict.fromkeys(OPS_SCHEMAS, [])
    for table, config in context.bronze.tables.items():
        ref = TableRef("bronze", table)
        refs |= {ref: config.cluster_by, ref.quarantine: [], ref.archive: config.cluster_by}
    for layer in DERIVED_LAYERS:
        for table, derived in context.derived(layer).tables.items():
            ref = TableRef(layer, table)
            refs |= {ref: derived.config.cluster_by, ref.quarantine: []}
    return {ref: cluster_by for ref, cluster_by in refs.items() if context.store.exists(ref)}


def maintain(context: PaylakeContext, as_of: date, vacuum: bool = True, compact: bool = True) -> list[MaintainResult]:
    """Archive per retention, then compact every table (unless ``compact`` is false), then vacuum every table
    with the environment's ``vacuum_retention_hours`` (unless ``vacuum`` is false)."""
    results = {r.table: r for r in archive_old_versions(context, as_of)}
    hours = context.environment.vacuum_retention_hours
    for ref, cluster_by in lake_tables(context).items():
        result = results.setdefault(str(ref), MaintainResult(str(ref)))
        if compact:
            done = context.store.compact(ref, cluster_by)
            result.files_before, result.files_after = done.files_before, done.files_after
        if vacuum:
            result.vacuumed_files = context.store.vacuum(ref, hours)
        logger.info("%s: files %s, %d vacuumed", ref, _files(result), result.vacuumed_files)
    return list(results.values())


def _files(result: MaintainResult) -> str:
    return "-" if result.files_before is None else f"{result.files_before} -> {result.files_after}"


def render_maintenance(results: list[MaintainResult]) -> str:
    """What ``maintain`` did per table, as a text table."""
    lines = [f"{'table':<44}{'archived':>10}{'kept':>10}{'files':>16}{'files vacuumed':>16}"]
    lines += [f"{r.table:<44}{r.archived:>10}{r.kept:>10}{_files(r):>16}{r.vacuumed_files:>16}" for r in results]
    return "\n".join(lines)
