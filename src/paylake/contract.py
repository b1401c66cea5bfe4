"""The table contract: every name and shape paylake gives the tables it writes, in one place.

The layers and how a table is named in the lake; the bookkeeping columns paylake adds to rows (lineage, SCD2,
data quality, derived builds); the quarantine and archive tables beside a table; and the operational tables with
their schemas. Ingestion, builds, the stores, the Unity Catalog set-up and the analyst tools all import these
names from here, so what the set-up declares is what the pipeline writes.

User columns are identifiers that start with a letter; every bookkeeping column paylake adds starts with an
underscore or is one of the SCD2 columns, which a bronze table may not declare (:data:`RESERVED_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from paylake.config.identifiers import check_identifier

# --- Layers -------------------------------------------------------------------------------------------------

Layer = Literal["bronze", "silver", "gold", "ops"]
PipelineLayer = Literal["bronze", "silver", "gold"]
DerivedLayer = Literal["silver", "gold"]
PIPELINE_LAYERS: tuple[PipelineLayer, ...] = ("bronze", "silver", "gold")  # run order
DERIVED_LAYERS: tuple[DerivedLayer, ...] = ("silver", "gold")
LAKE_LAYERS: tuple[Layer, ...] = (*PIPELINE_LAYERS, "ops")  # every schema of the lake


@dataclass(frozen=True)
class TableRef:
    """A lake table: its layer and name. Names are validated identifiers, safe in paths and SQL.

    Locally a table lives at ``<lake root>/<layer>/<name>`` (:meth:`path`); on Databricks it is
    ``<catalog>.<schema of layer>.<name>``."""

    layer: Layer
    name: str

    def __post_init__(self) -> None:
        check_identifier(self.name)

    def __str__(self) -> str:
        return f"{self.layer}.{self.name}"

    def path(self, lake_root: str) -> str:
        """Where the table's files are under ``lake_root`` (a folder or ``s3://`` prefix)."""
        return f"{lake_root.rstrip('/')}/{self.layer}/{self.name}"

    @property
    def quarantine(self) -> TableRef:
        """The table holding the rows its data-quality gate rejected."""
        return TableRef(self.layer, f"{self.name}{QUARANTINE_SUFFIX}")

    @property
    def archive(self) -> TableRef:
        """The table holding the SCD2 versions moved out by retention (bronze)."""
        return TableRef(self.layer, f"{self.name}{ARCHIVE_SUFFIX}")


QUARANTINE_SUFFIX, ARCHIVE_SUFFIX = "_quarantine", "_archive"

# --- Columns paylake adds -----------------------------------------------------------------------------------

# Lineage: where a row came from and which batch wrote it.
SOURCE_FILE = "_source_file"  # landing file name
SOURCE_ROW = "_source_row"  # 1-based data row number within that file
EXTRACT_DATE = "_extract_date"  # extract date from the file name
BATCH_ID = "_batch_id"  # deterministic id of the batch that wrote the row
INGESTED_AT = "_ingested_at"  # audit timestamp (wall clock), never used by business logic
RESCUED = "_rescued_data"  # undeclared columns of a file, kept per row as JSON (on_new_columns: rescue)

# SCD Type 2.
EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH = (
    "effective_from",
    "effective_to",
    "is_current",
    "record_version",
    "row_hash",
)
SCD2_COLUMNS = (EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH)
RESERVED_COLUMNS = (*SCD2_COLUMNS, RESCUED)  # a bronze table may not declare these

# Data quality: the gate's verdict on a row. A row is rejected when REJECTS is not empty.
REJECTS = "_dq_rejects"  # names of the failed reject rules (while gating)
REASONS = "_dq_reasons"  # one readable reason per rejection (while gating)
FLAGS = "_dq_flags"  # names of the failed flag rules; stored with every accepted row
ACCEPTED = "_dq_accepted"  # kept while a batch is written, to split it; never stored
DQ_RULES, DQ_REASON, QUARANTINED_AT = "_dq_rules", "_dq_reason", "_quarantined_at"  # quarantine columns

# Derived (silver, gold) tables.
AS_OF = "as_of"  # the business date a row was built for
STALE_INPUTS = "stale_inputs"  # the bronze feeds a row was built from that were stale on its business date
SCORE_DATE = "score_date"  # the business date of a risk score (gold scores and dashboard tables)
BUILT_AT = "_built_at"  # audit timestamp of the build

# Spark SQL types of the bookkeeping columns, as the pipeline writes them.
BOOKKEEPING_TYPES: dict[str, str] = {
    SOURCE_FILE: "string",
    SOURCE_ROW: "int",
    EXTRACT_DATE: "date",
    BATCH_ID: "string",
    INGESTED_AT: "timestamp",
    RESCUED: "string",
    EFFECTIVE_FROM: "timestamp",
    EFFECTIVE_TO: "timestamp",
    IS_CURRENT: "boolean",
    RECORD_VERSION: "int",
    ROW_HASH: "string",
    FLAGS: "array<string>",
    DQ_RULES: "array<string>",
    DQ_REASON: "string",
    QUARANTINED_AT: "timestamp",
    AS_OF: "date",
    STALE_INPUTS: "string",
    BUILT_AT: "timestamp",
}

# A bronze row: the declared columns (and the rescued ones), then these, then the SCD2 columns.
BRONZE_AUDIT = (FLAGS, BATCH_ID, SOURCE_FILE, INGESTED_AT)


def delivered_columns(declared: Sequence[str], rescue: bool) -> tuple[str, ...]:
    """The columns of a bronze feed as delivered: the declared ones, and the rescued undeclared ones."""
    return (*declared, *((RESCUED,) if rescue else ()))


def bronze_row_columns(declared: Sequence[str], rescue: bool) -> tuple[str, ...]:
    """The columns of a bronze version row besides the SCD2 columns, in table order."""
    return (*delivered_columns(declared, rescue), *BRONZE_AUDIT)


# What a quarantine row carries after the rejected values: why, and (bronze) where from.
BRONZE_QUARANTINE_TAIL = (DQ_RULES, DQ_REASON, SOURCE_FILE, SOURCE_ROW, EXTRACT_DATE, BATCH_ID, QUARANTINED_AT)
DERIVED_QUARANTINE_TAIL = (DQ_RULES, DQ_REASON, QUARANTINED_AT)
DERIVED_TAIL = (AS_OF, STALE_INPUTS, FLAGS, BUILT_AT)  # after a builder's own columns

# --- Operational tables -------------------------------------------------------------------------------------

INGESTED_FILES = TableRef("ops", "ingested_files")
DQ_METRICS = TableRef("ops", "dq_metrics")
PIPELINE_RUNS = TableRef("ops", "pipeline_runs")
BACKTEST_RESULTS = TableRef("ops", "backtest_results")

OPS_SCHEMAS: dict[TableRef, str] = {
    INGESTED_FILES: (
        "table string, file_name string, file_path string, extract_date date, size_bytes bigint, sha256 string, "
        "batch_id string, rows_read bigint, rows_loaded bigint, rows_rejected bigint, run_id string, "
        "ingested_at timestamp, table_version bigint, action string, note string"
    ),
    DQ_METRICS: (
        "run_id string, batch_id string, layer string, table string, rule string, rule_type string, "
        "action string, rows_checked bigint, rows_failed bigint, pass_rate double, as_of date, recorded_at timestamp"
    ),
    PIPELINE_RUNS: (
        "run_id string, layer string, table string, status string, as_of date, environment string, "
        "started_at timestamp, finished_at timestamp, seconds double, files bigint, rows_read bigint, "
        "rows_loaded bigint, rows_rejected bigint, rows_flagged bigint, new_versions bigint, closed_versions bigint, "
        "batch_id string, error string, newest_extract date, hours_since_newest_file double"
    ),
    BACKTEST_RESULTS: (
        "run_id string, model string, evaluated_on string, from_date date, to_date date, horizon_days int, "
        "step_days int, lake_latest_date date, score_dates int, observations bigint, positives bigint, auc double, "
        "ks double, tiers_monotonic boolean, "
        "tiers array<struct<tier:string,observations:bigint,late_rate:double>>, "
        "calibration array<struct<band:string,observations:bigint,avg_score:double,late_rate:double>>, "
        "created_at timestamp, brier double, "
        "deciles array<struct<decile:int,observations:bigint,predicted:double,late_rate:double>>, "
        "quiet_pairs bigint, quiet_tier_change_share double, quiet_median_abs_score_change double"
    ),
}
OPS_TABLES = frozenset(ref.name for ref in OPS_SCHEMAS)
