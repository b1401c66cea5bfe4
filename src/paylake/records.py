"""The records a run produces: who the run is, and what each table's part of it did.

Ingestion and builds return :class:`TableCounts`; the runner wraps them, with the table's status, timing and
error, into one immutable :class:`TableResult` per table. A failure raised after a batch was counted carries
its counts (:attr:`paylake.errors.PaylakeError.counts`), so the summary shows what the gate saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

Status = Literal["SUCCESS", "FAILED", "SKIPPED"]


@dataclass(frozen=True)
class RunInfo:
    """Identity of a run: its id, business date and start (audit only)."""

    run_id: str
    as_of: date
    started_at: datetime


@dataclass(frozen=True)
class TableCounts:
    """What one table's batch held. Row counts follow ``rows_read = rows_loaded + rows_rejected + rows_held_back``:
    a failed batch loads nothing; its rows are rejected (kept in the quarantine) or held back (left in their
    files, to load once the batch passes)."""

    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_held_back: int = 0
    rows_flagged: int = 0
    new_versions: int = 0
    closed_versions: int = 0
    batch_id: str | None = None
    failures_by_rule: Mapping[str, int] = field(default_factory=dict)
    warning: str | None = None
    # Bronze freshness: the newest extract date received (loaded, set aside or pending) and the hours since the
    # newest landing file of the table last changed (operational, read off the clock like durations).
    newest_extract: date | None = None
    hours_since_newest_file: float | None = None


@dataclass(frozen=True, kw_only=True)
class TableResult(TableCounts):
    """The outcome of one table in a layer run: its counts, status, own start time, duration and error."""

    table: str
    status: Status
    started_at: datetime | None = None
    seconds: float = 0.0
    error: str | None = None


class RunObserver(Protocol):
    """Told of each table of a layer run as it starts and ends (the CLI's progress lines; silent elsewhere)."""

    def started(self, layer: str, table: str, index: int, total: int) -> None:
        """``table``, number ``index`` of ``total`` in ``layer``, starts."""

    def finished(self, layer: str, result: TableResult, index: int, total: int) -> None:
        """``result`` of table number ``index`` of ``total`` in ``layer``."""


class Unobserved:
    """A :class:`RunObserver` that ignores everything (library use, notebooks, tests)."""

    def started(self, layer: str, table: str, index: int, total: int) -> None:
        del layer, table, index, total

    def finished(self, layer: str, result: TableResult, index: int, total: int) -> None:
        del layer, result, index, total
