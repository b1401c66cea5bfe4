"""The lake lock: one holder, a clear message for the second, stale locks taken over."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from paylake.errors import LakeLockedError
from paylake.lake.lock import LOCK_FILE, LockOwner, lake_lock


def test_one_holder_at_a_time_and_the_lock_is_released(tmp_path: Path) -> None:
    first = LockOwner.current("run-a", "paylake run bronze")
    with lake_lock(tmp_path, first):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "run-a"
        with pytest.raises(LakeLockedError, match=r"is in use by run run-a \(paylake run bronze, pid \d+ on .*started"):
            with lake_lock(tmp_path, LockOwner.current("run-b", "paylake run silver")):
                pass
        assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "run-a"  # the loser changed nothing
    assert not (tmp_path / LOCK_FILE).exists()
    with lake_lock(tmp_path, LockOwner.current("run-c", "paylake run gold")):  # free again
        pass


def test_a_failed_run_releases_the_lock(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), lake_lock(tmp_path, LockOwner.current("run-a", "x")):
        raise RuntimeError("boom")
    assert not (tmp_path / LOCK_FILE).exists()


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pid": "dead"}, "is gone"),
        ({"host": "other-host", "started_at": "2026-01-01T00:00:00+00:00"}, "older than"),
    ],
)
def test_a_stale_lock_is_taken_over_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict[str, object], reason: str
) -> None:
    stale = asdict(LockOwner.current("crashed", "paylake run bronze"))
    stale.update({k: dead_pid() if v == "dead" else v for k, v in change.items()})
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING), lake_lock(tmp_path, LockOwner.current("new", "paylake run bronze")):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["run_id"] == "new"
    assert f"taking over the lock of run crashed on {tmp_path}" in caplog.text and reason in caplog.text


def test_a_live_lock_on_another_host_within_the_timeout_holds(tmp_path: Path) -> None:
    other = asdict(LockOwner.current("remote", "paylake run bronze")) | {"host": "other-host", "pid": 1}
    (tmp_path / LOCK_FILE).write_text(json.dumps(other))
    with pytest.raises(LakeLockedError, match="pid 1 on other-host"), lake_lock(tmp_path, LockOwner.current("b", "x")):
        pass


TAKER = """
import sys, time
from pathlib import Path
from paylake.errors import LakeLockedError
from paylake.lake.lock import LockOwner, lake_lock
lake, name = Path(sys.argv[1]), sys.argv[2]
(lake / f"ready-{name}").touch()
while not (lake / "go").exists():
    time.sleep(0.001)
try:
    with lake_lock(lake, LockOwner.current(name, "taker")):
        with (lake / "log").open("a") as log:
            log.write(f"{time.monotonic()} 1 {name}\\n")
        time.sleep(0.2)
        with (lake / "log").open("a") as log:
            log.write(f"{time.monotonic()} -1 {name}\\n")
except LakeLockedError:
    pass
"""


def test_runs_taking_over_one_stale_lock_at_once_never_hold_it_together(tmp_path: Path) -> None:
    takers = 4
    for trial in range(10):
        lake = tmp_path / f"lake{trial}"
        lake.mkdir()
        stale = asdict(LockOwner.current("crashed", "paylake run bronze")) | {"pid": dead_pid()}
        (lake / LOCK_FILE).write_text(json.dumps(stale))
        processes = [subprocess.Popen([sys.executable, "-c", TAKER, str(lake), f"t{i}"]) for i in range(takers)]
        while len(list(lake.glob("ready-*"))) < takers:
            time.sleep(0.01)
        (lake / "go").touch()  # all of them at once
        assert [process.wait(timeout=60) for process in processes] == [0] * takers
        events = sorted((float(at), int(step)) for at, step, _ in (line.split() for line in (lake / "log").open()))
        holding = [sum(step for _, step in events[: index + 1]) for index in range(len(events))]
        assert max(holding) == 1 and holding[-1] == 0, (trial, events)
        assert not (lake / LOCK_FILE).exists() and not list(lake.glob("*.takeover")) + list(lake.glob("*.tmp"))
