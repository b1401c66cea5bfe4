"""Which SCD2 versions retention archives: closed long enough ago, and never a key's current or latest one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from paylake.contract import EFFECTIVE_TO, RECORD_VERSION


def archivable(keys: Sequence[str], cutoff: datetime) -> Column:
    """True for versions closed before ``cutoff`` that are not their key's latest version.

    The latest version stays even when closed (a deleted key), so a returning key continues its numbering.
    """
    latest = F.max(RECORD_VERSION).over(Window.partitionBy(*keys))
    closed_before = F.col(EFFECTIVE_TO).isNotNull() & (F.col(EFFECTIVE_TO) < F.lit(cutoff))
    return closed_before & (F.col(RECORD_VERSION) < latest)


def split_for_archive(history: DataFrame, keys: Sequence[str], cutoff: datetime) -> tuple[DataFrame, DataFrame]:
    """``(kept, archived)`` rows of an SCD2 ``history``; together they are exactly ``history``."""
    marked = history.withColumn("_archive", archivable(keys, cutoff))
    return (
        marked.where(~F.col("_archive")).drop("_archive"),
        marked.where(F.col("_archive")).drop("_archive"),
    )
