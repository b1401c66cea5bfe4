"""Data crossing between Spark and delta-rs: partitioned tables read back exactly, and a DataFrame staged for a
write is the same Arrow data whether it is collected (small) or written through Parquet (large)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession

from paylake.contract import TableRef
from paylake.frames import rows_frame
from paylake.lake import arrow_exchange
from paylake.lake.arrow_exchange import estimated_bytes, staged, staged_split
from paylake.lake.delta_rs import DeltaRsStore
from paylake.lake.store import TableStore
from paylake.runtime.spark import JVM_OPTIONS_ENV

AWKWARD_TEXT = ["plain", "with space", "a/b", "100%", "k=v", "ünï", None]


def rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


@pytest.mark.parametrize(
    ("partition", "values", "spark_reads_files"),
    [
        ("segment", pa.array(AWKWARD_TEXT, pa.string()), False),
        ("month", pa.array([date(2026, m, 1) for m in range(1, 7)] + [None], pa.date32()), True),
        ("bucket", pa.array([0, 1, -1, 2**40, 7, 7, None], pa.int64()), True),
        ("flag", pa.array([True, False, True, True, False, True, None], pa.bool_()), True),
        ("loaded_at", pa.array([datetime(2026, 1, 1, 12, 30, 15)] * 6 + [None], pa.timestamp("us")), False),
    ],
)
def test_partitioned_table_reads_back_exactly(
    spark: SparkSession, tmp_path: Path, partition: str, values: pa.Array, spark_reads_files: bool
) -> None:
    """Spark scans the Parquet files itself for partition types whose path values it parses back as delta-rs
    wrote them (nulls, booleans, negative and large integers, dates); text (escaped, non-ASCII) and timestamps
    go through Arrow. Either way the rows, the column order and the types are those of the table."""
    data = pa.table(
        {
            "id": pa.array(range(len(values)), pa.int64()),
            partition: values,
            "amount": pa.array([1.5 * i for i in range(len(values))], pa.float64()),
        }
    )
    store = DeltaRsStore(spark, str(tmp_path))
    ref = TableRef("silver", "t")
    write_deltalake(store.path(ref), data, partition_by=[partition])

    df = store.read(ref)

    assert bool(df.inputFiles()) is spark_reads_files
    assert df.columns == data.column_names
    expected = store.read_arrow(ref)
    assert rows(df.toArrow().cast(expected.schema)) == rows(expected) == rows(data)
    filtered = store.read(ref, filters=[("id", ">=", 5)], columns=["id", partition])
    assert filtered.columns == ["id", partition]
    assert sorted(filtered.toArrow().column("id").to_pylist()) == [5, 6]


def test_small_and_large_results_stage_the_same_arrow(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collected or written through Parquet, a result reaches delta-rs with the same schema and values:
    timestamps as UTC instants whatever the session time zone, local timestamps, decimals, lists, nulls."""
    spark.conf.set("spark.sql.session.timeZone", "Europe/Berlin")
    try:
        df = spark.sql(
            """SELECT * FROM VALUES
                (1, TIMESTAMP '2026-03-29 01:30:00', TIMESTAMP_NTZ '2026-03-29 01:30:00', 12.34BD, array('a', NULL),
                 DATE '2026-02-28', 'ünï'),
                (2, NULL, NULL, NULL, array(), NULL, NULL)
            AS t(id, at, local_at, amount, tags, day, name)"""
        )
        estimate = estimated_bytes(df)
        assert estimate is not None and estimate <= arrow_exchange.SMALL_RESULT_BYTES  # the collect path is taken
        with staged(df) as collected:
            small = collected.to_table()
        monkeypatch.setattr(arrow_exchange, "SMALL_RESULT_BYTES", -1)
        with staged(df) as written:
            large = written.to_table()
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert small.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert small.schema == large.schema
    assert small.sort_by("id").to_pylist() == large.sort_by("id").to_pylist()
    assert small.sort_by("id").column("at")[0].as_py() == datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)


def test_split_stage_reads_back_every_row_and_hands_over_the_true_part(spark: SparkSession) -> None:
    """staged_split: Spark reads back the same rows and columns (in order, with the split column), the true part
    is exactly the true rows as whole Parquet files with the rest of the columns, and the folder is gone after."""
    df = spark.sql(
        """SELECT id, named_struct('raw', CAST(id AS STRING)) AS raw, array(CAST(id % 3 AS STRING)) AS tags,
                  TIMESTAMP '2026-03-29 01:30:00' + make_interval(0, 0, 0, 0, 0, 0, id) AS at, id % 3 = 0 AS ok
           FROM range(1000)"""
    )
    with staged_split(df, "ok") as (back, true_part, _):
        assert back.schema.simpleString() == df.schema.simpleString()  # files make every column nullable
        assert sorted(back.collect()) == sorted(df.collect())
        assert back.where("ok").count() == 334
        assert true_part is not None
        folder = Path(true_part.files[0]).parent.parent
        got = true_part.to_table()
        assert got.column_names == ["id", "raw", "tags", "at"]
        assert sorted(got.column("id").to_pylist()) == list(range(0, 1000, 3))
        assert got.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert not folder.exists()
    with staged_split(df.where("NOT ok"), "ok") as (back, true_part, _):
        assert true_part is None and back.count() == 666


# Run in a JVM of its own with the shipped heap options: the suite's session runs the throughput collector
# (tests/conftest.py), which never gives heap back.
HEAP_PROBE = """
import json
from paylake.config.environment import SparkConfig
from paylake.lake.arrow_exchange import staged_split
from paylake.runtime.spark import local_spark

spark = local_spark(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"), "UTC")
memory = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
wide = spark.sql("SELECT id, sha2(CAST(id AS STRING), 512) AS h, id % 2 = 0 AS even FROM range(1500000)")
with staged_split(wide.orderBy("h"), "even") as (_, evens, _):  # the sort grows the heap
    heap = memory.getHeapMemoryUsage()
    print(json.dumps({"committed": heap.getCommitted(), "used": heap.getUsed(), "initial": heap.getInit(),
                      "evens": evens.count_rows() if evens is not None else 0}))
"""


def test_split_stage_gives_the_free_jvm_heap_back(repo: Path) -> None:
    """Once Spark has written the split, the JVM keeps at most ~20% of its committed heap free (local_spark's G1
    settings and release_jvm_heap), so DuckDB and delta-rs do not add their peak to the heap Spark grew."""
    env = {key: value for key, value in os.environ.items() if key != JVM_OPTIONS_ENV}
    probe = subprocess.run(
        [sys.executable, "-c", HEAP_PROBE], cwd=repo, env=env, capture_output=True, text=True, timeout=600
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    heap = json.loads(probe.stdout.strip().splitlines()[-1])
    committed, used, initial = heap["committed"], heap["used"], heap["initial"]
    assert heap["evens"] == 750000
    # G1 commits whole regions (at most 32 MiB each), hence the slack.
    assert committed <= max(initial, used / 0.8) + 64 * 2**20, (committed >> 20, used >> 20, initial >> 20)


def test_checkpoint_is_persisted_by_spark_and_written_once_locally(spark: SparkSession, tmp_path: Path) -> None:
    """The Databricks store (the base class's checkpoint) persists and hands over no files; the local store
    writes the rows once and hands over the true part."""
    df = spark.sql("SELECT id, id < 3 AS ok FROM range(10)")
    with TableStore.checkpoint(DeltaRsStore(spark, str(tmp_path)), df, "ok") as (back, true_part, _):
        assert true_part is None and back.is_cached
        assert back.where("ok").count() == 3
    assert not back.is_cached
    with DeltaRsStore(spark, str(tmp_path)).checkpoint(df, "ok") as (back, true_part, _):
        assert true_part is not None and not back.is_cached
        assert true_part.count_rows() == 3 and back.count() == 10


def test_replace_takes_a_checkpoints_files_without_a_spark_job(spark: SparkSession, tmp_path: Path) -> None:
    """A derived table is replaced from its checkpoint's accepted files by delta-rs alone (only the rows' columns,
    partitioned as asked); without files the rows themselves are written, and a predicate replaces only its rows."""
    store, ref = DeltaRsStore(spark, str(tmp_path)), TableRef("silver", "t")
    df = spark.sql("SELECT id, id % 3 AS part, id < 6 AS ok, 'x' AS scratch FROM range(9)")
    tracker, group = spark.sparkContext.statusTracker(), "paylake-test-replace"
    with store.checkpoint(df, "ok") as (checked, accepted_files, _):
        accepted = checked.where("ok").select("id", "part")
        spark.sparkContext.setJobGroup(group, "replace from files")
        try:
            store.replace(ref, accepted, partition_by=["part"], files=accepted_files)
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        assert tracker.getJobIdsForGroup(group) == []
        from_files = DeltaTable(store.path(ref)).to_pyarrow_table()
        store.replace(ref, spark.sql("SELECT 100L AS id, 1L AS part"), "part = 1", ["part"], files=None)
    assert rows(from_files) == [(i, i % 3) for i in range(6)]
    assert DeltaTable(store.path(ref)).metadata().partition_columns == ["part"]
    after = rows(DeltaTable(store.path(ref)).to_pyarrow_table())
    assert after == sorted([(0, 0), (2, 2), (3, 0), (5, 2), (100, 1)], key=repr)


def test_size_estimate_separates_small_from_large(spark: SparkSession) -> None:
    small, large = estimated_bytes(spark.range(10)), estimated_bytes(spark.range(10_000_000))
    assert small is not None and large is not None
    assert small <= arrow_exchange.SMALL_RESULT_BYTES < large


def test_rows_frame_is_create_data_frame_with_a_known_size(spark: SparkSession) -> None:
    """Rows built in Python (run log, metrics, file log) become the same DataFrame as ``createDataFrame`` gives,
    naive datetimes across a DST switch in a non-UTC session included, but Spark knows its size, so the store
    collects it instead of staging it through a Parquet job."""
    schema = (
        "name string, n bigint, k int, day date, at timestamp, ratio double, amount decimal(18,2), ok boolean, "
        "tags array<string>, parts array<struct<label:string,count:bigint>>"
    )
    data = [
        ("ünï", 1, 2, date(2026, 3, 29), datetime(2026, 3, 29, 2, 30), 1.5, Decimal("3.10"), True, ["x", None],
         [("a", 1)]),
        (None, None, None, None, None, None, None, None, None, None),
        ("", -5, 0, date(1969, 12, 31), datetime(2026, 10, 25, 2, 30, 0, 123456), float("inf"), Decimal("-0.01"),
         False, [], []),
    ]  # fmt: skip
    spark.conf.set("spark.sql.session.timeZone", "Europe/Berlin")
    try:
        expected, actual = spark.createDataFrame(data, schema), rows_frame(spark, data, schema)
        assert actual.schema == expected.schema
        assert actual.collect() == expected.collect()
        assert actual.toArrow().equals(expected.toArrow())
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    estimate = estimated_bytes(actual)
    assert estimate is not None and estimate <= arrow_exchange.SMALL_RESULT_BYTES
    unknown = estimated_bytes(expected)
    assert unknown is None or unknown > arrow_exchange.SMALL_RESULT_BYTES  # why rows_frame exists
    assert rows_frame(spark, [], schema).count() == 0


def test_writes_cut_row_groups_so_readers_can_split_files(spark: SparkSession, tmp_path: Path) -> None:
    """A file of a million rows in one row group is read by one Spark task; paylake's writes cap row groups."""
    store = DeltaRsStore(spark, str(tmp_path))
    ref = TableRef("bronze", "wide")
    store.append(ref, spark.range(300_000).selectExpr("id", "cast(id % 7 as string) AS tag"))
    groups = [
        pq.ParquetFile(path.removeprefix("file://")).metadata.row_group(i).num_rows
        for path in DeltaTable(store.path(ref)).file_uris()
        for i in range(pq.ParquetFile(path.removeprefix("file://")).metadata.num_row_groups)
    ]
    assert sum(groups) == 300_000
    assert max(groups) <= arrow_exchange.WRITER_ROW_GROUP_ROWS < 300_000


def test_append_arrow_adds_new_columns_and_commits_nothing_for_no_rows(spark: SparkSession, tmp_path: Path) -> None:
    """SCD2 changes that are all new versions are appended, not merged; like the MERGE, the append takes a column
    the table does not have yet (``_rescued_data`` on an older table), and an empty change set writes nothing."""
    store = DeltaRsStore(spark, str(tmp_path))
    ref = TableRef("bronze", "grows")
    store.append_arrow(ref, ds.dataset(pa.table({"id": [1], "name": ["a"]})))
    store.append_arrow(ref, ds.dataset(pa.table({"id": [2], "name": ["b"], "extra": ['{"x": 1}']})))
    store.append_arrow(ref, ds.dataset(pa.table({"id": pa.array([], pa.int64()), "name": pa.array([], pa.string())})))
    assert DeltaTable(store.path(ref)).version() == 1
    assert rows(store.read_arrow(ref)) == [(1, "a", None), (2, "b", '{"x": 1}')]
