"""Table versions for operators: list a table's commits and roll it back to an earlier one (Delta restore)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from paylake.config.identifiers import check_identifier
from paylake.contract import LAKE_LAYERS, TableRef
from paylake.errors import UsageError
from paylake.lake.store import TableStore


@dataclass(frozen=True)
class Version:
    """One commit of a table."""

    version: int
    timestamp: datetime | None
    operation: str
    rows_added: int | None
    rows_removed: int | None


def table_ref(name: str) -> TableRef:
    """Parse ``<layer>.<table>``.

    Raises:
        UsageError: not a layer-qualified, valid table name.
    """
    layer, _, table = name.partition(".")
    try:
        if layer not in LAKE_LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAKE_LAYERS)}")
        check_identifier(table)
    except ValueError as exc:
        raise UsageError(f"{name!r} is not <layer>.<table>: {exc}") from None
    return TableRef(layer, table)


def _metric(metrics: object, *names: str) -> int | None:
    if not isinstance(metrics, dict):
        return None
    for name in names:
        if metrics.get(name) is not None:
            return int(metrics[name])
    return None


def versions(store: TableStore, ref: TableRef, limit: int | None = None) -> list[Version]:
    """The table's commits, newest first.

    Raises:
        UsageError: the table does not exist.
    """
    if not store.exists(ref):
        raise UsageError(f"table {ref} does not exist")
    found = []
    for entry in store.history(ref, limit):
        stamp = entry.get("timestamp")
        when = (
            datetime.fromtimestamp(stamp / 1000, timezone.utc)
            if isinstance(stamp, int | float)
            else stamp
            if isinstance(stamp, datetime)
            else None
        )
        metrics = entry.get("operationMetrics")
        found.append(
            Version(
                version=int(str(entry["version"])),
                timestamp=when,
                operation=str(entry.get("operation", "")),
                rows_added=_metric(metrics, "num_added_rows", "num_target_rows_inserted", "numOutputRows"),
                rows_removed=_metric(metrics, "num_removed_rows", "num_deleted_rows"),
            )
        )
    return found


def rollback(store: TableStore, ref: TableRef, version: int) -> int:
    """Restore ``ref`` to ``version``; return the new (latest) version number.

    The restore is a new commit, so a rollback can itself be rolled back.

    Raises:
        UsageError: the table or the version does not exist, or ``version`` is already the latest.
    """
    known = versions(store, ref)
    latest = known[0].version
    if not any(v.version == version for v in known):
        raise UsageError(f"{ref} has no version {version}; versions are {known[-1].version}..{latest}")
    if version == latest:
        raise UsageError(f"{ref} is already at version {version}")
    store.restore(ref, version)
    return versions(store, ref, limit=1)[0].version


def rollback_report(ref: TableRef, version: int, restored: int) -> str:
    """What a rollback did, and what it leaves as it was."""
    lines = [f"restored {ref} to version {version} (the restore is version {restored})"]
    if ref.layer == "bronze":
        lines += [
            "not undone: ops.ingested_files still lists the files of the loads undone, so they will not load again",
            f"  (load one again with 'paylake replay {ref.name} FILE --reason ...', or deliver a correction as a",
            "  _v<N> revision of its date); silver and gold keep what they were built from until the next run",
            "  rebuilds them from the restored table",
        ]
    elif ref.layer in ("silver", "gold"):
        lines.append(f"not undone: the next {ref.layer} run rebuilds {ref} from its inputs")
    return "\n".join(lines)


def render_versions(found: list[Version]) -> str:
    """A table's versions as a text table, newest first (``paylake history`` and the table_versions notebook)."""
    lines = [f"{'version':>8}  {'committed (UTC)':<20} {'operation':<14}{'rows added':>12}{'rows removed':>14}"]
    for v in found:
        when = v.timestamp.strftime("%Y-%m-%d %H:%M:%S") if v.timestamp else ""
        added, removed = ("" if n is None else str(n) for n in (v.rows_added, v.rows_removed))
        lines.append(f"{v.version:>8}  {when:<20} {v.operation:<14}{added:>12}{removed:>14}")
    return "\n".join(lines)
