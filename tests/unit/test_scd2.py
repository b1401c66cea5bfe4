"""scd2_changes on tiny DataFrames: every SCD2 semantic of GUIDE.md section 5, one case each, on both engines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.bronze import scd2_duckdb
from paylake.bronze.scd2 import ROW_HASH, Scd2Spec, row_hash, scd2_changes, scd2_merge_spec

SPEC = Scd2Spec(
    keys=("id",),
    compare_columns=("value",),
    sequence_column="updated_at",
    columns=("id", "name", "value", "updated_at"),
    snapshot=False,
)
SNAPSHOT = Scd2Spec(**{**SPEC.__dict__, "snapshot": True})
OUT = ["id", "value", "effective_from", "effective_to", "is_current", "record_version", "_change"]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def batch(spark: SparkSession, *rows: tuple[str, str, int, str, str]) -> DataFrame:
    """Rows of (id, name, value, updated_at, extract_date); source row = position in the file."""
    data = [(i, n, v, ts(u), date.fromisoformat(d), pos) for pos, (i, n, v, u, d) in enumerate(rows, start=1)]
    return spark.createDataFrame(
        data, "id string, name string, value int, updated_at timestamp, _extract_date date, _source_row int"
    )


def current(spark: SparkSession, *rows: tuple[str, int, str, int]) -> DataFrame:
    """Current target rows of (id, value, effective_from, record_version)."""
    base = spark.createDataFrame(
        [(i, "n", v, ts(f), ts(f), None, True, r) for i, v, f, r in rows],
        "id string, name string, value int, updated_at timestamp, effective_from timestamp, "
        "effective_to timestamp, is_current boolean, record_version int",
    )
    return base.withColumn("row_hash", F.sha2(F.concat_ws("\u0001", F.col("value").cast("string")), 256))


def expected(spark: SparkSession, *rows: tuple[str, int, str, str | None, bool, int, str]) -> DataFrame:
    return spark.createDataFrame(
        [(i, v, ts(f), ts(t) if t else None, c, r, ch) for i, v, f, t, c, r, ch in rows],
        "id string, value int, effective_from timestamp, effective_to timestamp, is_current boolean, "
        "record_version int, _change string",
    )


Engine = Callable[[DataFrame, "DataFrame | None", Scd2Spec, "DataFrame | None"], DataFrame]


def _duckdb(batch_df: DataFrame, current_df: DataFrame | None, spec: Scd2Spec, seen: DataFrame | None) -> DataFrame:
    """The local engine on the same inputs: Spark hashes the batch, DuckDB computes, the result comes back."""
    hashed = batch_df.withColumn(ROW_HASH, row_hash(spec.compare_columns)).toArrow()
    target = current_df.toArrow() if current_df is not None else None
    presence = seen.toArrow() if seen is not None else None
    got = scd2_duckdb.scd2_changes(hashed, target, spec, presence)
    if target is None:  # a new table's versions are streamed instead: the same rows, every one an insert
        with scd2_duckdb.stream_new_versions(hashed, spec, presence) as versions:
            streamed = versions.read_all()
        assert set(got.column("_change").to_pylist()) <= {"insert"}
        assert streamed.sort_by([("id", "ascending"), ("record_version", "ascending")]).equals(
            got.drop_columns(["_change"]).sort_by([("id", "ascending"), ("record_version", "ascending")])
        )
    return batch_df.sparkSession.createDataFrame(got if got.num_rows else got.schema.empty_table())


@pytest.fixture(params=["spark", "duckdb"])
def scd2(request: pytest.FixtureRequest) -> Engine:
    """Each test runs on both engines: Spark (Databricks) and DuckDB (local mode)."""
    return scd2_changes if request.param == "spark" else _duckdb


def changes(
    scd2: Engine,
    batch_df: DataFrame,
    current_df: DataFrame | None,
    spec: Scd2Spec = SPEC,
    presence: DataFrame | None = None,
) -> DataFrame:
    return scd2(batch_df, current_df, spec, presence).select(OUT)


def check(actual: DataFrame, wanted: DataFrame) -> None:
    assert_df_equality(actual, wanted, ignore_row_order=True, ignore_nullable=True)


def test_new_keys_open_version_one(spark: SparkSession, scd2: Engine) -> None:
    got = changes(scd2, batch(spark, ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-01")), None)
    check(got, expected(spark, ("a", 1, "2026-01-01 10:00:00", None, True, 1, "insert")))


def test_tracked_change_closes_current_and_opens_next_version(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 2, "2026-01-05 09:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
    )
    check(
        got,
        expected(
            spark,
            ("a", 1, "2026-01-01 10:00:00", "2026-01-05 09:00:00", False, 1, "close"),
            ("a", 2, "2026-01-05 09:00:00", None, True, 2, "insert"),
        ),
    )


def test_repeated_row_changes_nothing(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "n", 1, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
    )
    assert got.count() == 0


def test_untracked_change_refreshes_the_current_row_without_a_version(spark: SparkSession, scd2: Engine) -> None:
    got = scd2(
        batch(spark, ("a", "renamed", 1, "2026-01-05 09:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
        SPEC,
        None,
    )
    check(got.select(OUT), expected(spark, ("a", 1, "2026-01-01 10:00:00", None, True, 1, "refresh")))
    assert [(r.name, r.updated_at) for r in got.collect()] == [("renamed", ts("2026-01-05 09:00:00"))]


def test_equal_sequence_value_is_not_newer(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 7, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
    )
    assert got.count() == 0


def test_several_versions_in_one_batch_form_a_chain(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(
            spark,
            ("a", "x", 3, "2026-01-02 12:00:00", "2026-01-02"),  # out of file order on purpose
            ("a", "x", 2, "2026-01-02 08:00:00", "2026-01-02"),
            ("a", "x", 3, "2026-01-03 08:00:00", "2026-01-03"),  # unchanged re-send
            ("a", "x", 4, "2026-01-04 08:00:00", "2026-01-04"),
        ),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
    )
    check(
        got,
        expected(
            spark,
            ("a", 1, "2026-01-01 10:00:00", "2026-01-02 08:00:00", False, 1, "close"),
            ("a", 2, "2026-01-02 08:00:00", "2026-01-02 12:00:00", False, 2, "insert"),
            ("a", 3, "2026-01-02 12:00:00", "2026-01-04 08:00:00", False, 3, "insert"),
            ("a", 4, "2026-01-04 08:00:00", None, True, 4, "insert"),
        ),
    )


def test_older_record_never_overwrites_the_current_version(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 0, "2025-12-31 23:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1)),
    )
    assert got.count() == 0


def test_older_record_later_in_a_backlog_is_stale_too(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(
            spark,
            ("a", "x", 1, "2026-01-02 10:00:00", "2026-01-02"),
            ("a", "x", 9, "2026-01-01 10:00:00", "2026-01-03"),  # delivered a day later, but older
        ),
        None,
    )
    check(got, expected(spark, ("a", 1, "2026-01-02 10:00:00", None, True, 1, "insert")))


def test_same_sequence_within_one_file_keeps_the_last_row(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(
            spark,
            ("a", "x", 1, "2026-01-02 10:00:00", "2026-01-02"),
            ("a", "x", 2, "2026-01-02 10:00:00", "2026-01-02"),
        ),
        None,
    )
    check(got, expected(spark, ("a", 2, "2026-01-02 10:00:00", None, True, 1, "insert")))


def presence(spark: SparkSession, *rows: tuple[str, str]) -> DataFrame:
    return spark.createDataFrame([(i, date.fromisoformat(d)) for i, d in rows], "id string, _extract_date date")


def test_snapshot_missing_key_closes_its_current_row(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1), ("b", 5, "2026-01-01 11:00:00", 1)),
        SNAPSHOT,
        presence(spark, ("a", "2026-01-05")),
    )
    check(got, expected(spark, ("b", 5, "2026-01-01 11:00:00", "2026-01-05 00:00:00", False, 1, "close")))


def test_snapshot_key_present_but_rejected_is_not_deleted(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1), ("b", 5, "2026-01-01 11:00:00", 1)),
        SNAPSHOT,
        presence(spark, ("a", "2026-01-05"), ("b", "2026-01-05")),  # b's row was in the file, but rejected
    )
    assert got.count() == 0


def test_snapshot_backlog_delete_then_return_opens_a_new_version(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(
            spark,
            ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-02"),
            ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-04"),  # back, unchanged, same old timestamp
        ),
        None,
        SNAPSHOT,
        presence(spark, ("a", "2026-01-02"), ("a", "2026-01-04"), ("z", "2026-01-03")),
    )
    check(
        got,
        expected(
            spark,
            ("a", 1, "2026-01-01 10:00:00", "2026-01-03 00:00:00", False, 1, "insert"),
            ("a", 1, "2026-01-04 00:00:00", None, True, 2, "insert"),
        ),
    )


def test_incremental_feed_never_deletes(spark: SparkSession, scd2: Engine) -> None:
    got = changes(
        scd2,
        batch(spark, ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1), ("b", 5, "2026-01-01 11:00:00", 1)),
        SPEC,
        presence(spark, ("a", "2026-01-05")),
    )
    assert got.count() == 0


def test_merge_spec_matches_key_and_version_and_prunes_by_partition() -> None:
    spec = scd2_merge_spec(SPEC, partition_by=["region"])
    assert spec.predicate == "t.id = s.id AND t.record_version = s.record_version AND t.region = s.region"
    assert spec.update == {c: f"s.{c}" for c in ("name", "value", "updated_at", "effective_to", "is_current")}
    assert spec.matched_condition == "t.is_current = true" and spec.insert_all


@pytest.mark.parametrize("value", [None, ""])
def test_row_hash_tells_null_from_empty(spark: SparkSession, value: str | None) -> None:
    from paylake.bronze.scd2 import row_hash

    df = spark.createDataFrame([(value,), ("x",)], "v string").select(row_hash(["v"]).alias("h"))
    first, second = [r.h for r in df.collect()]
    assert first != second and len(first) == 64
