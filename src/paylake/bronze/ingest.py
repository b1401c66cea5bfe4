"""Ingest one bronze table: pending files -> typed rows -> data-quality gate -> SCD2 merge -> file log.

Each write is idempotent for the batch, so a crash at any step followed by a re-run converges to the same
tables: quarantine rows are replaced per source file, metrics per batch, SCD2 recomputes against the current
rows (already-applied events are stale or unchanged), and the file log is written last.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.bronze.discovery import LandingFile, LandingZone, discover_files, settled
from paylake.bronze.file_log import (
    FileLog,
    check_table_holds_log,
    log_batch,
    pending_files,
    read_file_log,
    table_version,
)
from paylake.bronze.freshness import stale_input, wait_for_related
from paylake.bronze.landing import RAW, file_layout, parse_checks, read_failure, read_landing, typed_rows
from paylake.bronze.scd2 import Scd2Spec, row_hash
from paylake.bronze.scd2_writers import Scd2Writer
from paylake.config.bronze import BronzeTableConfig
from paylake.config.quality import ForeignKeyRule
from paylake.contract import (
    BATCH_ID,
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    EXTRACT_DATE,
    INGESTED_AT,
    IS_CURRENT,
    RESCUED,
    ROW_HASH,
    TableRef,
    bronze_row_columns,
)
from paylake.errors import IngestionError, StaleInputError
from paylake.faults import fault_point
from paylake.lake.store import TableStore
from paylake.pii import refuse_masked
from paylake.quality.checks import checks_for, with_fk_lookups
from paylake.quality.gate import Gate, GateCounts, gated_write
from paylake.records import RunInfo, TableCounts

logger = logging.getLogger(__name__)


def scd2_spec(config: BronzeTableConfig) -> Scd2Spec:
    """The SCD2 settings of a bronze table; versions carry data, flags and audit columns."""
    return Scd2Spec(
        keys=tuple(config.primary_key),
        compare_columns=tuple(config.scd.compare_columns),
        sequence_column=config.sequence_column,
        columns=bronze_row_columns(config.column_names, config.on_new_columns == "rescue"),
        snapshot=config.load_type == "snapshot",
    )


def batch_id_for(table: str, files: Sequence[tuple[str, str]]) -> str:
    """Deterministic batch id from the table and its files' names and checksums: a retry reuses it."""
    digest = hashlib.sha256(table.encode())
    for name, checksum in sorted(files):
        digest.update(f"|{name}:{checksum}".encode())
    return digest.hexdigest()[:16]


def _references(store: TableStore, config: BronzeTableConfig) -> dict[str, DataFrame]:
    references = {}
    for rule in config.quality.rules:
        if not isinstance(rule, ForeignKeyRule):
            continue
        ref = TableRef("bronze", rule.references.table)
        if not store.exists(ref):
            raise IngestionError(
                f"bronze/{config.table}: foreign key {rule.rule_name} needs table {ref}, which does not exist yet; "
                f"load {rule.references.table} first"
            )
        versions = store.read(ref, columns=[rule.references.column, EFFECTIVE_FROM, EFFECTIVE_TO])
        references[rule.rule_name] = versions.withColumnRenamed(rule.references.column, "key")
    return references


def quarantined_values(rows: DataFrame, limit: int) -> list[Column]:
    """How a rejected row's values are kept: as delivered, each cut to ``limit`` characters (``max_field_chars``)
    with its length recorded, so one runaway field cannot bloat the quarantine; the file keeps the whole value."""
    raw = [f"{RAW}.{field.name}" for field in rows.schema[RAW].dataType.fields]  # type: ignore[attr-defined]
    names = [*raw, *([RESCUED] if RESCUED in rows.columns else [])]
    kept = []
    for name in names:
        value, length = F.col(name), F.length(F.col(name))
        cut = F.concat(
            F.substring(value, 1, limit), F.lit("...[truncated: "), length.cast("string"), F.lit(" characters]")
        )
        kept.append(F.when(length > limit, cut).otherwise(value).alias(name.rsplit(".", 1)[-1]))
    return kept


def snapshot_reads(
    config: BronzeTableConfig, files: Sequence[LandingFile], log: FileLog
) -> tuple[list[LandingFile], date | None]:
    """The pending files a batch reads, and the extract date through which snapshots count as applied.

    Incremental feeds read every file. For a snapshot feed a date's newest delivery is its snapshot: an original
    and its ``_v<N>`` corrections in one batch read as the newest correction alone (the others are logged, with
    no rows). A correction of the latest applied date, newer than the delivery applied, is applied as that date's
    snapshot (keys it lacks close on that date); any other file dated on or before the latest applied snapshot is
    superseded and changes nothing.
    """
    applied = log.latest_applied
    if config.load_type != "snapshot":
        return list(files), applied
    newest = {file.extract_date: file for file in files}  # files come sorted by date, then revision
    read = [file for file in files if newest[file.extract_date] is file]
    corrects = False
    if applied is not None:
        pattern = config.source.file_regex(config.table)
        matches = [pattern.fullmatch(e.file_name) for e in log.entries.values() if e.extract_date == applied]
        done = max((int(m.group("revision") or 1) for m in matches if m), default=1)
        corrects = any(file.extract_date == applied and file.revision > done for file in read)
        applied = applied - timedelta(days=1) if corrects else applied
    for file in files:
        if file not in read or (applied is not None and file.extract_date <= applied):
            logger.warning(
                "%s: superseded by a newer snapshot or correction already applied or in this batch; it changes nothing",
                file.path,
            )
    return read, applied


Refusal = Callable[[DataFrame, GateCounts], None]


def refusals(*checks: Refusal) -> Refusal:
    """The gate's refusal hook running ``checks`` in order."""

    def refuse(checked: DataFrame, counts: GateCounts) -> None:
        for check in checks:
            check(checked, counts)

    return refuse


def refuse_changed(pending: Sequence[tuple[LandingFile, str]]) -> Refusal:
    """The gate's refusal of a batch whose files changed between their checksum and the read (still being written,
    or replaced): the rows read may not be the bytes the file log would record. Runs after the read."""

    def refuse(checked: DataFrame, counts: GateCounts) -> None:
        del checked, counts
        for file, checksum in pending:
            now = file.sha256()
            if now != checksum:
                raise IngestionError(
                    f"{file.path}: changed while the batch was read (sha256 {checksum[:12]}... when listed, "
                    f"{now[:12]}... after the read): still being written or replaced? Nothing of the batch was "
                    f"written; the next run reads the file again"
                )

    return refuse


def refuse_empty_snapshot(config: BronzeTableConfig, files: Mapping[str, str]) -> Refusal:
    """The gate's refusal of a snapshot file without rows: it would delete every key."""

    def refuse(checked: DataFrame, counts: GateCounts) -> None:
        del checked
        if config.load_type != "snapshot":
            return
        for name, path in files.items():
            if counts.per_file.get(name, (0, 0))[0] == 0:
                raise IngestionError(f"{path}: snapshot file has no rows; refusing to treat every key as deleted")

    return refuse


def ingest_table(
    spark: SparkSession,
    store: TableStore,
    scd2: Scd2Writer,
    config: BronzeTableConfig,
    landing: LandingZone,
    run: RunInfo,
    pii_readers_group: str | None = None,
) -> TableCounts:
    """Load every pending landing file of one bronze table up to ``run.as_of`` as one batch.

    Args:
        spark: the session that reads the files.
        store: the lake.
        scd2: writes the SCD2 changes into ``store`` (chosen with it by the runtime).
        config: the table's metadata.
        landing: where the files are.
        run: the run the batch belongs to.
        pii_readers_group: the group that sees PII unmasked, named when a PII column reads as masked.

    Returns:
        What the batch held and changed (nothing, when no file is pending).

    Raises:
        MaskedPiiError: a PII column of the table's current rows reads as masked; nothing was written.
        IngestionError: a file cannot be taken as a whole (bad header, changed content, empty snapshot).
        DataQualityError: a file fell under ``min_pass_rate``; nothing was written to the target.
    """
    target = TableRef("bronze", config.table)
    log = read_file_log(store, config.table)
    check_table_holds_log(store, target, log)
    now = datetime.now(timezone.utc)
    discovered = discover_files(landing, config, run.as_of)
    pending = pending_files(settled(discovered, landing, now), log.done)
    related = {name: read_file_log(store, name).latest_received for name in config.freshness.complete_with}
    pending, waiting = wait_for_related(pending, related)
    newest = max((d for d in [log.latest_received, *(f.extract_date for f, _ in pending)] if d), default=None)
    changed = [f.modified for f in discovered if f.modified is not None]
    hours = round((now - max(changed)).total_seconds() / 3600, 2) if changed else None
    freshness = TableCounts(newest_extract=newest, hours_since_newest_file=hours)
    try:
        warning = stale_input(config, run.as_of, newest, waiting)
    except StaleInputError as exc:
        exc.counts = freshness
        raise
    if not pending:
        logger.info("bronze.%s: no new files up to %s", config.table, run.as_of)
        return replace(freshness, warning=warning)
    files, applied_through = snapshot_reads(config, [file for file, _ in pending], log)
    batch_id = batch_id_for(config.table, [(f.name, checksum) for f, checksum in pending])
    ingested_at = datetime.now(timezone.utc).replace(tzinfo=None)
    logger.info("bronze.%s: batch %s with %d file(s)", config.table, batch_id, len(pending))
    pii = [c.name for c in config.columns if c.pii]
    if pii and store.exists(target):  # before anything is written: a masked read must not reach the table
        refuse_masked(store.read(target).where(F.col(IS_CURRENT)), pii, str(target), pii_readers_group)

    layouts = [file_layout(file, config) for file in files]
    rows = typed_rows(read_landing(spark, files, config, landing.staging, layouts), config)
    rows = with_fk_lookups(rows, config.quality.rules, _references(store, config), EXTRACT_DATE)
    spec = scd2_spec(config)
    # Audit columns and the row hash SCD2 compares, computed once: in local mode DuckDB reads the accepted rows
    # from the gate's checkpoint files as they are.
    rows = rows.withColumns(
        {BATCH_ID: F.lit(batch_id), INGESTED_AT: F.lit(ingested_at), ROW_HASH: row_hash(spec.compare_columns)}
    )
    by_name = {file.name: file.path for file in files}
    gate = Gate(
        table=target,
        checks=parse_checks(config) + checks_for(config.quality.rules),
        min_pass_rate=config.quality.min_pass_rate,
        batch_id=batch_id,
        run=run,
        at=ingested_at,
        quarantine_columns=quarantined_values(rows, config.source.options.max_field_chars),
        files=by_name,
        held_back="batch held back",
        refuse=refusals(refuse_empty_snapshot(config, by_name), refuse_changed(pending)),
    )
    try:
        with gated_write(store, rows, gate) as batch:
            fault_point("after_quarantine", str(target))
            presence = batch.checked.select(*config.primary_key, EXTRACT_DATE).dropna() if spec.snapshot else None
            by_change = scd2.apply(
                target, batch.accepted, spec, presence, applied_through, config.partition_by, batch.accepted_files
            )
    except Exception as exc:  # the files are parsed here first: a record the CSV reader refuses names its file
        failure = read_failure(exc, list(by_name.values()), config.source.options)
        if failure is exc:
            raise
        raise failure from exc
    fault_point("after_target_merge", str(target))
    log_batch(store, config.table, pending, batch.counts, batch_id, run, ingested_at, table_version(store, target))
    return batch.counts.table_counts(
        files=len(pending),
        batch_id=batch_id,
        new_versions=by_change.get("insert", 0),
        closed_versions=by_change.get("close", 0),
        warning=warning,
        newest_extract=newest,
        hours_since_newest_file=hours,
    )
