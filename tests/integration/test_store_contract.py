"""The TableStore contract, held by both stores: delta-rs (embedded engine) and native Delta through Spark SQL
(the local Spark + Delta engine, the code Databricks runs). Every case runs on each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.contract import TableRef
from paylake.errors import TableStoreError
from paylake.frames import arrow_rows, no_rows, rows_frame
from paylake.lake.store import MergeSpec, TableStore

REF = TableRef("silver", "things")
SCHEMA = "id int, name string, day date"


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def store(store_kind: str, make_store: Callable[[str, Path], TableStore], lake_root: Path) -> TableStore:
    return make_store(store_kind, lake_root)


def frame(spark: SparkSession, *rows: tuple[object, ...], schema: str = SCHEMA) -> DataFrame:
    return rows_frame(spark, list(rows), schema)


def content(store: TableStore, ref: TableRef = REF) -> list[tuple[object, ...]]:
    df = store.read(ref)
    return sorted((tuple(row) for row in df.orderBy(*df.columns).collect()), key=repr)


def data_files(lake_root: Path, ref: TableRef = REF) -> int:
    table = lake_root / ref.layer / ref.name
    return sum(1 for path in table.rglob("*.parquet") if "_delta_log" not in path.parts)  # not a log checkpoint


D1, D2 = date(2026, 1, 1), date(2026, 1, 2)


def test_exists_append_and_read_with_filters_and_columns(spark: SparkSession, store: TableStore) -> None:
    assert not store.exists(REF)
    with pytest.raises(TableStoreError, match="things"):
        store.read(REF)
    store.append(REF, frame(spark, (1, "a", D1), (2, "b", D2)))
    store.append(REF, frame(spark, (3, "c", D2)))
    assert store.exists(REF)
    assert content(store) == [(1, "a", D1), (2, "b", D2), (3, "c", D2)]
    picked = store.read(REF, filters=[("day", "=", D2), ("id", ">", 2)], columns=["name"])
    assert picked.columns == ["name"] and [r.name for r in picked.collect()] == ["c"]
    assert store.read_rows(REF, filters=[("name", "=", "a")]) == [{"id": 1, "name": "a", "day": D1}]


def test_append_of_no_rows_creates_an_empty_table(spark: SparkSession, store: TableStore) -> None:
    store.append(REF, frame(spark), partition_by=["day"])
    assert store.exists(REF) and content(store) == []
    assert store.read(REF).columns == ["id", "name", "day"]


def test_read_keys_reads_only_the_given_keys(spark: SparkSession, store: TableStore) -> None:
    store.append(REF, frame(spark, (1, "a", D1), (2, "b", D1), (3, "c", D2)))
    keys = rows_frame(spark, [(1,), (3,), (9,)], "id int")
    got = store.read_keys(REF, keys, filters=[("day", "=", D1)])
    assert [tuple(r) for r in got.collect()] == [(1, "a", D1)]


def test_replace_where_replaces_only_matching_rows_and_takes_a_new_column(
    spark: SparkSession, store: TableStore
) -> None:
    store.append(REF, frame(spark, (1, "a", D1), (2, "b", D2)), partition_by=["day"])
    newer = frame(spark, (5, "e", D2, 1.5), schema=f"{SCHEMA}, score double")
    store.replace_where(REF, newer, f"day = DATE '{D2.isoformat()}'")
    assert content(store) == [(1, "a", D1, None), (5, "e", D2, 1.5)]


def test_replace_where_creates_the_table(spark: SparkSession, store: TableStore) -> None:
    store.replace_where(REF, frame(spark, (1, "a", D1)), "day = DATE '2026-01-01'", partition_by=["day"])
    assert content(store) == [(1, "a", D1)]
    assert len(store.history(REF)) == 1  # created holding its rows: one commit, on either store


def test_overwrite_replaces_data_and_schema(spark: SparkSession, store: TableStore) -> None:
    store.append(REF, frame(spark, (1, "a", D1)))
    store.overwrite(REF, rows_frame(spark, [("x", 2.0)], "code string, amount double"))
    assert store.read(REF).columns == ["code", "amount"] and content(store) == [("x", 2.0)]
    store.replace(REF, frame(spark, (7, "g", D1)))  # no predicate: the whole table, as overwrite
    assert content(store) == [(7, "g", D1)]


def test_a_partition_column_anywhere_survives_repeated_replaces(spark: SparkSession, store: TableStore) -> None:
    """Partitioned by a column that is not the last one, as silver's ``invoice_month`` is."""
    for name in ("a", "b"):
        store.overwrite(REF, frame(spark, (1, name, D1)), partition_by=["name"])
    store.replace_where(REF, frame(spark, (2, "b", D2)), "name = 'b'")
    assert content(store) == [(2, "b", D2)]


def test_merge_creates_updates_inserts_and_takes_a_new_column(spark: SparkSession, store: TableStore) -> None:
    spec = MergeSpec(predicate="t.id = s.id", update={"name": "s.name", "score": "s.score"})
    store.merge(REF, frame(spark, (1, "a", D1), (2, "b", D1)), MergeSpec(predicate="t.id = s.id"))
    assert content(store) == [(1, "a", D1), (2, "b", D1)]
    source = frame(spark, (2, "B", D1, 0.5), (3, "c", D2, 1.0), schema=f"{SCHEMA}, score double")
    store.merge(REF, source, spec)
    assert content(store) == [(1, "a", D1, None), (2, "B", D1, 0.5), (3, "c", D2, 1.0)]


def test_merge_update_respects_its_condition(spark: SparkSession, store: TableStore) -> None:
    store.append(REF, frame(spark, (1, "a", D1), (2, "b", D2)))
    spec = MergeSpec(predicate="t.id = s.id", update={"name": "s.name"}, matched_condition="t.day = DATE '2026-01-02'")
    store.merge(REF, frame(spark, (1, "A", D1), (2, "B", D2)), spec)
    assert content(store) == [(1, "a", D1), (2, "B", D2)]


def test_checkpoint_computes_once_splits_when_the_store_can_and_totals_every_row(
    spark: SparkSession, store: TableStore
) -> None:
    df = spark.range(6).select(F.col("id").cast("int").alias("id"), (F.col("id") % 2 == 0).alias("ok"))
    totals = [F.count(F.lit(1)).alias("rows"), F.sum("id").alias("ids"), F.sum(F.col("ok").cast("int")).alias("oks")]
    with store.checkpoint(df, "ok", totals) as (checked, files, total):
        assert sorted(r.id for r in checked.collect()) == list(range(6))
        assert total is not None and total.asDict() == {"rows": 6, "ids": 15, "oks": 3}
        if files is not None:  # a store that writes Arrow hands the true part over as files
            assert sorted(files.to_table(columns=["id"]).column("id").to_pylist()) == [0, 2, 4]
    with store.checkpoint(df.where("id < 0"), "ok", totals) as (checked, files, total):
        assert checked.count() == 0 and files is None
        assert total is not None and total.asDict() == {"rows": 0, "ids": None, "oks": None}
    with store.checkpoint(df, "ok") as (_, _, total):
        assert total is None


def test_put_rows_appends_and_replaces_python_rows(spark: SparkSession, store: TableStore, store_kind: str) -> None:
    """The run log, file log and metrics are a few rows built in Python; a store that writes Arrow writes them
    without a Spark job."""
    tracker, group = spark.sparkContext.statusTracker(), f"paylake-put-rows-{store_kind}"
    spark.sparkContext.setJobGroup(group, "put rows")
    try:
        store.put_rows(REF, arrow_rows([(1, "a", D1), (2, "b", D2)], SCHEMA))
        store.put_rows(REF, arrow_rows([(3, "c", D2)], SCHEMA))
        store.put_rows(REF, arrow_rows([(4, "d", D2)], SCHEMA), predicate="day = '2026-01-02'")
        store.put_rows(REF, no_rows(frame(spark).schema), predicate="id = 1")
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    if store_kind == "delta_rs":
        assert tracker.getJobIdsForGroup(group) == []
    assert content(store) == [(4, "d", D2)]
    assert store.read(REF).schema == frame(spark).schema


def test_history_restore_and_vacuum(spark: SparkSession, store: TableStore, lake_root: Path) -> None:
    store.append(REF, frame(spark, (1, "a", D1)))
    store.overwrite(REF, frame(spark, (2, "b", D2)))
    history = store.history(REF)
    assert [int(str(h["version"])) for h in history] == [1, 0]
    assert all(h["operation"] for h in history)
    assert len(store.history(REF, limit=1)) == 1

    store.restore(REF, 0)
    assert content(store) == [(1, "a", D1)]
    newest = store.history(REF, limit=1)[0]
    assert int(str(newest["version"])) == 2 and newest["operation"] == "RESTORE"

    before = data_files(lake_root)
    removed = store.vacuum(REF, retention_hours=0)
    assert removed == before - data_files(lake_root) >= 1  # the overwrite's file, no longer referenced
    assert content(store) == [(1, "a", D1)]
    assert store.vacuum(REF, retention_hours=0) == 0


def test_compact_rewrites_small_files_into_one_per_partition_and_changes_no_row(
    spark: SparkSession, store: TableStore, lake_root: Path
) -> None:
    for key in range(6):
        store.append(REF, frame(spark, (key, f"n{key}", D1 if key % 2 else D2)), partition_by=["day"])
    rows = content(store)
    version = int(str(store.history(REF, limit=1)[0]["version"]))

    done = store.compact(REF)
    assert (done.files_before, done.files_after) == (6, 2)  # one file per partition
    assert content(store) == rows
    assert int(str(store.history(REF, limit=1)[0]["version"])) == version + 1  # one commit
    assert store.compact(REF).files_after == 2  # nothing left to compact: no file is rewritten again

    store.append(REF, frame(spark, (9, "z", D1)))
    clustered = store.compact(REF, cluster_by=["id"])
    assert (clustered.files_before, clustered.files_after) == (3, 2)
    assert content(store) == sorted([*rows, (9, "z", D1)], key=repr)
    store.vacuum(REF, retention_hours=0)
    assert data_files(lake_root) == 2
