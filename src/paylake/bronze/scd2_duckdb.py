"""The SCD2 change computation of :mod:`paylake.bronze.scd2` in DuckDB, for the embedded (local) mode.

Same inputs, same semantics, same output; the module docstring of :mod:`paylake.bronze.scd2` is the
specification, and this SQL follows :func:`paylake.bronze.scd2.scd2_changes` step for step, with the same names.
The property test runs both engines against one reference model.

Why a second engine: in local mode Spark's fixed cost per stage dominates a daily increment (seven window
passes, each a shuffle), while DuckDB reads the target's current rows straight from the Delta table's Parquet
files (with its own Parquet reader; through delta-rs' Arrow dataset when the table is partitioned or remote) and
computes in vectorised SQL. Two shortcuts, both exact:
a key with one event skips the window passes, and the passes carry only the narrow ordering columns (the data
columns are joined back by event number). On Databricks the Spark version runs next to the data and this module
is not used.

``row_hash`` is not computed here: the batch brings it, hashed by Spark (:func:`paylake.bronze.scd2.row_hash`),
so one function decides what "changed" means for both engines and for tables written by either.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import date
from typing import TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from pyspark.sql import DataFrame

from paylake.bronze.scd2 import CHANGE, Scd2Spec, scd2_merge_spec
from paylake.bronze.scd2_sql import changes_sql, events_sql, q, qlist
from paylake.bronze.scd2_writers import Scd2Writer
from paylake.contract import (
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    EXTRACT_DATE,
    IS_CURRENT,
    RECORD_VERSION,
    ROW_HASH,
    SOURCE_FILE,
    SOURCE_ROW,
    TableRef,
)
from paylake.lake.arrow_exchange import staged
from paylake.lake.delta_rs import DeltaRsStore

logger = logging.getLogger(__name__)

ArrowInput: TypeAlias = pa.Table | ds.Dataset
MEMORY_LIMIT = "1GB"
# While DuckDB streams a new table's versions the delta-rs writer runs in the same process, so DuckDB gets less.
# Measured on 3M line items (process peak RSS): 1GB 6.6 s / 1.93 GB, 512MB 8.6 s / 1.55 GB; written to a file
# first with 1GB: 10.8 s / 1.60 GB.
STREAM_MEMORY_LIMIT = "512MB"
STREAM_BATCH_ROWS = 128 * 1024


def output_schema(batch: pa.Schema, spec: Scd2Spec) -> pa.Schema:
    """Target columns (types from the batch) plus ``_change``; SCD2 times are UTC instants like Delta's."""
    instant = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [pa.field(c, batch.field(c).type) for c in spec.columns]
        + [
            pa.field(EFFECTIVE_FROM, instant),
            pa.field(EFFECTIVE_TO, instant),
            pa.field(IS_CURRENT, pa.bool_()),
            pa.field(RECORD_VERSION, pa.int32()),
            pa.field(ROW_HASH, pa.string()),
            pa.field(CHANGE, pa.string()),
        ]
    )


def _current_sql(con: duckdb.DuckDBPyConnection, spec: Scd2Spec, target: list[str], batch: pa.Schema) -> str:
    """What the batch is compared with (see ``paylake.bronze.ingest._latest``): the current rows of the batch's keys
    for an incremental feed, every key's latest version for a snapshot. Columns the table does not have yet are
    null."""
    keys = qlist(spec.keys)
    wanted = [*spec.columns, EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH]
    columns = ", ".join(
        q(c) if c in target else f"CAST(NULL AS {_duck_type(con, batch.field(c).type)}) AS {q(c)}" for c in wanted
    )
    if spec.snapshot:
        return (
            f"SELECT {columns} FROM target "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {q(RECORD_VERSION)} DESC) = 1"
        )
    return (
        f"SELECT {columns} FROM target SEMI JOIN (SELECT DISTINCT {keys} FROM batch) AS b USING ({keys}) "
        f"WHERE {q(IS_CURRENT)}"
    )


def _parquet_files(data: ArrowInput) -> list[str] | None:
    """The files of a dataset of whole local Parquet files (no partition values in the paths), else None."""
    if not (
        isinstance(data, ds.FileSystemDataset)
        and isinstance(data.filesystem, pafs.LocalFileSystem)
        and isinstance(data.format, ds.ParquetFileFormat)
        and data.files
    ):
        return None
    whole = all(f.partition_expression.equals(ds.scalar(True)) for f in data.get_fragments())
    return list(data.files) if whole else None


def _register(con: duckdb.DuckDBPyConnection, name: str, data: ArrowInput) -> list[str]:
    """Expose ``data`` to SQL as ``name``; returns its columns. Local Parquet files go through DuckDB's own
    reader (about twice as fast as scanning them through Arrow); a column missing from older files reads as null."""
    files = _parquet_files(data)
    if files is None:
        con.register(name, data)
    else:
        paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        con.execute(f"CREATE TEMP VIEW {q(name)} AS SELECT * FROM read_parquet([{paths}], union_by_name = true)")
    return list(con.sql(f"SELECT * FROM {q(name)} LIMIT 0").columns)


def _duck_type(con: duckdb.DuckDBPyConnection, data_type: pa.DataType) -> str:
    """DuckDB's name for an Arrow type."""
    return str(con.from_arrow(pa.table({"x": pa.nulls(0, data_type)})).types[0])


@contextmanager
def _connection(timezone: str, memory_limit: str = MEMORY_LIMIT) -> Iterator[duckdb.DuckDBPyConnection]:
    with tempfile.TemporaryDirectory(prefix="paylake-duckdb-") as spill, duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{timezone}'")
        # Bounded memory next to the Spark JVM: DuckDB spills its sorts to a temporary folder beyond the limit.
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute(f"SET temp_directory = '{spill}'")
        con.execute("SET preserve_insertion_order = false")
        yield con


def _changes_query(
    con: duckdb.DuckDBPyConnection,
    batch: ArrowInput,
    target: ArrowInput | None,
    spec: Scd2Spec,
    presence: ArrowInput | None,
    applied_through: date | None,
) -> str:
    """Register the inputs, materialise the current rows and the events; the query of the changes."""
    _register(con, "batch", batch)
    if target is not None:
        target_columns = _register(con, "target", target)
        con.execute(f"CREATE TEMP TABLE current AS {_current_sql(con, spec, target_columns, batch.schema)}")
    if presence is not None:
        con.register("presence", presence)
    events = events_sql(spec, target is not None, presence is not None, applied_through)
    con.execute(f"CREATE TEMP TABLE event_rows AS {events}")
    # Every event is numbered: the window passes of changes_sql carry only the narrow columns that order and chain
    # events, and the wide data columns of the event that supplies a version are joined back by number at the end.
    # The number is the event's row id in the materialised table, stable across the query's scans; numbering with
    # row_number() OVER () was a single-threaded window over every event (3.4 of 6.3 s on 3M line items).
    con.execute("CREATE TEMP VIEW events AS SELECT rowid AS _id, * FROM event_rows")
    return changes_sql(spec)


@contextmanager
def stream_new_versions(
    batch: ArrowInput,
    spec: Scd2Spec,
    presence: ArrowInput | None = None,
    applied_through: date | None = None,
    timezone: str = "UTC",
) -> Iterator[pa.RecordBatchReader]:
    """:func:`scd2_changes` for a table that does not exist yet, streamed: every change is then a new version
    (``_change`` is ``insert``, so it is left out), and the rows go from DuckDB to the writer in batches, without
    the Parquet file of :func:`write_scd2_changes` in between (an initial load of 3M line items writes once)."""
    schema = output_schema(batch.schema, spec)
    schema = schema.remove(schema.get_field_index(CHANGE))
    with _connection(timezone, STREAM_MEMORY_LIMIT) as con:
        query = _changes_query(con, batch, None, spec, presence, applied_through)
        reader = con.sql(f"SELECT * EXCLUDE ({q(CHANGE)}) FROM ({query})").to_arrow_reader(STREAM_BATCH_ROWS)
        yield pa.RecordBatchReader.from_batches(schema, (rows.cast(schema) for rows in reader))


def scd2_changes(
    batch: ArrowInput,
    target: ArrowInput | None,
    spec: Scd2Spec,
    presence: ArrowInput | None = None,
    applied_through: date | None = None,
    timezone: str = "UTC",
) -> pa.Table:
    """Rows to MERGE for a batch, as :func:`paylake.bronze.scd2.scd2_changes` returns them.

    Args:
        batch: accepted rows with ``spec.columns``, ``row_hash``, ``_extract_date``, ``_source_file`` and
            ``_source_row``.
        target: the table's rows (all versions; only the current rows of the batch's keys are read for an
            incremental feed, every key's latest version for a snapshot), or ``None`` for a new table.
        spec: the table's SCD2 settings.
        presence: snapshot tables only: every key seen per ``_extract_date``, rejected rows included.
        applied_through: latest extract date already applied to the table; older snapshots change nothing.
        timezone: the session time zone in which a date sequence value or extract date starts.
    """
    with _connection(timezone) as con:
        result = con.sql(_changes_query(con, batch, target, spec, presence, applied_through)).to_arrow_table()
    return result.cast(output_schema(batch.schema, spec))


def write_scd2_changes(
    folder: str,
    batch: ArrowInput,
    target: ArrowInput | None,
    spec: Scd2Spec,
    presence: ArrowInput | None = None,
    applied_through: date | None = None,
    timezone: str = "UTC",
) -> ds.Dataset:
    """:func:`scd2_changes` written by DuckDB to a Parquet file in ``folder``, so that the change set of a large
    batch (3 million line items on an initial load) never sits in memory whole; returns it as a dataset."""
    path = f"{folder}/changes.parquet"
    with _connection(timezone) as con:
        query = _changes_query(con, batch, target, spec, presence, applied_through)
        quoted = path.replace("'", "''")
        con.execute(f"COPY ({query}) TO '{quoted}' (FORMAT parquet)")
    return ds.dataset(path, format="parquet", schema=output_schema(batch.schema, spec))


class DuckDbScd2(Scd2Writer):
    """DuckDB computes the changes from the delta-rs table's files (:mod:`paylake.bronze.scd2_duckdb`); delta-rs
    appends new versions or MERGEs the rest. Reads the batch from ``batch_files`` when given."""

    def __init__(self, store: DeltaRsStore) -> None:
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
        hashed = batch.select(*dict.fromkeys([*spec.columns, ROW_HASH, EXTRACT_DATE, SOURCE_FILE, SOURCE_ROW]))
        timezone = batch.sparkSession.conf.get("spark.sql.session.timeZone") or "UTC"
        started = time.perf_counter()
        handed = nullcontext(batch_files) if batch_files is not None else staged(hashed)
        with handed as rows, tempfile.TemporaryDirectory(prefix="paylake-changes-") as folder:
            staged_at = time.perf_counter()
            seen = presence.toArrow() if presence is not None else None  # snapshot keys and dates: small
            if not self.store.exists(target):
                inserted = self._create(target, rows, spec, seen, applied_through, timezone, partition_by)
                logger.info(
                    "%s: batch handed to DuckDB in %.2f s, new table's versions computed and written in %.2f s",
                    target,
                    staged_at - started,
                    time.perf_counter() - staged_at,
                )
                return {"insert": inserted} if inserted else {}
            existing = self.store.dataset(target)
            changes = write_scd2_changes(folder, rows, existing, spec, seen, applied_through, timezone)
            computed_at = time.perf_counter()
            kinds = changes.to_table(columns=[CHANGE]).column(CHANGE)
            by_change = {str(v["values"]): int(v["counts"]) for v in pc.value_counts(kinds).to_pylist()}
            merged = pa.schema([f for f in changes.schema if f.name != CHANGE])  # the scan leaves _change out
            rows = ds.dataset(changes.files, format="parquet", schema=merged)
            if set(by_change) <= {"insert"}:
                # New versions never match the MERGE predicate (scd2_merge_spec): appending them writes the same
                # rows without scanning and rewriting the table's files.
                self.store.append_arrow(target, rows, partition_by)
            else:
                self.store.merge_arrow(target, rows, scd2_merge_spec(spec, partition_by), partition_by)
        logger.info(
            "%s: batch handed to DuckDB in %.2f s, changes computed in %.2f s, merged in %.2f s",
            target,
            staged_at - started,
            computed_at - staged_at,
            time.perf_counter() - computed_at,
        )
        return by_change

    def _create(
        self,
        target: TableRef,
        rows: ds.Dataset,
        spec: Scd2Spec,
        seen: pa.Table | None,
        applied_through: date | None,
        timezone: str,
        partition_by: Sequence[str],
    ) -> int:
        """Create ``target`` from its first batch: every change is a new version, streamed from DuckDB into the
        writer (no change file in between). Returns the number of versions written."""
        written = 0
        with stream_new_versions(rows, spec, seen, applied_through, timezone) as versions:

            def counted() -> Iterator[pa.RecordBatch]:
                nonlocal written
                for part in versions:
                    written += part.num_rows
                    yield part

            self.store.append_arrow(target, pa.RecordBatchReader.from_batches(versions.schema, counted()), partition_by)
        return written
