"""SCD Type 2 change computation: a pure function from (batch, current rows) to the rows a MERGE must write.

Semantics (the same for one file or a backlog of many, so a backlog equals day-by-day loads):

* Events are replayed per key in extract-date order, then by the sequence column. Within one file, rows of a
  key with the same sequence value collapse to the last one.
* An event older (by sequence) than the newest event already seen for its key is stale and never
  overwrites history. An event whose ``row_hash`` (over ``compare_columns`` only) equals the version before it
  is unchanged. Every other event opens a version.
* Snapshot tables: a live key missing from an extract dated D is deleted: its current version closes at D. A
  key that was present in the file but whose row was rejected is *not* missing. A deleted key that comes back
  opens a new version starting no earlier than the extract date it came back on.
* ``effective_from`` is the sequence value (business time of the change), never earlier than the previous
  version's; ``effective_to`` is the next version's ``effective_from`` (or the delete time), null while current.

The result has the target's columns plus ``_change`` (``insert`` for new versions, ``close`` for existing
current rows that now end), ready for :func:`scd2_merge_spec`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from paylake.lake.store import MergeSpec

EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH = (
    "effective_from",
    "effective_to",
    "is_current",
    "record_version",
    "row_hash",
)
CHANGE = "_change"
EXTRACT_DATE, SOURCE_ROW = "_extract_date", "_source_row"


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
    return [*spec.columns, EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, RECORD_VERSION, ROW_HASH]


def _events(batch: DataFrame, current: DataFrame | None, presence: DataFrame | None, spec: Scd2Spec) -> DataFrame:
    keys, seq = list(spec.keys), spec.sequence_column
    latest_per_extract = Window.partitionBy(*keys, seq, EXTRACT_DATE).orderBy(F.col(SOURCE_ROW).desc())
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
        )
    )
    events = upserts
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
        )
        events = events.unionByName(existing, allowMissingColumns=True)
    if spec.snapshot and presence is not None:
        events = events.unionByName(_deletes(presence, current, spec), allowMissingColumns=True)
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
    return grid.withColumn("_was_present", was_present).where(~F.col("_present") & F.col("_was_present")).select(
        *keys,
        EXTRACT_DATE,
        F.lit("D").alias("_kind"),
        F.lit(2).alias("_kind_order"),
        F.col(EXTRACT_DATE).cast("timestamp").alias("_seq"),
        F.lit(0).alias("_row"),
    )


def scd2_changes(
    batch: DataFrame, current: DataFrame | None, spec: Scd2Spec, presence: DataFrame | None = None
) -> DataFrame:
    """Rows to MERGE for a batch: new versions (``_change = 'insert'``) and closed current rows (``'close'``).

    Args:
        batch: accepted rows with ``spec.columns``, ``_extract_date`` and ``_source_row``.
        current: the target's current rows for (at least) the batch's keys, or ``None`` for a new table.
        spec: the table's SCD2 settings.
        presence: snapshot tables only: every key seen per ``_extract_date``, rejected rows included.

    Returns:
        Target-shaped rows plus ``_change``; unchanged and stale events produce nothing.
    """
    keys = list(spec.keys)
    events = _events(batch, current, presence, spec)
    order = [F.col(EXTRACT_DATE).asc_nulls_first(), "_kind_order", "_seq", "_row"]
    by_key = Window.partitionBy(*keys).orderBy(*order)
    is_delete = (F.col("_kind") == "D").cast("int")
    events = events.withColumn("_segment", F.sum(is_delete).over(by_key.rowsBetween(Window.unboundedPreceding, 0)) - is_delete)

    in_segment = Window.partitionBy(*keys, "_segment").orderBy(*order)
    newest_before = F.max("_seq").over(in_segment.rowsBetween(Window.unboundedPreceding, -1))
    events = events.withColumn("_newest_before", newest_before).where(
        (F.col("_kind") != "U") | F.col("_newest_before").isNull() | (F.col("_seq") >= F.col("_newest_before"))
    )

    versions_before = F.sum((F.col("_kind") != "D").cast("int")).over(in_segment.rowsBetween(Window.unboundedPreceding, -1))
    events = events.withColumn("_previous_hash", F.lag(ROW_HASH).over(in_segment)).withColumn(
        "_versions_before", F.coalesce(versions_before, F.lit(0))
    )
    kept = events.where(
        (F.col("_kind") == "C")
        | ((F.col("_kind") == "U") & (F.col("_previous_hash").isNull() | (F.col("_previous_hash") != F.col(ROW_HASH))))
        | ((F.col("_kind") == "D") & (F.col("_versions_before") > 0))
    )

    # A version's start: its sequence value, or after a delete the extract date it reappeared on, and never
    # earlier than anything before it for the key (a running maximum keeps intervals ordered).
    deleted_before = F.col("_segment") > 0
    first_in_segment = F.row_number().over(in_segment) == 1
    base = (
        F.when(F.col("_kind") == "C", F.col(EFFECTIVE_FROM))
        .when((F.col("_kind") == "U") & deleted_before & F.col("_first_in_segment"),
              F.greatest("_seq", F.col(EXTRACT_DATE).cast("timestamp")))
        .otherwise(F.col("_seq"))
    )
    kept = kept.withColumn("_first_in_segment", first_in_segment).withColumn("_base", base)
    kept = kept.withColumn("_at", F.max("_base").over(by_key.rowsBetween(Window.unboundedPreceding, 0)))
    first_version = F.max(F.when(F.col("_kind") == "C", F.col(RECORD_VERSION))).over(Window.partitionBy(*keys))
    new_versions = F.sum((F.col("_kind") == "U").cast("int")).over(by_key.rowsBetween(Window.unboundedPreceding, 0))
    chained = (
        kept.withColumn(EFFECTIVE_TO, F.lead("_at").over(by_key))
        .withColumn(RECORD_VERSION, F.coalesce(first_version, F.lit(0)) + new_versions)
        .withColumn(EFFECTIVE_FROM, F.col("_at"))
        .withColumn(IS_CURRENT, F.col(EFFECTIVE_TO).isNull())
    )
    changes = chained.where(
        (F.col("_kind") == "U") | ((F.col("_kind") == "C") & F.col(EFFECTIVE_TO).isNotNull())
    ).withColumn(CHANGE, F.when(F.col("_kind") == "U", F.lit("insert")).otherwise(F.lit("close")))
    return changes.select(*target_columns(spec), CHANGE)


def scd2_merge_spec(spec: Scd2Spec, partition_by: Sequence[str] = ()) -> MergeSpec:
    """The MERGE that applies :func:`scd2_changes`: close matched current rows, insert new versions.

    Rows are matched on key and ``record_version``, so new versions never match and closes always do.
    Partition columns join the predicate so the engine can prune files.
    """
    on = [f"t.{c} = s.{c}" for c in [*spec.keys, RECORD_VERSION, *partition_by]]
    return MergeSpec(
        predicate=" AND ".join(on),
        update={EFFECTIVE_TO: f"s.{EFFECTIVE_TO}", IS_CURRENT: f"s.{IS_CURRENT}"},
        matched_condition=f"t.{IS_CURRENT} = true",
        insert_all=True,
    )
