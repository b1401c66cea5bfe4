"""The file log, ``ops.ingested_files``: what became of each landing file of a bronze table.

Every entry is appended, never changed; a file's latest entry (by ``ingested_at``) is its state:

* ``ingested``: loaded in a batch (its rows counted per file); the file never loads again;
* ``skipped``: set aside by an operator (``paylake skip``) with a reason, e.g. a refused file that blocked its
  table; it never loads, and its table moves on;
* ``replay``: an operator asked for it to load again (``paylake replay``), e.g. after a rollback; the next run
  takes it as a pending file and logs it ``ingested`` again.

Entries written before the ``action`` column existed read as ``ingested``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Literal

from paylake.bronze.discovery import LandingFile, LandingZone, discover_files
from paylake.config.bronze import BronzeTableConfig
from paylake.contract import INGESTED_FILES, OPS_SCHEMAS, TableRef
from paylake.errors import IngestionError, UsageError
from paylake.frames import arrow_rows
from paylake.lake.store import TableStore
from paylake.quality.gate import GateCounts
from paylake.records import RunInfo

logger = logging.getLogger(__name__)

INGESTED, SKIPPED, REPLAY = "ingested", "skipped", "replay"


@dataclass(frozen=True)
class LogEntry:
    """A file's latest entry in the file log."""

    file_name: str
    extract_date: date
    sha256: str
    action: str
    at: datetime
    batch_id: str | None = None
    note: str | None = None
    table_version: int | None = None


@dataclass(frozen=True)
class FileLog:
    """What the file log knows of one table: each file's latest entry."""

    entries: Mapping[str, LogEntry]

    @property
    def done(self) -> dict[str, str]:
        """Files that will not load again (ingested or set aside): name -> sha256."""
        return {name: e.sha256 for name, e in self.entries.items() if e.action != REPLAY}

    def lost_by(self, table_version: int | None) -> list[LogEntry]:
        """The ingested files whose batch left the table at a version above ``table_version`` (None: the table does
        not exist): files the table no longer holds although the log says they were loaded."""
        below = -1 if table_version is None else table_version
        return sorted(
            (
                e
                for e in self.entries.values()
                if e.action == INGESTED and (e.table_version is not None) and e.table_version > below
            ),
            key=lambda e: (e.extract_date, e.file_name),
        )

    @property
    def latest_applied(self) -> date | None:
        """The newest extract date loaded into the table (what a snapshot file must be newer than)."""
        return max((e.extract_date for e in self.entries.values() if e.action == INGESTED), default=None)

    @property
    def latest_received(self) -> date | None:
        """The newest extract date loaded or set aside: what freshness judges (a file set aside did arrive)."""
        return max((e.extract_date for e in self.entries.values() if e.action != REPLAY), default=None)


def read_file_log(store: TableStore, table: str) -> FileLog:
    """Read ``ops.ingested_files`` for one table."""
    if not store.exists(INGESTED_FILES):
        return FileLog({})
    rows = store.read_rows(INGESTED_FILES, filters=[("table", "=", table)])
    entries: dict[str, LogEntry] = {}
    for row in sorted(rows, key=lambda r: r["ingested_at"]):
        entries[row["file_name"]] = LogEntry(
            row["file_name"],
            row["extract_date"],
            row["sha256"],
            row.get("action") or INGESTED,
            row["ingested_at"],
            row["batch_id"],
            row.get("note"),
            row.get("table_version"),
        )
    return FileLog(entries)


def pending_files(files: Sequence[LandingFile], done: Mapping[str, str]) -> list[tuple[LandingFile, str]]:
    """Discovered files not yet ingested nor set aside, with their checksums.

    Args:
        files: discovered landing files.
        done: file name -> sha256 of every file ingested or set aside for the table (:attr:`FileLog.done`).

    Raises:
        IngestionError: a file was logged before under the same name with other content.
    """
    pending = []
    for file in files:
        checksum = file.sha256()
        previous = done.get(file.name)
        if previous is None:
            pending.append((file, checksum))
        elif previous != checksum:
            raise IngestionError(
                f"{file.path}: a file of this name was already logged with sha256 {previous[:12]}..., the file now "
                f"has {checksum[:12]}...; deliver a correction as a new revision of its extract date (e.g. "
                f"{_revision_example(file.name)}), see docs/operations.md"
            )
    return pending


def _revision_example(name: str) -> str:
    """The name of the next revision of a file: ``x_20261120.csv`` -> ``x_20261120_v2.csv``, ``_v2`` -> ``_v3``."""
    stem, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
    base, marker, number = stem.rpartition("_v")
    if marker and number.isdigit():
        return f"{base}_v{int(number) + 1}{dot}{extension}"
    return f"{stem}_v2{dot}{extension}"


def log_batch(
    store: TableStore,
    table: str,
    pending: Sequence[tuple[LandingFile, str]],
    counts: GateCounts,
    batch_id: str,
    run: RunInfo,
    at: datetime,
    table_version: int | None,
) -> None:
    """Log a loaded batch's files as ``ingested`` with their rows read, loaded and rejected, and the table's version
    after the batch (what :func:`check_table_holds_log` compares with)."""
    rows = []
    for file, checksum in pending:
        read, rejected = counts.per_file.get(file.name, (0, 0))
        counted = (read, read - rejected, rejected)
        rows.append(_entry(table, file, checksum, batch_id, counted, run.run_id, at, table_version=table_version))
    store.put_rows(INGESTED_FILES, arrow_rows(rows, OPS_SCHEMAS[INGESTED_FILES]))


def _entry(
    table: str,
    file: LandingFile,
    checksum: str,
    batch_id: str | None,
    counts: tuple[int, int, int],
    run_id: str,
    at: datetime,
    action: str = INGESTED,
    note: str | None = None,
    table_version: int | None = None,
) -> tuple[Any, ...]:
    path, extract, size = file.path, file.extract_date, file.size_bytes
    return (table, file.name, path, extract, size, checksum, batch_id, *counts, run_id, at, table_version, action, note)


def table_version(store: TableStore, ref: TableRef) -> int | None:
    """The table's current Delta version (None when it does not exist)."""
    return int(str(store.history(ref, 1)[0]["version"])) if store.exists(ref) else None


def check_table_holds_log(store: TableStore, ref: TableRef, log: FileLog) -> None:
    """Refuse to go on when the table is at an older version than the file log says its last batch left it: a
    commit was lost (a deleted or damaged ``_delta_log`` file, a table copied back from an older backup), so files
    the log calls loaded are not in the table and would never load again.

    Raises:
        IngestionError: names the table, both versions and the files concerned, and how to recover.
    """
    version = table_version(store, ref)
    lost = log.lost_by(version)
    if not lost:
        return
    names = ", ".join(e.file_name for e in lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
    expected = max(e.table_version for e in lost if e.table_version is not None)
    state = f"is at version {version}" if version is not None else "does not exist"
    raise IngestionError(
        f"{ref}: the file log says its last batch left the table at version {expected}, but the table {state}: "
        f"commits were lost (a deleted or damaged _delta_log file, or an older copy of the table), and {names} "
        f"would never load again. Nothing was written. Restore the table's _delta_log from a backup, or have the "
        f"files loaded again: 'paylake replay {ref.name} FILE --reason ...' for each, then run (docs/operations.md)"
    )


def set_file_state(
    store: TableStore,
    config: BronzeTableConfig,
    landing: LandingZone,
    file_name: str,
    action: Literal["skipped", "replay"],
    reason: str,
) -> LogEntry:
    """Record an operator's decision on one landing file: set it aside (``skipped``) or load it again
    (``replay``), with the reason.

    Raises:
        UsageError: no reason; the file is not in the table's landing folder; setting aside a file already
            ingested or set aside; replaying a file never logged, or whose content changed since it was logged.
    """
    table = f"bronze.{config.table}"
    if not reason.strip():
        raise UsageError(f"{file_name}: give a --reason; the file log keeps it for whoever looks later")
    files = {f.name: f for f in discover_files(landing, config, date.max)}
    file = files.get(file_name.rsplit("/", 1)[-1])
    if file is None:
        raise UsageError(f"{file_name}: no such landing file of {table} (files: {', '.join(sorted(files)) or 'none'})")
    entry = read_file_log(store, config.table).entries.get(file.name)
    checksum = file.sha256()
    if action == SKIPPED and entry is not None and entry.action != REPLAY:
        raise UsageError(
            f"{file.path}: already {entry.action} ({entry.at:%Y-%m-%d %H:%M} UTC); a loaded file's rows are undone "
            f"with 'paylake rollback', see docs/operations.md"
        )
    if action == REPLAY:
        if entry is None or entry.action == REPLAY:
            raise UsageError(f"{file.path}: not ingested nor set aside, so the next run loads it as it is")
        if entry.sha256 != checksum:
            raise UsageError(
                f"{file.path}: its content changed since it was {entry.action} (sha256 {entry.sha256[:12]}... then, "
                f"{checksum[:12]}... now); deliver a correction as {_revision_example(file.name)} instead"
            )
    at = datetime.now(timezone.utc).replace(tzinfo=None)
    row = _entry(config.table, file, checksum, None, (0, 0, 0), uuid.uuid4().hex[:12], at, action, reason.strip())
    store.put_rows(INGESTED_FILES, arrow_rows([row], OPS_SCHEMAS[INGESTED_FILES]))
    logger.info("%s: %s %s (%s)", table, file.name, action, reason.strip())
    return LogEntry(file.name, file.extract_date, checksum, action, at, None, reason.strip())
