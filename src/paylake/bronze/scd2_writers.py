"""The SCD2 seam: what applies a gated batch to a bronze table as versions, in one commit.

Two writers hold one specification (:mod:`paylake.bronze.scd2`, tested on both): :class:`SparkScd2` computes the
changes in Spark and MERGEs them through any :class:`~paylake.lake.store.TableStore` (Databricks, the local Spark +
Delta engine, and delta-rs when chosen); :class:`~paylake.bronze.scd2_duckdb.DuckDbScd2` computes them in DuckDB
straight from a delta-rs table's files (the embedded engine's default; it lives with the DuckDB SQL, so Databricks,
which has neither DuckDB nor delta-rs, never imports it). The runtime picks one with the store, from the environment;
ingestion only calls :meth:`Scd2Writer.apply`.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import date

import pyarrow.dataset as ds
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from paylake.bronze.scd2 import CHANGE, Scd2Spec, latest_versions, scd2_changes, scd2_merge_spec
from paylake.contract import IS_CURRENT, TableRef
from paylake.lake.store import TableStore

logger = logging.getLogger(__name__)


class Scd2Writer(ABC):
    """Applies batches to SCD2 tables of one store."""

    def apply(
        self,
        target: TableRef,
        batch: DataFrame,
        spec: Scd2Spec,
        presence: DataFrame | None = None,
        applied_through: date | None = None,
        partition_by: Sequence[str] = (),
        batch_files: ds.Dataset | None = None,
    ) -> dict[str, int]:
        """Compute ``batch``'s SCD2 changes against ``target`` and write them in one commit (creating the table).

        Args:
            target: the bronze table.
            batch: accepted rows with ``spec.columns``, ``row_hash`` (:func:`paylake.bronze.scd2.row_hash`),
                ``_extract_date``, ``_source_file`` and ``_source_row``.
            spec: the table's SCD2 settings.
            presence: snapshot feeds only: every key seen per ``_extract_date``, rejected rows included.
            applied_through: latest extract date already applied; older snapshots change nothing.
            partition_by: the table's partition columns.
            batch_files: ``batch``'s rows as Parquet files, when a checkpoint wrote them (a writer may read them).

        Returns:
            The number of rows written per change kind (``insert``, ``close``, ``refresh``).
        """
        started = time.perf_counter()
        by_change = self._write(target, batch, spec, presence, applied_through, partition_by, batch_files)
        # `make bench` reads this line for the SCD2 step's time.
        logger.info("%s: SCD2 step %.2f s (%s)", target, time.perf_counter() - started, by_change)
        return by_change

    @abstractmethod
    def _write(
        self,
        target: TableRef,
        batch: DataFrame,
        spec: Scd2Spec,
        presence: DataFrame | None,
        applied_through: date | None,
        partition_by: Sequence[str],
        batch_files: ds.Dataset | None,
    ) -> dict[str, int]:
        """:meth:`apply` without the timing: compute and write; the count per change kind."""


class SparkScd2(Scd2Writer):
    """Spark computes the changes (:func:`paylake.bronze.scd2.scd2_changes`); the store MERGEs them."""

    def __init__(self, store: TableStore) -> None:
        self.store = store

    def _write(
        self,
        target: TableRef,
        batch: DataFrame,
        spec: Scd2Spec,
        presence: DataFrame | None,
        applied_through: date | None,
        partition_by: Sequence[str],
        batch_files: ds.Dataset | None,
    ) -> dict[str, int]:
        changes = scd2_changes(batch, self._latest(target, spec, batch), spec, presence, applied_through).persist()
        try:
            by_change = {row[CHANGE]: row["count"] for row in changes.groupBy(CHANGE).count().collect()}
            if by_change or not self.store.exists(target):
                self.store.merge(target, changes.drop(CHANGE), scd2_merge_spec(spec, partition_by), partition_by)
        finally:
            changes.unpersist()
        return by_change

    def _latest(self, target: TableRef, spec: Scd2Spec, batch: DataFrame) -> DataFrame | None:
        """What SCD2 compares a batch with: for an incremental feed the current rows of the batch's keys only (a
        1% increment reads 1% of the table); for a snapshot feed every key's latest version, since a key missing
        from the snapshot is a delete and a deleted key may come back."""
        if not self.store.exists(target):
            return None
        if spec.snapshot:
            current = latest_versions(self.store.read(target), spec.keys)
        else:
            current = self.store.read_keys(target, batch.select(*spec.keys), filters=[(IS_CURRENT, "=", True)])
        # A column paylake added after the table was created (``_rescued_data``) is null in its older rows.
        added = {c: F.lit(None).cast(batch.schema[c].dataType) for c in spec.columns if c not in current.columns}
        return current.withColumns(added) if added else current
