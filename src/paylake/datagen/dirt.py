"""Realistic dirt in generated rows: nulls, negative amounts, bad dates and numbers, unknown currencies,
orphan keys, swapped dates and duplicates, each at a seeded rate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta

import numpy as np


def dirty(
    rows: Iterable[dict[str, str]], kinds: dict[str, list[str]], rate: float, rng: np.random.Generator
) -> Iterator[dict[str, str]]:
    """``rows`` as they come, about ``rate`` of them corrupted; a duplicate adds a row, the rest modify a copy.

    Lazy, row by row: ``rng`` is drawn as the rows are consumed, so a file's rows must be consumed before the next
    file's are dirtied (the generator writes one file at a time)."""
    names = list(kinds)
    for row in rows:
        if rng.random() >= rate:
            yield row
            continue
        kind = names[int(rng.integers(len(names)))]
        bad = dict(row)
        if kind == "duplicate":
            yield row
            yield dict(row)
            continue
        column = kinds[kind][int(rng.integers(len(kinds[kind])))]
        if kind == "null":
            bad[column] = ""
        elif kind == "negative":
            bad[column] = "-" + bad[column].lstrip("-")
        elif kind == "bad_date":
            bad[column] = ["2026/13/45", "31-12-2026", "yesterday"][int(rng.integers(3))]
        elif kind == "bad_number":
            value = bad[column] or "1"
            bad[column] = f"{float(value):,.2f}" if float(value) >= 1000 else f"{value}abc"
        elif kind == "unknown_currency":
            bad[column] = ["XXX", "usd", "EURO"][int(rng.integers(3))]
        elif kind == "orphan":
            bad[column] = bad[column].split("-")[0] + "-999999"
        elif kind == "swap_dates":
            bad["due_date"] = (
                date.fromisoformat(bad["invoice_date"]) - timedelta(days=int(rng.integers(1, 30)))
            ).isoformat()
        yield bad


INVOICE_DIRT = {
    "null": ["invoice_id", "account_id"],
    "negative": ["invoice_amount"],
    "swap_dates": ["due_date"],
    "unknown_currency": ["currency"],
    "orphan": ["account_id"],
    "duplicate": [],
    "bad_date": ["invoice_date", "due_date"],
    "bad_number": ["invoice_amount"],
}
LINE_DIRT = {
    "null": ["line_item_id"],
    "negative": ["quantity"],
    "orphan": ["sku_id"],
    "duplicate": [],
    "bad_number": ["line_amount", "quantity"],
}
ACCOUNT_DIRT = {"bad_number": ["credit_limit"], "null": ["segment"], "bad_date": ["created_date"]}
SKU_DIRT = {"negative": ["unit_price"], "null": ["category"]}
