"""Seeded synthetic landing feeds with real signal for risk scoring.

The simulation runs day by day over ``history_days`` before the first extract plus ``days`` extract days:

* Each account has a hidden financial health (segment-dependent) and a payment habit that feeds back from its
  own history. Some accounts go through a distress episode: health drops, and the credit team reacts within
  days (credit limit cut, put on hold, terms shortened), so the account change precedes the burst of late
  payments that follows once the invoices issued in distress come due.
* Late-payment probability rises with weak health, high credit utilisation, disputes and past lateness.
* Files follow the bundled metadata's landing contract: full daily snapshots of accounts and skus; daily
  increments of new and changed invoices and line items, the first extract carrying all history up to that day.
* About 1-3% of increment rows (fewer in snapshots) are dirty in realistic ways.

Same config, same bytes: all randomness comes from one seeded generator and iteration order is fixed.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import IO

import numpy as np

from paylake.datagen.dirt import ACCOUNT_DIRT, INVOICE_DIRT, LINE_DIRT, SKU_DIRT, dirty
from paylake.datagen.simulation import GeneratorConfig, Simulation
from paylake.datagen.vocabulary import ACCOUNT_COLUMNS, INVOICE_COLUMNS, LINE_COLUMNS, SKU_COLUMNS

__all__ = ["GeneratorConfig", "WriteStats", "write_landing"]


@dataclass
class WriteStats:
    """What :func:`write_landing` wrote."""

    files: int = 0
    rows: int = 0
    bytes: int = 0


def _write(path: Path, columns: list[str], rows: Iterable[dict[str, str]], stats: WriteStats) -> None:
    """Write ``rows`` as they come (nothing is held: the first extract of a large book is millions of rows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            written += 1
    stats.files += 1
    stats.rows += written
    stats.bytes += path.stat().st_size


def _spooled(spool: IO[str]) -> Iterator[dict[str, str]]:
    """The lines put in ``spool`` (see :func:`write_landing`), as the rows they were."""
    spool.seek(0)
    for values in csv.reader(spool):
        yield dict(zip(LINE_COLUMNS, values, strict=True))


def write_landing(config: GeneratorConfig, out: Path) -> WriteStats:
    """Simulate and write ``<out>/<table>/<table>_<YYYYMMDD>.csv`` for every extract day.

    Memory holds the simulation's state, not the files: rows are written as they are dirtied, and the invoice
    lines issued before the first extract (which carries them all) wait in a temporary file under ``out``, in issue
    order."""
    sim = Simulation(config)
    sim.create_catalog()
    sim.create_accounts()
    dirt = np.random.default_rng(config.seed + 1)
    stats = WriteStats()
    first = config.history_days
    out.mkdir(parents=True, exist_ok=True)  # the spool sits beside the files (a temp dir may be a small tmpfs)
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8", dir=out) as spool:
        history_lines = csv.writer(spool, lineterminator="\n")
        for day in range(sim.total_days):
            sim.account_changes(day)
            sim.catalog_changes(day)
            sim.new_invoices(day)
            sim.invoice_events(day)
            if day < first:
                sim.changed_invoices.pop(day, None)
                history_lines.writerows([line[c] for c in LINE_COLUMNS] for line in sim.new_lines.pop(day, []))
                continue
            stamp = sim.day(day).strftime("%Y%m%d")
            invoices: Iterable[dict[str, str]]
            lines: Iterable[dict[str, str]]
            if day == first:  # the first extract carries the latest state of every invoice and line so far
                invoices = (inv.row for inv in sim.invoices.values())
                lines = chain(_spooled(spool), sim.new_lines.get(day, []))
            else:
                invoices, lines = sim.changed_invoices.get(day, []), sim.new_lines.get(day, [])
            rate = config.dirty_rate
            _write(
                out / "accounts" / f"accounts_{stamp}.csv",
                ACCOUNT_COLUMNS,
                dirty(sim.account_snapshot(day), ACCOUNT_DIRT, rate / 6, dirt),
                stats,
            )
            _write(
                out / "skus" / f"skus_{stamp}.csv",
                SKU_COLUMNS,
                dirty(sim.sku_snapshot(day), SKU_DIRT, rate / 6, dirt),
                stats,
            )
            _write(
                out / "invoices" / f"invoices_{stamp}.csv",
                INVOICE_COLUMNS,
                dirty(invoices, INVOICE_DIRT, rate, dirt),
                stats,
            )
            _write(
                out / "invoice_line_items" / f"invoice_line_items_{stamp}.csv",
                LINE_COLUMNS,
                dirty(lines, LINE_DIRT, rate, dirt),
                stats,
            )
            sim.changed_invoices.pop(day, None)
            sim.new_lines.pop(day, None)
    return stats
