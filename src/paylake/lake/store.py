"""The storage seam: every Delta read and write goes through :class:`TableStore`.

Spark does the transformations; a store only moves DataFrames in and out of Delta tables. The local store uses
delta-rs (no Delta jars needed), the Databricks store the runtime's native Delta. Both take the same
:class:`MergeSpec` (rendered as delta-rs' merge builder or Spark's ``MERGE INTO``), so a merge is specified once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from paylake.config.identifiers import check_identifier
from paylake.contract import TableRef

FilterValue = str | int | float | bool | date | datetime
# A conjunction of simple predicates, e.g. [("is_current", "=", True)]; both engines can push these down.
Filters = Sequence[tuple[str, str, FilterValue]]
_FILTER_OPS = {"=", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class MergeSpec:
    """A MERGE with target alias ``t`` and source alias ``s``.

    Attributes:
        predicate: join condition, e.g. ``t.id = s.id AND t.record_version = s.record_version``.
        update: target column -> SQL expression, applied to matched rows (``WHEN MATCHED THEN UPDATE SET``).
        matched_condition: optional extra condition for the update clause.
        insert_all: insert every source column for unmatched source rows.
    """

    predicate: str
    update: Mapping[str, str] = field(default_factory=dict)
    matched_condition: str | None = None
    insert_all: bool = True


@dataclass(frozen=True)
class Compaction:
    """What compacting one table did: its number of data files before and after."""

    files_before: int
    files_after: int


def sql_literal(value: FilterValue) -> str:
    """Render a value as a SQL literal understood by Spark SQL and delta-rs (DataFusion) alike."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def filters_sql(filters: Filters) -> str:
    """Render filters as a SQL conjunction (column names are validated identifiers)."""
    parts = []
    for column, op, value in filters:
        check_identifier(column)
        if op not in _FILTER_OPS:
            raise ValueError(f"unsupported filter operator {op!r}")
        parts.append(f"{column} {op} {sql_literal(value)}")
    return " AND ".join(parts) or "true"


class TableStore(ABC):
    """Reads and writes lake tables. Implementations are chosen by the environment's ``engine``."""

    @abstractmethod
    def exists(self, ref: TableRef) -> bool:
        """Whether the table exists."""

    @abstractmethod
    def read(self, ref: TableRef, filters: Filters = (), columns: Sequence[str] | None = None) -> DataFrame:
        """The table's rows matching ``filters`` (and only ``columns``, if given) as a Spark DataFrame.

        Raises:
            TableStoreError: the table does not exist.
        """

    def read_rows(
        self, ref: TableRef, filters: Filters = (), columns: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        """A small result of :meth:`read` as Python rows (column name -> value), e.g. a file log."""
        return [row.asDict() for row in self.read(ref, filters, columns).collect()]

    @contextmanager
    def checkpoint(
        self, df: DataFrame, split: str, totals: Sequence[Column] = ()
    ) -> Iterator[tuple[DataFrame, ds.Dataset | None, Row | None]]:
        """``df`` computed once for the several reads that follow; the rows where its boolean column ``split`` is
        true as Parquet files an Arrow reader can take as they are, when the store has them (else None); and the
        aggregate columns ``totals`` over all of ``df`` as one row (None without ``totals``).

        Here Spark persists ``df`` and computes ``totals`` over the persisted rows (the job that fills the
        cache); the local store writes ``df`` to Parquet instead and observes ``totals`` while it writes
        (:func:`delta_rs.staged_split`).
        """
        persisted = df.persist()
        try:
            yield persisted, None, persisted.agg(*totals).collect()[0] if totals else None
        finally:
            persisted.unpersist()

    def read_keys(self, ref: TableRef, keys: DataFrame, filters: Filters = ()) -> DataFrame:
        """The rows matching ``filters`` whose values in ``keys``' columns appear in ``keys``.

        A daily increment touches a small share of a large table; reading only its keys keeps the work
        proportional to the increment. The default is a broadcast semi-join (Spark prunes with it on Delta).
        """
        wanted = F.broadcast(keys.distinct())
        return self.read(ref, filters).join(wanted, list(keys.columns), "left_semi")

    @abstractmethod
    def append(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        """Append rows, creating the table (also when ``df`` is empty) if needed; columns new to an existing table
        are added to its schema (earlier rows read them as null)."""

    @abstractmethod
    def replace_where(self, ref: TableRef, df: DataFrame, predicate: str, partition_by: Sequence[str] = ()) -> None:
        """Atomically replace the rows matching ``predicate`` with ``df`` (one commit); creates the table.

        New columns of ``df`` are added to the table's schema (earlier rows read them as null), so a history
        table survives a change of its builder's output, e.g. a feature added to the scorecard.
        """

    @abstractmethod
    def overwrite(self, ref: TableRef, df: DataFrame, partition_by: Sequence[str] = ()) -> None:
        """Replace the whole table, data and schema, with ``df`` in one commit; creates the table."""

    def replace(
        self,
        ref: TableRef,
        rows: DataFrame,
        predicate: str | None = None,
        partition_by: Sequence[str] = (),
        files: ds.Dataset | None = None,
    ) -> None:
        """Replace the table with ``rows`` (:meth:`overwrite`), or the rows matching ``predicate`` (replace_where).

        ``files``, when given, hold ``rows`` as Parquet with at least its columns (a :meth:`checkpoint`'s split
        files). A store that writes Arrow takes them as they are instead of running ``rows`` again; here Spark
        writes ``rows``.
        """
        if predicate is None:
            self.overwrite(ref, rows, partition_by)
        else:
            self.replace_where(ref, rows, predicate, partition_by)

    @abstractmethod
    def put_rows(self, ref: TableRef, rows: pa.Table, predicate: str | None = None) -> None:
        """Append a few rows built in Python (:func:`paylake.frames.arrow_rows`: the run log, the file log,
        metrics) or, with ``predicate``, replace the rows matching it with them (one commit); creates the table.
        A store that writes Arrow writes them as they are, without a Spark job."""

    @abstractmethod
    def merge(self, ref: TableRef, source: DataFrame, spec: MergeSpec, partition_by: Sequence[str] = ()) -> None:
        """MERGE ``source`` into the table in one commit, creating it empty first if needed."""

    @abstractmethod
    def history(self, ref: TableRef, limit: int | None = None) -> list[dict[str, object]]:
        """The table's commit history, newest first; each entry has at least ``version`` and ``operation``."""

    @abstractmethod
    def restore(self, ref: TableRef, version: int) -> None:
        """Restore the table's content to an earlier version, as a new commit (history is kept)."""

    @abstractmethod
    def compact(self, ref: TableRef, cluster_by: Sequence[str] = ()) -> Compaction:
        """Rewrite the table's small files into few large ones, in one commit that changes no row (Delta's
        ``OPTIMIZE``); with ``cluster_by``, Z-ordered by those columns, so filters on them skip files. The files
        replaced stay for time travel until a vacuum."""

    @abstractmethod
    def vacuum(self, ref: TableRef, retention_hours: int) -> int:
        """Delete data files no version younger than ``retention_hours`` references; returns how many.

        Time travel to versions older than the retention stops working; the current content never changes.
        """
