"""Point-in-time views: ``versions_as_of`` against its definition on histories with every shape SCD2 writes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession

from paylake.frames import rows_frame
from paylake.silver.point_in_time import versions_as_of

SCHEMA = "key string, record_version int, effective_from timestamp, effective_to timestamp, value string"
D = datetime(2026, 3, 1)


def at(day: int, hour: int = 0) -> datetime:
    return D + timedelta(days=day, hours=hour)


# key: [(effective_from, effective_to)] in version order; a version ends where the next starts, or earlier when a
# snapshot feed deleted the key.
HISTORIES = {
    "open": [(at(1), None)],
    "changed": [(at(1), at(3)), (at(3), at(5)), (at(5), None)],
    "deleted": [(at(1), at(4))],
    "deleted_then_back": [(at(1), at(3)), (at(6), None)],
    "deleted_twice": [(at(0), at(2)), (at(3), at(4)), (at(5), at(7))],
    "same_instant": [(at(2, 10), at(2, 10)), (at(2, 10), None)],
    "late_start": [(at(7), None)],
    "intraday": [(at(2, 8), at(2, 15)), (at(2, 15), at(3, 9)), (at(3, 9), None)],
}


def history(spark: SparkSession) -> DataFrame:
    rows = [
        (key, version, start, end, f"{key}#{version}")
        for key, versions in HISTORIES.items()
        for version, (start, end) in enumerate(versions, 1)
    ]
    return rows_frame(spark, rows, SCHEMA)


def by_definition(as_of: date) -> list[tuple[object, ...]]:
    """The newest version of each key among those started by the end of ``as_of`` (a later end hidden), from
    :data:`HISTORIES` in plain Python: the oracle shares no code with what it checks."""
    cutoff = datetime.combine(as_of + timedelta(days=1), datetime.min.time())
    found = []
    for key, versions in HISTORIES.items():
        known = [(number, start, end) for number, (start, end) in enumerate(versions, 1) if start < cutoff]
        if known:
            number, start, end = known[-1]
            end = end if end is not None and end < cutoff else None
            found.append((key, number, start, end, f"{key}#{number}", end is not None))
    return sorted(found)


def test_versions_as_of_is_the_newest_known_version_on_every_day(spark: SparkSession) -> None:
    versions = history(spark)
    for day in range(-1, 9):
        as_of = (D + timedelta(days=day)).date()
        actual = versions_as_of(versions, ["key"], as_of)
        assert actual.columns == [*versions.columns, "is_deleted"]
        assert sorted(tuple(row) for row in actual.collect()) == by_definition(as_of), as_of


def test_versions_as_of_keeps_a_deleted_keys_last_state(spark: SparkSession) -> None:
    rows = {r["key"]: r for r in versions_as_of(history(spark), ["key"], date(2026, 3, 5)).collect()}
    assert rows["deleted_then_back"]["value"] == "deleted_then_back#1" and rows["deleted_then_back"]["is_deleted"]
    assert rows["deleted_twice"]["value"] == "deleted_twice#2" and rows["deleted_twice"]["is_deleted"]
    assert rows["changed"]["value"] == "changed#2" and not rows["changed"]["is_deleted"]
    assert rows["changed"]["effective_to"] is None  # ends after the day: hidden
    assert "late_start" not in rows
