"""SCD Type 2 change computation: a pure function from (batch, current rows) to the rows a MERGE must write.

Semantics (the same for one file or a backlog of many, so a backlog equals day-by-day loads):

* Events are replayed per key in extract-date order, then by the sequence column. Within one file, rows of a
  key with the same sequence value collapse to the last one; across a date's deliveries in one batch (an original
  and its ``_v<N>`` corrections), to the one of the file whose name sorts last.
* Only a strictly newer sequence value than the newest already seen for the key may change it; an older or
  equal one is stale and never overwrites history.
* A newer event whose ``row_hash`` (over ``compare_columns`` only) differs from the version before it opens a
  version. A newer event with the same hash opens nothing but refreshes that version's untracked columns and
  sequence value in place (SCD1 for untracked columns), so the current row always holds the newest event seen.
* Snapshot tables: a live key missing from an extract dated D is deleted: its current version closes at D. A
  key that was present in the file but whose row was rejected is *not* missing. A deleted key that comes back
  opens a new version starting no earlier than the extract date it came back on. A snapshot dated on or before
  the latest one already applied (``applied_through``) is superseded and changes nothing.
* ``effective_from`` is the sequence value (business time of the change), never earlier than the previous
  version's; ``effective_to`` is the next version's ``effective_from`` (or the delete time), null while current.

The result has the target's columns plus ``_change`` (``insert``, ``close`` or ``refresh``), ready for
:func:`scd2_merge_spec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from paylake.contract import (
    EFFECTIVE_FROM,
    EFFECTIVE_TO,
    EXTRACT_DATE,
    IS_CURRENT,
    RECORD_VERSION,
    ROW_HASH,
    SCD2_COLUMNS,
    SOURCE_FILE,
    SOURCE_ROW,
)
from paylake.lake.store import MergeSpec

CHANGE = "_change"


@dataclass(frozen=True)
class Scd2Spec:
    """What SCD2 needs to know about a table.

    Attributes:
        keys: business key columns.
        compare_columns: tracked columns; only their changes open versions.
        sequence_column: timestamp or date ordering versions of a key.
        columns: every column of a version row besides the SCD2 columns (data, flags, audit), in table order.
        snapshot: the feed is a full snapshot per extract, so missing keys are deletions.
    """

    keys: tuple[str, ...]
    compare_columns: tuple[str, ...]
    sequence_column: str
    columns: tuple[str, ...]
    snapshot: bool


def row_hash(columns: Sequence[str]) -> Column:
    """SHA-256 over the given columns' text, with a marker for null so that null and '' differ."""
    parts = [F.coalesce(F.col(c).cast("string"), F.lit("\u0000")) for c in columns]
    return F.sha2(F.concat_ws("\u0001", *parts), 256)


def target_columns(spec: Scd2Spec) -> list[str]:
    """Column order of an SCD2 table."""
    return [*spec.columns, *SCD2_COLUMNS]


def _events(
    batch: DataFrame,
    current: DataFrame | None,
    presence: DataFrame | None,
    spec: Scd2Spec,
    applied_through: date | None,
) -> DataFrame:
    keys, seq = list(spec.keys), spec.sequence_column
    # The last row of a file wins; of two deliveries of one date in a batch, the correction's (``_v2`` sorts last).
    latest_per_extract = Window.partitionBy(*keys, seq, EXTRACT_DATE).orderBy(
        F.col(SOURCE_FILE).desc(), F.col(SOURCE_ROW).desc()
    )
    upserts = (
        batch.withColumn("_rn", F.row_number().over(latest_per_extract))
        .where("_rn = 1")
        .select(
            *spec.columns,
            EXTRACT_DATE,
            F.lit("U").alias("_kind"),
            F.lit(1).alias("_kind_order"),
            F.col(seq).cast("timestamp").alias("_seq"),
            row_hash(spec.compare_columns).alias(ROW_HASH),
            F.col(SOURCE_ROW).alias("_row"),
            F.lit(None).cast("timestamp").alias(EFFECTIVE_FROM),
            F.lit(None).cast("int").alias(RECORD_VERSION),
            F.lit(None).cast("boolean").alias("_was_current"),
        )
    )
    superseded = spec.snapshot and applied_through is not None
    # A snapshot no newer than one already applied is superseded as a whole: its rows and absences are old news.
    events = upserts.where(F.col(EXTRACT_DATE) > F.lit(applied_through)) if superseded else upserts
    if current is not None:
        existing = current.select(
            *spec.columns,
            F.lit(None).cast("date").alias(EXTRACT_DATE),
            F.lit("C").alias("_kind"),
            F.lit(0).alias("_kind_order"),
            F.col(seq).cast("timestamp").alias("_seq"),
            ROW_HASH,
            F.lit(0).alias("_row"),
            EFFECTIVE_FROM,
            RECORD_VERSION,
            F.col(IS_CURRENT).alias("_was_current"),
        )
        # The last version of a deleted key ends in a delete, so a key that comes back is known to return.
        ended = current.where(~F.col(IS_CURRENT)).select(
            *keys,
            F.lit(None).cast("date").alias(EXTRACT_DATE),
            F.lit("D").alias("_kind"),
            F.lit(2).alias("_kind_order"),
            F.col(EFFECTIVE_TO).alias("_seq"),
            F.lit(0).alias("_row"),
        )
        events = events.unionByName(existing, allowMissingColumns=True).unionByName(ended, allowMissingColumns=True)
    if spec.snapshot and presence is not None:
        live = current.where(F.col(IS_CURRENT)) if current is not None else None
        deletes = _deletes(presence, live, spec)
        deletes = deletes.where(F.col(EXTRACT_DATE) > F.lit(applied_through)) if superseded else deletes
        events = events.unionByName(deletes, allowMissingColumns=True)
    return events


def _deletes(presence: DataFrame, current: DataFrame | None, spec: Scd2Spec) -> DataFrame:
    """A delete event on each extract date where a key that was present the extract before is missing."""
    keys = list(spec.keys)
    seen = presence.select(*keys, EXTRACT_DATE).distinct().withColumn("_present", F.lit(True))
    known = seen.select(*keys)
    if current is not None:
        known = known.unionByName(current.select(*keys))
    live_before = (
        current.select(*keys).distinct().withColumn("_live_before", F.lit(True))
        if current is not None
        else known.limit(0).withColumn("_live_before", F.lit(True))
    )
    dates = presence.select(EXTRACT_DATE).distinct()
    grid = (
        known.distinct()
        .crossJoin(F.broadcast(dates))
        .join(seen, [*keys, EXTRACT_DATE], "left")
        .join(live_before, keys, "left")
        .withColumn("_present", F.coalesce("_present", F.lit(False)))
    )
    by_date = Window.partitionBy(*keys).orderBy(EXTRACT_DATE)
    was_present = F.coalesce(F.lag("_present").over(by_date), F.coalesce(F.col("_live_before"), F.lit(False)))
    return (
        grid.withColumn("_was_present", was_present)
        .where(~F.col("_present") & F.col("_was_present"))
        .select(
            *keys,
            EXTRACT_DATE,
            F.lit("D").alias("_kind"),
            F.lit(2).alias("_kind_order"),
            F.col(EXTRACT_DATE).cast("timestamp").alias("_seq"),
            F.lit(0).alias("_row"),
        )
    )


def scd2_changes(
    batch: DataFrame,
    current: DataFrame | None,
    spec: Scd2Spec,
    presence: DataFrame | None = None,
    applied_through: date | None = None,
) -> DataFrame:
    """Rows to MERGE for a batch: new versions, and current rows that close or are refreshed.

    Args:
        batch: accepted rows with ``spec.columns``, ``_extract_date``, ``_source_file`` and ``_source_row``.
        current: for (at least) the batch's keys, the target's latest version of each key: its current row, and
            for snapshot tables the closed last version of a deleted key (see :func:`latest_versions`); ``None``
            for a new table.
        spec: the table's SCD2 settings.
        presence: snapshot tables only: every key seen per ``_extract_date``, rejected rows included.
        applied_through: latest extract date already applied to the table; older snapshots change nothing.

    Returns:
        Target-shaped rows plus ``_change``: ``insert`` (a new version), ``close`` (a current row that ends) or
        ``refresh`` (a current row whose untracked columns and sequence value a newer, unchanged row updates).
        Stale and repeated events produce nothing.
    """
    keys = list(spec.keys)
    kind = F.col("_kind")
    order: list[Column | str] = [F.col(EXTRACT_DATE).asc_nulls_first(), "_kind_order", "_seq", "_row"]
    by_key = Window.partitionBy(*keys).orderBy(*order)
    upto_here = by_key.rowsBetween(Window.unboundedPreceding, 0)
    is_delete = (kind == "D").cast("int")
    # A snapshot delete of a key that never had a version (it was only seen in rejected rows) deletes nothing
    # and must not make the key's first real row look like a returning key.
    anything_before = F.sum(1 - is_delete).over(by_key.rowsBetween(Window.unboundedPreceding, -1))
    events = (
        _events(batch, current, presence, spec, applied_through)
        .withColumn("_anything_before", F.coalesce(anything_before, F.lit(0)) > 0)
        .where((kind != "D") | F.col("_anything_before"))
        .withColumn("_segment", F.sum(is_delete).over(upto_here) - is_delete)
    )

    # Only a strictly newer sequence value may change a key (a delete starts a new segment).
    in_segment = Window.partitionBy(*keys, "_segment").orderBy(*order)
    before_here = in_segment.rowsBetween(Window.unboundedPreceding, -1)
    events = events.withColumn("_newest_before", F.max("_seq").over(before_here)).where(
        (kind != "U") | F.col("_newest_before").isNull() | (F.col("_seq") > F.col("_newest_before"))
    )
    versions_before = F.coalesce(F.sum((kind != "D").cast("int")).over(before_here), F.lit(0))
    previous_hash = F.lag(ROW_HASH).over(in_segment)
    starts = (
        (kind == "C")
        | ((kind == "U") & (previous_hash.isNull() | (previous_hash != F.col(ROW_HASH))))
        | ((kind == "D") & (versions_before > 0))
    )
    events = events.withColumn("_starts", starts).where((kind != "D") | F.col("_starts"))
    # Events that change nothing tracked refresh the version they follow (its "run"): the run's last event
    # supplies untracked columns and the sequence value, so the current row always holds the newest one seen.
    events = events.withColumn("_run", F.sum(F.col("_starts").cast("int")).over(upto_here))
    in_run = Window.partitionBy(*keys, "_run")
    newest_first = [F.col(EXTRACT_DATE).desc_nulls_last(), F.desc("_kind_order"), F.desc("_seq"), F.desc("_row")]
    latest = events.withColumn("_last", F.row_number().over(in_run.orderBy(*newest_first)) == 1)
    run_data = latest.where("_last").select(
        *keys,
        "_run",
        *[F.col(c).alias(f"_latest_{c}") for c in spec.columns if c not in keys],
        F.col("_seq").alias("_latest_seq"),
    )
    kept = events.where("_starts")

    # A version starts at its sequence value, or after a delete no earlier than the extract date it came back
    # on, and never earlier than anything before it for the key (a running maximum keeps intervals ordered).
    base = (
        F.when(kind == "C", F.col(EFFECTIVE_FROM))
        .when(
            (kind == "U") & (F.col("_segment") > 0) & F.col("_first_in_segment"),
            F.greatest("_seq", F.col(EXTRACT_DATE).cast("timestamp")),
        )
        .otherwise(F.col("_seq"))
    )
    kept = kept.withColumn("_first_in_segment", F.row_number().over(in_segment) == 1).withColumn("_base", base)
    kept = kept.withColumn("_at", F.max("_base").over(upto_here))
    first_version = F.max(F.when(kind == "C", F.col(RECORD_VERSION))).over(Window.partitionBy(*keys))
    new_versions = F.sum((kind == "U").cast("int")).over(upto_here)
    chained = (
        kept.withColumn(EFFECTIVE_TO, F.lead("_at").over(by_key))
        .withColumn(RECORD_VERSION, (F.coalesce(first_version, F.lit(0)) + new_versions).cast("int"))
        .withColumn(EFFECTIVE_FROM, F.col("_at"))
        .withColumn(IS_CURRENT, F.col(EFFECTIVE_TO).isNull())
        .join(run_data, [*keys, "_run"])
        .withColumns({c: F.col(f"_latest_{c}") for c in spec.columns if c not in keys})
    )
    was_current = (kind == "C") & F.col("_was_current")
    change = (
        F.when(kind == "U", F.lit("insert"))
        .when(was_current & F.col(EFFECTIVE_TO).isNotNull(), F.lit("close"))
        .when(was_current & (F.col("_latest_seq") > F.col("_seq")), F.lit("refresh"))
    )
    return chained.withColumn(CHANGE, change).where(F.col(CHANGE).isNotNull()).select(*target_columns(spec), CHANGE)


def latest_versions(history: DataFrame, keys: Sequence[str]) -> DataFrame:
    """The highest ``record_version`` of every key: its current row, or the last version of a deleted key."""
    newest = Window.partitionBy(*keys).orderBy(F.col(RECORD_VERSION).desc())
    return history.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")


def scd2_merge_spec(spec: Scd2Spec, partition_by: Sequence[str] = ()) -> MergeSpec:
    """The MERGE that applies :func:`scd2_changes`: update matched current rows, insert new versions.

    Rows are matched on key and ``record_version``, so new versions never match and closes/refreshes always
    do. Partition columns join the predicate so the engine can prune files.
    """
    on = [f"t.{c} = s.{c}" for c in [*spec.keys, RECORD_VERSION, *partition_by]]
    updated = [c for c in spec.columns if c not in spec.keys] + [EFFECTIVE_TO, IS_CURRENT]
    return MergeSpec(
        predicate=" AND ".join(on),
        update={column: f"s.{column}" for column in updated},
        matched_condition=f"t.{IS_CURRENT} = true",
        insert_all=True,
    )
