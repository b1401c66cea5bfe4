"""Every SCD2 semantic of docs/guarantees.md (Bronze, SCD Type 2), one case each, through every SCD2 writer as it
ships, on tiny tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from paylake.bronze.scd2 import Scd2Spec, row_hash, scd2_merge_spec, target_columns
from paylake.bronze.scd2_writers import Scd2Writer
from paylake.contract import IS_CURRENT, RECORD_VERSION, ROW_HASH, TableRef
from paylake.frames import rows_frame
from paylake.lake.store import TableStore

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
    data = [(i, n, v, ts(u), date.fromisoformat(d), f"t_{d}.csv", pos) for pos, (i, n, v, u, d) in enumerate(rows, 1)]
    return rows_frame(
        spark,
        data,
        "id string, name string, value int, updated_at timestamp, _extract_date date, _source_file string, "
        "_source_row int",
    )


def current(spark: SparkSession, *rows: tuple[str, int, str, int]) -> DataFrame:
    """Current target rows of (id, value, effective_from, record_version)."""
    base = rows_frame(
        spark,
        [(i, "n", v, ts(f), ts(f), None, True, r) for i, v, f, r in rows],
        "id string, name string, value int, updated_at timestamp, effective_from timestamp, "
        "effective_to timestamp, is_current boolean, record_version int",
    )
    return base.withColumn("row_hash", F.sha2(F.concat_ws("\u0001", F.col("value").cast("string")), 256))


def expected(spark: SparkSession, *rows: tuple[str, int, str, str | None, bool, int, str]) -> DataFrame:
    return rows_frame(
        spark,
        [(i, v, ts(f), ts(t) if t else None, c, r, ch) for i, v, f, t, c, r, ch in rows],
        "id string, value int, effective_from timestamp, effective_to timestamp, is_current boolean, "
        "record_version int, _change string",
    )


Engine = Callable[[DataFrame, "DataFrame | None", Scd2Spec, "DataFrame | None"], DataFrame]
TARGET = TableRef("bronze", "t")


WriterFactory = Callable[[str, Path], tuple[TableStore, Scd2Writer]]


def applied(kind: str, spark: SparkSession, lakes: pytest.TempPathFactory, make: WriterFactory) -> Engine:
    """The shipped writer of ``kind`` applied to a real table holding ``current``; returns what it changed, read
    back from the table: rows of a new (key, version) are ``insert``, a current row made not current ``close``,
    any other changed row ``refresh``. The counts the writer reports must say the same."""

    def run(batch_df: DataFrame, current_df: DataFrame | None, spec: Scd2Spec, seen: DataFrame | None) -> DataFrame:
        store, writer = make(kind, lakes.mktemp("lake"))
        if current_df is not None:
            store.append(TARGET, current_df.select(*target_columns(spec)))
        key = [*spec.keys, RECORD_VERSION]
        before = {tuple(r[k] for k in key): r for r in store.read(TARGET).collect()} if current_df else {}
        hashed = batch_df.withColumn(ROW_HASH, row_hash(spec.compare_columns))
        counts = writer.apply(TARGET, hashed, spec, seen)
        after = store.read(TARGET).select(*target_columns(spec))
        changed = []
        for row in after.collect():
            old = before.get(tuple(row[k] for k in key))
            if old is None:
                changed.append((*row, "insert"))
            elif old.asDict() != row.asDict():
                changed.append((*row, "close" if old[IS_CURRENT] and not row[IS_CURRENT] else "refresh"))
        assert counts == dict(Counter(c[-1] for c in changed)), f"{kind} reported {counts}"
        return rows_frame(spark, changed, after.schema.add("_change", "string"))

    return run


@pytest.fixture
def scd2(
    scd2_writer_kind: str,
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
    make_scd2_writer: WriterFactory,
) -> Engine:
    """Each test runs through every SCD2 writer as it ships, into a real Delta table."""
    return applied(scd2_writer_kind, spark, tmp_path_factory, make_scd2_writer)


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


def test_a_corrections_row_wins_over_the_original_of_its_date_in_one_batch(spark: SparkSession, scd2: Engine) -> None:
    """Same key, date and sequence value in an original and its ``_v2`` correction: the correction's row is kept,
    whatever the row numbers."""
    data = [
        ("a", "n", 2, ts("2026-01-05 09:00:00"), date(2026, 1, 5), "t_20260105_v2.csv", 1),
        ("a", "n", 1, ts("2026-01-05 09:00:00"), date(2026, 1, 5), "t_20260105.csv", 7),
    ]
    rows = rows_frame(spark, data, batch(spark).schema)
    check(changes(scd2, rows, None), expected(spark, ("a", 2, "2026-01-05 09:00:00", None, True, 1, "insert")))


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
    return rows_frame(spark, [(i, date.fromisoformat(d)) for i, d in rows], "id string, _extract_date date")


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

    df = rows_frame(spark, [(value,), ("x",)], "v string").select(row_hash(["v"]).alias("h"))
    first, second = [r.h for r in df.collect()]
    assert first != second and len(first) == 64


@pytest.fixture
def new_york(spark: SparkSession) -> Iterator[None]:
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        yield
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")


def test_snapshot_delete_closes_at_midnight_in_the_session_time_zone(
    spark: SparkSession, scd2: Engine, new_york: None
) -> None:
    """A key missing from the 2026-01-05 extract closes at that day's start where the lake runs: 05:00 UTC."""
    got = changes(
        scd2,
        batch(spark, ("a", "x", 1, "2026-01-01 10:00:00", "2026-01-05")),
        current(spark, ("a", 1, "2026-01-01 10:00:00", 1), ("b", 5, "2026-01-01 11:00:00", 1)),
        SNAPSHOT,
        presence(spark, ("a", "2026-01-05")),
    )
    check(got, expected(spark, ("b", 5, "2026-01-01 11:00:00", "2026-01-05 05:00:00", False, 1, "close")))
