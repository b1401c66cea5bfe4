"""One writer per local lake: a lock file with its owner, so two runs on the same lake never both write.

delta-rs detects conflicting commits on one table, but a run writes many tables and the file log in sequence,
so two concurrent runs could each load the same file before either logs it. The lock makes a second run exit
at once with a clear message naming the owner. A lock is stale, and taken over with a warning, when its process
is gone (same host) or it is older than the timeout. On Databricks, the job's ``max_concurrent_runs: 1`` plays
this role.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from paylake.errors import LakeLockedError

logger = logging.getLogger(__name__)

LOCK_FILE = "_paylake.lock"
DEFAULT_TIMEOUT = timedelta(hours=6)
ATTEMPTS = 50  # takeovers and releases seen before giving up
GUARD_TIMEOUT_SECONDS = 60  # a takeover guard older than this was left by a process that died holding it


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lake: enough for an operator to find the process."""

    run_id: str
    command: str
    host: str
    pid: int
    started_at: str

    @classmethod
    def current(cls, run_id: str, command: str) -> LockOwner:
        """The calling process as an owner."""
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        return cls(run_id, command, socket.gethostname(), os.getpid(), now)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(owner: LockOwner, timeout: timedelta) -> str | None:
    """Why a lock may be taken over, or None while its owner may still be running."""
    if owner.host == socket.gethostname() and not _alive(owner.pid):
        return f"its process {owner.pid} is gone"
    started = datetime.fromisoformat(owner.started_at)
    if datetime.now(timezone.utc) - started > timeout:
        return f"it is older than {timeout}"
    return None


def _read(path: Path) -> LockOwner | None:
    try:
        return LockOwner(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):  # a torn or foreign file: treat as held by an unknown, long-gone owner
        return LockOwner("unknown", "unknown", "unknown", -1, "1970-01-01T00:00:00+00:00")


def _create(path: Path, owner: LockOwner) -> bool:
    """Create the lock file holding ``owner`` unless one exists. The file appears with its content at once (a hard
    link to a written temporary file), so no other run ever reads a lock that is still being written: an empty,
    half-written lock would look like one left by a crash and be taken over."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(asdict(owner)))
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)


def _take_over(path: Path, holder: LockOwner) -> bool:
    """Remove ``holder``'s stale lock if it is still the one at ``path``, under a guard file only one process can
    create at a time: two runs taking over the same stale lock at once would otherwise each remove it, the second
    removing the first's new lock, and both would hold the lake. True when the caller may try to take the lock."""
    guard = path.with_name(path.name + ".takeover")
    try:
        descriptor = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > GUARD_TIMEOUT_SECONDS:  # a taker that died mid-takeover
                guard.unlink(missing_ok=True)
        return False
    try:
        if _read(path) != holder:  # released or taken over meanwhile: look again
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(descriptor)
        guard.unlink(missing_ok=True)


@contextmanager
def lake_lock(lake_root: str | Path, owner: LockOwner, timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[None]:
    """Hold the lake's lock for the duration of the block (local lakes only; other roots are not locked).

    Raises:
        LakeLockedError: another live run holds the lock; names it and the lock file.
    """
    if "://" in str(lake_root):
        yield
        return
    path = Path(lake_root) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(ATTEMPTS):
        if _create(path, owner):
            break
        holder = _read(path)
        if holder is None:
            continue  # released between our attempt and the read
        reason = _stale(holder, timeout)
        if reason is None:
            raise LakeLockedError(
                f"lake {lake_root} is in use by run {holder.run_id} ({holder.command}, pid {holder.pid} on "
                f"{holder.host}, started {holder.started_at}); wait for it to finish, or delete {path} if "
                "that process is gone"
            ) from None
        if _take_over(path, holder):
            logger.warning("taking over the lock of run %s on %s: %s", holder.run_id, lake_root, reason)
        else:
            time.sleep(0.01)  # another run is taking it over; see who holds it next
    else:
        raise LakeLockedError(f"lake {lake_root}: could not take the lock {path}; another run keeps taking it")
    try:
        yield
    finally:
        if _read(path) == owner:
            path.unlink(missing_ok=True)
