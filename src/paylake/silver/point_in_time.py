"""Point-in-time views of bronze SCD2 history: what was known, and what was valid, at the end of a day.

Bronze versions carry ``effective_from`` (when the change happened in the source) and ``effective_to`` (when
the next version or a snapshot deletion replaced it, null while current). "As of day D" means the end of D:
a version counts when it started before D + 1 day, so a change made at 15:00 on D is part of D's picture.
Nothing here looks at the wall clock or at the table's current flags, so a past ``as_of`` reproduces that day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from paylake.contract import EFFECTIVE_FROM, EFFECTIVE_TO, RECORD_VERSION


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` (exclusive upper bound of the day)."""
    return datetime.combine(day + timedelta(days=1), time.min)


def day_end(day: Column) -> Column:
    """Column version of :func:`end_of_day` for a date column."""
    return F.date_add(day, 1).cast("timestamp")


def known_versions(history: DataFrame, as_of: date) -> DataFrame:
    """Versions that had started by the end of ``as_of``; a later end is hidden (still open on that day)."""
    cutoff = F.lit(end_of_day(as_of))
    return history.where(F.col(EFFECTIVE_FROM) < cutoff).withColumn(
        EFFECTIVE_TO, F.when(F.col(EFFECTIVE_TO) < cutoff, F.col(EFFECTIVE_TO))
    )


def versions_as_of(history: DataFrame, keys: Sequence[str], as_of: date) -> DataFrame:
    """The latest version of every key known by the end of ``as_of``, with ``is_deleted``.

    ``is_deleted`` is true when that version had already ended by then (a snapshot feed dropped the key): the
    key's last known state is kept so that, for example, an invoice of a since-deleted account still resolves.

    A key's versions do not overlap (a version ends no later than the next one starts, see
    :mod:`paylake.bronze.scd2`), so at most one known version is still open at the end of ``as_of``, and when
    there is one it is the latest. Only the keys without one (deleted by then) need their versions ranked, so the
    window runs over ended versions only, not over the whole history (3.1M line items: 15.9 s -> 10.6 s).
    """
    cutoff = F.lit(end_of_day(as_of))
    started = history.where(F.col(EFFECTIVE_FROM) < cutoff)
    # As in known_versions, an end after the cutoff is hidden. The filters compare stored values, so Parquet
    # statistics let the scan of ended versions (few in a table of mostly current rows) skip row groups.
    live = started.where(F.col(EFFECTIVE_TO).isNull() | (F.col(EFFECTIVE_TO) >= cutoff)).withColumn(
        EFFECTIVE_TO, F.lit(None).cast("timestamp")
    )
    ended = started.where(F.col(EFFECTIVE_TO) < cutoff)
    newest = Window.partitionBy(*keys).orderBy(F.col(RECORD_VERSION).desc())
    last_ended = ended.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
    # Keys with both an open and an ended version: the ended side is small, so Spark broadcasts it.
    changed = live.select(*keys).join(ended.select(*keys).distinct(), list(keys), "left_semi")
    deleted = last_ended.join(changed, list(keys), "left_anti")
    return live.unionByName(deleted).withColumn("is_deleted", F.col(EFFECTIVE_TO).isNotNull())


def valid_on(facts: DataFrame, day: str, history: DataFrame, key: str, history_key: str, prefix: str) -> DataFrame:
    """Join each fact row to the version of ``history`` valid at the end of its ``day`` column.

    When no version was valid that day, the nearest one stands in and ``<prefix>version_fallback`` says so: a
    fact dated before the key's first known version takes the first (the feed started after the fact; its
    earliest state is the best evidence), and a fact dated after a deleted key's last version takes that last
    one. Every history column except the key arrives as ``<prefix><column>``; a key with no version at all
    leaves nulls.

    Args:
        facts: rows with ``key`` and the date column ``day``.
        day: name of the date column that picks the version.
        history: the referenced table's versions (limited to what is known, see :func:`known_versions`).
        key: the facts' reference column.
        history_key: the history's key column.
        prefix: prefix of the joined columns.
    """
    by_version = Window.partitionBy(history_key).orderBy(F.col(RECORD_VERSION))
    renamed = history.select(
        F.col(history_key).alias("_pit_key"),
        *[F.col(c).alias(f"{prefix}{c}") for c in history.columns if c != history_key],
        (F.row_number().over(by_version) == 1).alias("_pit_first"),
        F.lead(RECORD_VERSION).over(by_version).isNull().alias("_pit_last"),
    )
    start, end = F.col(f"{prefix}{EFFECTIVE_FROM}"), F.col(f"{prefix}{EFFECTIVE_TO}")
    moment = day_end(F.col(day))
    valid = (start < moment) & (end.isNull() | (end >= moment))
    fallback = (F.col("_pit_first") & (start >= moment)) | (F.col("_pit_last") & end.isNotNull() & (end < moment))
    joined = facts.join(renamed, (F.col(key) == F.col("_pit_key")) & (valid | fallback), "left")
    return joined.withColumn(f"{prefix}version_fallback", F.coalesce(fallback, F.lit(False))).drop(
        "_pit_key", "_pit_first", "_pit_last"
    )


def column_changes(versions: DataFrame, keys: Sequence[str], column: str) -> DataFrame:
    """One row per version that changed ``column`` from the version before it.

    Returns:
        ``keys``, ``changed_at`` (the version's ``effective_from``), ``record_version``, ``previous``, ``value``.
    """
    by_version = Window.partitionBy(*keys).orderBy(RECORD_VERSION)
    return (
        versions.select(
            *keys,
            F.col(EFFECTIVE_FROM).alias("changed_at"),
            RECORD_VERSION,
            F.lag(column).over(by_version).alias("previous"),
            F.col(column).alias("value"),
            F.row_number().over(by_version).alias("_n"),
        )
        .where((F.col("_n") > 1) & ~F.col("previous").eqNullSafe(F.col("value")))
        .drop("_n")
    )


def last_changes(changes: DataFrame, keys: Sequence[str], name: str) -> DataFrame:
    """Per key: ``<name>_changes`` (count), and the last change's ``last_<name>_change_at``,
    ``previous_<name>`` and its new value ``last_<name>_value``."""
    last = F.max(F.struct("changed_at", RECORD_VERSION, "previous", "value"))
    return (
        changes.groupBy(*keys)
        .agg(F.count(F.lit(1)).alias(f"{name}_changes"), last.alias("_last"))
        .select(
            *keys,
            f"{name}_changes",
            F.col("_last.changed_at").alias(f"last_{name}_change_at"),
            F.col("_last.previous").alias(f"previous_{name}"),
            F.col("_last.value").alias(f"last_{name}_value"),
        )
    )


def percent_change(before: str, after: str) -> Column:
    """``after`` relative to ``before`` in percent, rounded to 2 places; null when ``before`` is null or 0."""
    ratio = F.col(after).cast("double") / F.col(before).cast("double")
    return F.when(F.col(before) != 0, F.round((ratio - 1) * 100, 2))
