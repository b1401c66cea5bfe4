"""Ingest one bronze table: pending files -> typed rows -> data-quality gate -> SCD2 merge -> file log.

Each write is idempotent for the batch, so a crash at any step followed by a re-run converges to the same
tables: quarantine rows are replaced per source file, metrics per batch, SCD2 recomputes against the current
rows (already-applied events are stale or unchanged), and the file log is written last.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from paylake.bronze.landing import (
    RAW,
    RESCUED,
    LandingFile,
    LandingZone,
    discover_files,
    file_layout,
    parse_checks,
    read_landing,
    typed_rows,
)
from paylake.bronze.scd2 import EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, ROW_HASH, Scd2Spec, row_hash
from paylake.bronze.scd2_writers import Scd2Writer
from paylake.config.bronze import BronzeTableConfig
from paylake.config.quality import ForeignKeyRule
from paylake.errors import DataQualityError, IngestionError
from paylake.faults import fault_point
from paylake.lake.store import TableRef, TableStore, sql_literal
from paylake.lineage import BATCH_ID, EXTRACT_DATE, INGESTED_AT, SOURCE_FILE, SOURCE_ROW
from paylake.orchestration.results import TableResult
from paylake.pii import refuse_masked
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
    with_fk_lookups,
)
from paylake.quality.metrics import write_dq_metrics
from paylake.runtime.spark import rows_frame

logger = logging.getLogger(__name__)

INGESTED_FILES = TableRef("ops", "ingested_files")
INGESTED_FILES_SCHEMA = (
    "table string, file_name string, file_path string, extract_date date, size_bytes bigint, sha256 string, "
    "batch_id string, rows_read bigint, rows_loaded bigint, rows_rejected bigint, run_id string, ingested_at timestamp"
)


@dataclass(frozen=True)
class RunInfo:
    """Identity of the run a batch belongs to."""

    run_id: str
    as_of: date
    started_at: datetime


def scd2_spec(config: BronzeTableConfig) -> Scd2Spec:
    """The SCD2 settings of a bronze table; versions carry data, flags and audit columns."""
    return Scd2Spec(
        keys=tuple(config.primary_key),
        compare_columns=tuple(config.scd.compare_columns),
        sequence_column=config.sequence_column,
        columns=(*config.column_names, *rescued_columns(config), FLAGS, BATCH_ID, SOURCE_FILE, INGESTED_AT),
        snapshot=config.load_type == "snapshot",
    )


def rescued_columns(config: BronzeTableConfig) -> tuple[str, ...]:
    """``_rescued_data`` for a table that rescues undeclared columns."""
    return (RESCUED,) if config.on_new_columns == "rescue" else ()


def batch_id_for(table: str, files: Sequence[tuple[str, str]]) -> str:
    """Deterministic batch id from the table and its files' names and checksums: a retry reuses it."""
    digest = hashlib.sha256(table.encode())
    for name, checksum in sorted(files):
        digest.update(f"|{name}:{checksum}".encode())
    return digest.hexdigest()[:16]


def pending_files(files: Sequence[LandingFile], ingested: Mapping[str, str]) -> list[tuple[LandingFile, str]]:
    """Discovered files not yet ingested, with their checksums.

    Args:
        files: discovered landing files.
        ingested: file name -> sha256 of every file already ingested for the table.

    Raises:
        IngestionError: a file was ingested before under the same name with other content.
    """
    pending = []
    for file in files:
        checksum = file.sha256()
        previous = ingested.get(file.name)
        if previous is None:
            pending.append((file, checksum))
        elif previous != checksum:
            raise IngestionError(
                f"{file.path}: a file of this name was already ingested with sha256 {previous[:12]}..., "
                f"the file now has {checksum[:12]}...; deliver corrections under a new file name"
            )
    return pending


def quarantine_rows(checked: DataFrame, batch_id: str, ingested_at: datetime) -> DataFrame:
    """Rejected rows as delivered (all values as text), with the rules they failed and why."""
    rescued = [RESCUED] if RESCUED in checked.columns else []
    return checked.where(is_rejected()).select(
        f"{RAW}.*",
        *rescued,
        F.col(REJECTS).alias("_dq_rules"),
        F.array_join(REASONS, "; ").alias("_dq_reason"),
        SOURCE_FILE,
        SOURCE_ROW,
        EXTRACT_DATE,
        F.lit(batch_id).alias(BATCH_ID),
        F.lit(ingested_at).alias("_quarantined_at"),
    )


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


@dataclass(frozen=True)
class IngestedFiles:
    """What the file log knows of a table: each ingested file's checksum, and the latest extract date."""

    checksums: Mapping[str, str]
    latest_extract: date | None


def ingested_files(store: TableStore, table: str) -> IngestedFiles:
    """Read ``ops.ingested_files`` for one table."""
    if not store.exists(INGESTED_FILES):
        return IngestedFiles({}, None)
    columns = ["file_name", "sha256", "extract_date"]
    rows = store.read_rows(INGESTED_FILES, filters=[("table", "=", table)], columns=columns)
    return IngestedFiles(
        {r["file_name"]: r["sha256"] for r in rows}, max((r["extract_date"] for r in rows), default=None)
    )


@dataclass(frozen=True)
class BatchCounts:
    """Gate outcome of a batch: ``per_file`` maps a file name to (rows read, rows rejected); ``flagged`` counts
    loaded rows that carry flags."""

    per_file: Mapping[str, tuple[int, int]]
    failures: Sequence[Row]
    flagged: int

    @property
    def read(self) -> int:
        return sum(read for read, _ in self.per_file.values())

    @property
    def rejected(self) -> int:
        return sum(rejected for _, rejected in self.per_file.values())


def count_batch(checked: DataFrame, checks: Sequence[CheckSpec]) -> BatchCounts:
    """The gate's per-file and per-rule counts, in one Spark job (a small result: one row per file)."""
    stats = (
        checked.groupBy(SOURCE_FILE)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(is_rejected().cast("long")).alias("rejected"),
            F.sum((~is_rejected() & (F.size(FLAGS) > 0)).cast("long")).alias("flagged"),  # loaded rows with flags
            *failure_counts(checks),
        )
        .collect()
    )
    per_file = {row[SOURCE_FILE]: (row["rows"], row["rejected"]) for row in stats}
    return BatchCounts(per_file, failure_rows(checks, stats), sum(row["flagged"] for row in stats))


def check_batch(config: BronzeTableConfig, files: Sequence[LandingFile], counts: BatchCounts) -> None:
    """Refuse a batch that may not be loaded.

    Raises:
        IngestionError: a snapshot file has no rows (it would delete every key).
        DataQualityError: a file's pass rate is under ``min_pass_rate``.
    """
    threshold = config.quality.min_pass_rate
    for file in files:
        read, rejected = counts.per_file.get(file.name, (0, 0))
        if read == 0 and config.load_type == "snapshot":
            raise IngestionError(f"{file.path}: snapshot file has no rows; refusing to treat every key as deleted")
        rate = 1 - rejected / read if read else 1.0
        if rate < threshold:
            raise DataQualityError(
                f"Data quality check failed: {rate:.0%} pass rate (threshold {threshold:.0%}) in {file.path}; "
                f"batch held back, rejected rows are in bronze.{config.table}_quarantine"
            )


def ingest_table(
    spark: SparkSession,
    store: TableStore,
    scd2: Scd2Writer,
    config: BronzeTableConfig,
    landing: LandingZone,
    run: RunInfo,
    result: TableResult | None = None,
    pii_readers_group: str | None = None,
) -> TableResult:
    """Load every pending landing file of one bronze table up to ``run.as_of`` as one batch.

    Args:
        spark: the session that reads the files.
        store: the lake.
        scd2: writes the SCD2 changes into ``store`` (chosen with it by the runtime).
        config: the table's metadata.
        landing: where the files are.
        run: the run the batch belongs to.
        result: filled in as the batch goes, so counts survive a failure.
        pii_readers_group: the group that sees PII unmasked, named when a PII column reads as masked.

    Raises:
        MaskedPiiError: a PII column of the table's current rows reads as masked; nothing was written.
        IngestionError: a file cannot be taken as a whole (bad header, changed content, empty snapshot).
        DataQualityError: a file fell under ``min_pass_rate``; nothing was written to the target.
    """
    result = result or TableResult(config.table)
    log = ingested_files(store, config.table)
    pending = pending_files(discover_files(landing, config, run.as_of), log.checksums)
    if not pending:
        logger.info("bronze.%s: no new files up to %s", config.table, run.as_of)
        return result
    files = [file for file, _ in pending]
    layouts = [file_layout(file, config) for file in files]
    for file in files:
        if config.load_type == "snapshot" and log.latest_extract and file.extract_date <= log.latest_extract:
            logger.warning(
                "%s: not newer than the latest applied snapshot (%s); superseded, it changes nothing",
                file.path,
                log.latest_extract,
            )
    batch_id = batch_id_for(config.table, [(f.name, checksum) for f, checksum in pending])
    ingested_at = datetime.now(timezone.utc).replace(tzinfo=None)
    result.files, result.batch_id = len(files), batch_id
    logger.info("bronze.%s: batch %s with %d file(s)", config.table, batch_id, len(files))
    target = TableRef("bronze", config.table)
    pii = [c.name for c in config.columns if c.pii]
    if pii and store.exists(target):  # before anything is written: a masked read must not reach the table
        refuse_masked(store.read(target).where(F.col(IS_CURRENT)), pii, f"bronze.{config.table}", pii_readers_group)

    rows = typed_rows(read_landing(spark, files, config, landing.staging, layouts), config)
    rows = with_fk_lookups(rows, config.quality.rules, _references(store, config), EXTRACT_DATE)
    checks = parse_checks(config) + checks_for(config.quality.rules)
    spec = scd2_spec(config)
    # Verdicts, audit columns and the row hash SCD2 compares, computed once: in local mode DuckDB reads the
    # accepted rows from the checkpoint's files as they are (a persisted batch was built twice: the cache, then
    # the files handed to DuckDB).
    verdicts = apply_checks(rows, checks).withColumns(
        {
            BATCH_ID: F.lit(batch_id),
            INGESTED_AT: F.lit(ingested_at),
            ROW_HASH: row_hash(spec.compare_columns),
            ACCEPTED: ~is_rejected(),
        }
    )
    with store.checkpoint(verdicts, ACCEPTED) as (checked, accepted_files):
        counts = count_batch(checked, checks)
        result.rows_read, result.rows_rejected, result.rows_flagged = counts.read, counts.rejected, counts.flagged
        result.rows_loaded = counts.read - counts.rejected
        result.failures_by_rule = {row["rule"]: row["rows_failed"] for row in counts.failures if row["rows_failed"]}
        # Quarantine and metrics are written even for a held-back batch, so an operator can see why.
        names = ", ".join(sql_literal(f.name) for f in files)
        rejected = quarantine_rows(checked.where(~F.col(ACCEPTED)), batch_id, ingested_at)  # reads the rejected files
        store.replace_where(quarantine_ref(config.table), rejected, f"{SOURCE_FILE} IN ({names})")
        write_dq_metrics(
            spark, store, "bronze", config.table, counts.failures, batch_id, run.run_id, run.as_of, ingested_at
        )
        check_batch(config, files, counts)
        fault_point("after_quarantine", f"bronze.{config.table}")

        accepted = checked.where(F.col(ACCEPTED))
        presence = checked.select(*config.primary_key, EXTRACT_DATE).dropna() if spec.snapshot else None
        by_change = scd2.apply(
            target, accepted, spec, presence, log.latest_extract, config.partition_by, accepted_files
        )
        result.new_versions, result.closed_versions = by_change.get("insert", 0), by_change.get("close", 0)
    fault_point("after_target_merge", f"bronze.{config.table}")
    _log_files(spark, store, config.table, pending, counts, batch_id, run, ingested_at)
    return result


def quarantine_ref(table: str) -> TableRef:
    """Where a bronze table's rejected rows go."""
    return TableRef("bronze", f"{table}_quarantine")


def _log_files(
    spark: SparkSession,
    store: TableStore,
    table: str,
    pending: Sequence[tuple[LandingFile, str]],
    counts: BatchCounts,
    batch_id: str,
    run: RunInfo,
    at: datetime,
) -> None:
    rows = []
    for file, checksum in pending:
        read, rejected = counts.per_file.get(file.name, (0, 0))
        rows.append(
            (
                table,
                file.name,
                file.path,
                file.extract_date,
                file.size_bytes,
                checksum,
                batch_id,
                read,
                read - rejected,
                rejected,
                run.run_id,
                at,
            )
        )
    store.append(INGESTED_FILES, rows_frame(spark, rows, INGESTED_FILES_SCHEMA))
