"""Metadata of one bronze table: where its landing files are, how to read them, and how to historise them."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from paylake.config.base import ColumnConfig, StrictModel
from paylake.config.identifiers import Identifier, RelativePath
from paylake.config.quality import QualityConfig
from paylake.contract import RESERVED_COLUMNS

# Columns paylake adds to bronze tables; user columns may not take these names.
_DATE_FORMATS = {"%Y%m%d": r"\d{8}", "%Y-%m-%d": r"\d{4}-\d{2}-\d{2}"}


class CsvOptions(StrictModel):
    """How the landing CSV files are written. Files always carry a header row.

    Attributes:
        max_field_chars: a row with a longer value is quarantined (``oversized_field``), so one runaway field
            cannot bloat the table and everything downstream of it.
        max_fields: the most fields a record may have. A record with more fields than its header, up to this
            many, is quarantined (``malformed_row``); the CSV reader cannot read past it, so a longer one fails
            the file naming it (set it aside with ``paylake skip``, or raise the limit).
        sequence_tolerance_hours: how far past the end of its file's extract date a sequence value may lie (clock
            skew of the source); a later one is quarantined (``future_<sequence column>``).
    """

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    escape: str = Field(default='"', min_length=1, max_length=1)
    encoding: Literal["UTF-8"] = "UTF-8"
    null_value: str = ""
    max_field_chars: int = Field(default=65_536, ge=1)
    max_fields: int = Field(default=100_000, ge=2, le=10_000_000)
    sequence_tolerance_hours: int = Field(default=0, ge=0, le=720)


class SourceConfig(StrictModel):
    """Where a table's files land: ``<landing_root>/<path>/<file_name>`` with ``{date}`` the extract date."""

    path: RelativePath | None = None
    file_name: str = "{table}_{date}.csv"
    date_format: Literal["%Y%m%d", "%Y-%m-%d"] = "%Y%m%d"
    format: Literal["csv"] = "csv"
    options: CsvOptions = Field(default_factory=CsvOptions)

    @field_validator("file_name")
    @classmethod
    def _one_date_placeholder(cls, value: str) -> str:
        if value.count("{date}") != 1:
            raise ValueError("file_name must contain the placeholder {date} exactly once")
        if not re.fullmatch(r"[A-Za-z0-9_.\-{}]+", value):
            raise ValueError("file_name may only use A-Z, a-z, 0-9, _, -, . and the placeholders {table} and {date}")
        return value

    def file_regex(self, table: str) -> re.Pattern[str]:
        """Regex that matches this source's file names and captures the extract date as ``date``, and the revision
        of a corrected delivery (``_v<N>`` right after the date, N >= 2) as ``revision``."""
        literal = re.escape(self.file_name.replace("{table}", table)).replace(r"\{date\}", "{date}")
        date_part = f"(?P<date>{_DATE_FORMATS[self.date_format]})(?:_v(?P<revision>[2-9]|[1-9][0-9]+))?"
        return re.compile(literal.replace("{date}", date_part))


class ScdConfig(StrictModel):
    """SCD Type 2 settings: only changes to ``compare_columns`` open a new version."""

    compare_columns: list[Identifier] = Field(min_length=1)


class RetentionConfig(StrictModel):
    """How long closed SCD2 versions stay in the table before ``paylake maintain`` moves them to the archive.

    Attributes:
        archive_after_days: versions closed more than this many days before the maintenance date move to
            ``bronze.<table>_archive``. Current rows and each key's latest version always stay. At most 100
            years (36,500 days): a longer retention is no retention, and a date that far back does not exist.
    """

    archive_after_days: int = Field(ge=1, le=36_500)


class FreshnessConfig(StrictModel):
    """What must have arrived for a run's business date (``as_of``).

    Attributes:
        expected: ``daily``: a file for every extract date, so the newest extract received must be at most
            ``max_lag_days`` before ``as_of``; ``any``: no expectation (a feed that comes when it comes).
        max_lag_days: how many days the newest extract may lag ``as_of``.
        on_stale: ``fail``: the table fails naming the missing date and the newest received, nothing of it loads,
            and silver and gold are not built on it; ``warn``: it loads what arrived, with a WARNING in the summary
            and in ``ops.pipeline_runs``, and the silver and gold rows built on it name it in ``stale_inputs``.
        complete_with: feeds that must have delivered a file's extract date before the file loads (completeness
            across related feeds): an invoice line waits for its invoice's day, so a late invoices file does not
            send the day's lines to quarantine as orphans. A waiting file is not received yet, for freshness.
    """

    expected: Literal["daily", "any"] = "any"
    max_lag_days: int = Field(default=0, ge=0, le=366)
    on_stale: Literal["fail", "warn"] = "fail"
    complete_with: list[Identifier] = Field(default_factory=list)


class BronzeTableConfig(StrictModel):
    """A landing feed historised into a bronze Delta table with SCD Type 2.

    Files are matched to ``columns`` by header name, in any order (schema drift policy):

    * a declared column missing from a file is null for its rows, unless it is required (primary key, sequence
      column or ``nullable: false``): then the batch fails naming the file and the column;
    * ``on_new_columns`` says what happens to columns a file has and the metadata does not declare: ``rescue``
      (default) keeps their values per row as a JSON object in ``_rescued_data``, ``ignore`` drops them with a
      warning, ``fail`` fails the batch naming them;
    * a value that does not fit its declared type is rejected per row (``malformed_<column>``), never per file.
    """

    table: Identifier
    description: str | None = None
    load_type: Literal["snapshot", "incremental"]
    primary_key: list[Identifier] = Field(min_length=1)
    sequence_column: Identifier
    columns: list[ColumnConfig] = Field(min_length=1)
    scd: ScdConfig
    partition_by: list[Identifier] = Field(default_factory=list)
    cluster_by: list[Identifier] = Field(default_factory=list)
    depends_on: list[Identifier] = Field(default_factory=list)
    source: SourceConfig = Field(default_factory=SourceConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    retention: RetentionConfig | None = None
    freshness: FreshnessConfig = Field(default_factory=FreshnessConfig)
    on_new_columns: Literal["fail", "ignore", "rescue"] = "rescue"

    @property
    def column_names(self) -> list[str]:
        """Declared column names in file order."""
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """Columns every row must have: primary key, sequence column and ``nullable: false`` columns."""
        return list(
            dict.fromkeys([*self.primary_key, self.sequence_column, *[c.name for c in self.columns if not c.nullable]])
        )

    @property
    def source_path(self) -> str:
        """Folder of the landing files relative to the landing root."""
        return self.source.path or self.table

    def dependencies(self) -> set[str]:
        """Bronze tables that must be loaded first: ``depends_on``, every foreign key's table and the feeds it is
        ``complete_with``."""
        referenced = {rule.references.table for rule in self.quality.rules if rule.type == "foreign_key"}
        return (set(self.depends_on) | referenced | set(self.freshness.complete_with)) - {self.table}

    def semantic_issues(self) -> list[tuple[str, str]]:
        """Cross-field problems as ``(key.path, reason)``: unknown columns, reserved names, bad sequence type."""
        issues: list[tuple[str, str]] = []
        names = self.column_names
        known = set(names)
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                issues.append((f"columns[{index}].name", f"duplicate column {name!r}"))
            if name in RESERVED_COLUMNS:
                issues.append((f"columns[{index}].name", f"{name!r} is reserved for paylake bookkeeping"))
            seen.add(name)

        def check(key: str, column: str) -> None:
            if column not in known:
                issues.append((key, f"unknown column {column!r}; declared columns: {', '.join(names)}"))

        for index, column in enumerate(self.primary_key):
            check(f"primary_key[{index}]", column)
        check("sequence_column", self.sequence_column)
        for index, column in enumerate(self.scd.compare_columns):
            check(f"scd.compare_columns[{index}]", column)
        tracked = set(self.scd.compare_columns) | set(self.primary_key)
        for index, column in enumerate(self.partition_by):
            check(f"partition_by[{index}]", column)
            if column in known and column not in tracked:
                # An untracked column is refreshed in place; a new value would move the row to another partition.
                issues.append((f"partition_by[{index}]", f"{column!r} must be in scd.compare_columns or primary_key"))
        for index, column in enumerate(self.cluster_by):
            check(f"cluster_by[{index}]", column)
            if column in self.partition_by:
                issues.append((f"cluster_by[{index}]", f"{column!r} is a partition column; files never mix its values"))
        for index, rule in enumerate(self.quality.rules):
            for column in rule.columns_used():
                check(f"quality.rules[{index}].column", column)
        sequence = next((c for c in self.columns if c.name == self.sequence_column), None)
        if sequence is not None and sequence.type not in {"timestamp", "date"}:
            issues.append(("sequence_column", f"{self.sequence_column!r} must be a timestamp or date column"))
        rule_names = [rule.rule_name for rule in self.quality.rules]
        for index, name in enumerate(rule_names):
            if rule_names.index(name) != index:
                issues.append((f"quality.rules[{index}].name", f"duplicate rule name {name!r}"))
        return issues
