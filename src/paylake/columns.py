"""Column expressions shared by the builders of several layers."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def map_agg(key: str | Column, value: str | Column) -> Column:
    """Aggregate: the group's ``key -> value`` pairs as a map, its entries in key order.

    ``collect_list`` gathers in the order rows arrive from the shuffle, which differs between runs, partitionings
    and engines; a map is written in its entry order, so unsorted the same rows gave maps that compare unequal
    (found by the engine parity test)."""
    entries = F.collect_list(F.struct(F.col(key) if isinstance(key, str) else key, value))
    return F.map_from_entries(F.array_sort(entries))
