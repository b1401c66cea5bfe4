"""paylake chaos run: `paylake run all`, `paylake maintain` and `paylake rollback` killed with SIGKILL (the whole
process group, the Spark JVM included) at seeded random moments, re-run, and compared with an uninterrupted run.

    python bench/chaos.py [--kills 200] [--seed 7] [--max-kills-per-episode 10] [--lanes 1]
                          [--budget-minutes M] [--out build/chaos]

Episodes take turns: three of the daily run (from a lake holding yesterday's load), one of maintenance and one of a
rollback of bronze.invoices (from the lake after today's run). An episode's runs of its operation are killed one
after another, each at a random moment between 1 s and the uninterrupted operation's duration, until one
completes or the episode has had ``--max-kills-per-episode`` kills (then its next run is left to finish). An
operation that outruns its first kill sets the duration later kills are drawn within, so a machine faster than
during the uninterrupted runs still gets its kills. Then every table must equal the uninterrupted operation's
result (audit timestamps and run/batch ids aside, tests/lakes.py) and no file may be logged twice. The run ends
when ``--kills`` kills have landed and their episode has completed (or, with ``--budget-minutes``, at the end of
the first episode past the budget). With ``--lanes N``, N episodes run side by side, each on a lake of its own
with kills drawn from a generator of its own (seed + lane); the uninterrupted durations are then measured N side by
side too, so kills still spread over the whole operation. Writes ``<out>/results.json``: each kill with its
operation, lane, moment and where it landed (for the run and maintenance, the last table they reported done, or
start-up); the episodes and their differences, rewritten after every episode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

from deltalake import DeltaTable

from paylake.datagen.generator import GeneratorConfig, write_landing

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from lakes import lake_contents  # noqa: E402 - the suite's comparison of two lakes

END = date(2026, 3, 10)
MAINTAIN_AS_OF = date(2027, 6, 1)
# Episode by episode in turn: mostly the daily run, and maintenance and a rollback killed the same way.
OPERATIONS = ("run", "run", "run", "maintain", "rollback")
PROGRESS = re.compile(r"^\[(bronze|silver|gold) (\d+)/(\d+)\] (\w+): (\w+)", re.M)  # "running", or the status
MAINTAINED = re.compile(r"paylake\.pipeline\.maintain: (\w+\.\w+): ", re.M)
T = TypeVar("T")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def paylake(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "paylake.cli", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the JVM with it
    )


def command(operation: str, landing: Path, lake: Path, as_of: date = END) -> list[str]:
    """The arguments of one operation on ``lake``: the daily run, maintenance (a date far enough ahead that old
    versions are archived) or a rollback of bronze.invoices to its first version (0)."""
    where = ["--lake", str(lake)]
    if operation == "run":
        return ["run", "all", "--as-of", as_of.isoformat(), "--landing", str(landing), *where]
    if operation == "maintain":
        return ["maintain", "--as-of", MAINTAIN_AS_OF.isoformat(), *where]
    return ["rollback", "bronze.invoices", "--to-version", "0", *where]


def run_to_end(args: list[str]) -> float:
    started = time.perf_counter()
    process = paylake(*args)
    output, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise SystemExit(f"an uninterrupted {args[0]} failed:\n{output[-3000:]}")
    return time.perf_counter() - started


def landed(operation: str, output: str) -> str:
    """Where a killed operation was, by its last progress line: in the table it was running, after the last
    table it reported done, or before the first."""
    if operation == "maintain":
        tables = MAINTAINED.findall(output)
        return f"maintain after {tables[-1]}" if tables else "maintain start-up"
    if operation == "rollback":
        return "rollback"
    found = PROGRESS.findall(output)
    if not found:
        return "start-up"
    layer, index, total, table, state = found[-1]
    return f"{layer} {'in' if state == 'running' else 'after'} {table} ({index}/{total})"


def logged_twice(lake: Path) -> list[str]:
    log = DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table()
    names = log.column("file_name").to_pylist()
    return sorted(name for name, count in Counter(names).items() if count > 1)


def summary(
    asked: int, kills: list[dict[str, Any]], episodes: list[dict[str, Any]], spans: dict[str, float], seconds: float
) -> dict[str, Any]:
    """The run's figures; written after every episode, so an interrupted chaos run still leaves its count."""
    return {
        "kills": len(kills),
        "kills_asked": asked,
        "episodes": len(episodes),
        "episodes_with_differences": sum(1 for e in episodes if e["different_tables"] or e["logged_twice"]),
        "landed": dict(Counter(re.sub(r" (in|after) .*", "", kill["landed"]) for kill in kills)),
        "seconds": round(seconds, 1),
        "uninterrupted_s": {operation: round(span, 1) for operation, span in spans.items()},
        "kill_log": kills,
        "episode_log": episodes,
    }


@dataclass
class Chaos:
    """The shared state of a chaos run: what each operation should give, how long it takes uninterrupted, and the
    kills and episodes so far (lanes run episodes side by side and record them under ``lock``)."""

    args: argparse.Namespace
    landing: Path
    starts: dict[str, Path]
    spans: dict[str, float]
    expected: dict[str, dict[str, list[str]]]
    kills: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    reserved: int = 0  # kills decided on, not yet landed
    turn: int = 0  # episodes started
    started: float = field(default_factory=time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_operation(self) -> str | None:
        """The next episode's operation, in turn; None when enough kills are landed or reserved, or past the
        budget."""
        with self.lock:
            budget = self.args.budget_minutes * 60 if self.args.budget_minutes else float("inf")
            if len(self.kills) + self.reserved >= self.args.kills or time.perf_counter() - self.started >= budget:
                return None
            operation = OPERATIONS[self.turn % len(OPERATIONS)]
            self.turn += 1
            return operation

    def reserve_kill(self, episode_kills: int) -> bool:
        with self.lock:
            if len(self.kills) + self.reserved >= self.args.kills:
                return False
            if episode_kills >= self.args.max_kills_per_episode:
                return False
            self.reserved += 1
            return True

    def settle(self, kill: dict[str, Any] | None) -> None:
        """A reserved kill landed (``kill``) or its operation finished first (None)."""
        with self.lock:
            self.reserved -= 1
            if kill is not None:
                self.kills.append(kill)

    def record(self, episode: dict[str, Any]) -> None:
        with self.lock:
            self.episodes.append(episode)
            say(
                f"episode {len(self.episodes)} (lane {episode['lane']}, {episode['operation']}): {episode['kills']} "
                f"kill(s), {len(self.kills)} in all, different tables {episode['different_tables']}"
            )
            self.write()

    def write(self) -> dict[str, Any]:
        results = summary(self.args.kills, self.kills, self.episodes, self.spans, time.perf_counter() - self.started)
        (self.args.out / "results.json").write_text(json.dumps(results, indent=2))
        return results


def episode(chaos: Chaos, lane: int, operation: str, chance: random.Random) -> None:
    """Kill ``operation`` on a copy of its start until a run of it completes, then compare with its expected
    tables."""
    lake = chaos.args.out / f"crashed-{lane}"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(chaos.starts[operation], lake)
    episode_kills = 0
    while True:
        attempt_started = time.perf_counter()
        process = paylake(*command(operation, chaos.landing, lake))
        delay = chance.uniform(1.0, chaos.spans[operation])
        killing = chaos.reserve_kill(episode_kills)
        try:
            output, _ = process.communicate(timeout=delay if killing else 1800)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=60)
            kill = {"operation": operation, "lane": lane, "after_s": round(delay, 2)}
            chaos.settle({**kill, "landed": landed(operation, output)})
            episode_kills += 1
            continue
        if killing:
            chaos.settle(None)
        if process.returncode != 0:
            raise SystemExit(f"the {operation} after {episode_kills} kill(s) failed:\n{output[-3000:]}")
        if not episode_kills:  # a whole operation outran its kill: kills are drawn within its duration now
            chaos.spans[operation] = time.perf_counter() - attempt_started
        break
    actual, wanted = lake_contents(lake), chaos.expected[operation]
    different = sorted(name for name in wanted.keys() | actual.keys() if actual.get(name) != wanted.get(name))
    chaos.record(
        {
            "lane": lane,
            "operation": operation,
            "kills": episode_kills,
            "different_tables": different,
            "logged_twice": logged_twice(lake),
        }
    )


def lane(chaos: Chaos, number: int) -> None:
    chance = random.Random(chaos.args.seed + number)
    while (operation := chaos.next_operation()) is not None:
        episode(chaos, number, operation, chance)


def side_by_side(lanes: int, work: Callable[[int], T]) -> list[T]:
    """``work(lane)`` for each lane at once, in threads (each waits on its own process); results in lane order."""
    with ThreadPoolExecutor(max_workers=lanes) as pool:
        return list(pool.map(work, range(lanes)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "chaos")
    parser.add_argument(
        "--budget-minutes", type=float, default=None, help="start no new episode after this long (partial run)"
    )
    parser.add_argument(
        "--max-kills-per-episode",
        type=int,
        default=10,
        help="then the episode's operation runs to the end (no single episode takes most of the kills)",
    )
    parser.add_argument(
        "--lanes", type=int, default=1, help="episodes run side by side, each on a lake of its own (default 1)"
    )
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    landing, base = args.out / "landing", args.out / "base"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=3, end=END, seed=5, history_days=10), landing)
    run_to_end(command("run", landing, base, END - timedelta(days=1)))
    starts = {"run": base}
    # Each operation runs uninterrupted once per lane, side by side, as the lanes will run it: its duration there
    # is the span kills are drawn within, and every lane's result must be the same.
    spans: dict[str, float] = {}
    expected: dict[str, dict[str, list[str]]] = {}
    for operation in ("run", "maintain", "rollback"):
        lakes = [args.out / f"reference-{operation}-{n}" for n in range(args.lanes)]
        for lake in lakes:
            shutil.copytree(starts[operation], lake)
        spans[operation] = statistics.mean(
            side_by_side(args.lanes, lambda n: run_to_end(command(operation, landing, lakes[n])))  # noqa: B023
        )
        contents = [lake_contents(lake) for lake in lakes]
        if any(c != contents[0] for c in contents):
            raise SystemExit(f"two uninterrupted runs of {operation} gave different tables")
        expected[operation] = contents[0]
        if operation == "run":  # maintenance and the rollback start from the lake after today's run
            starts["maintain"] = starts["rollback"] = lakes[0]
    say("uninterrupted: " + ", ".join(f"{op} {span:.1f} s" for op, span in spans.items()) + "; kills land within")

    chaos = Chaos(args, landing, starts, spans, expected)
    side_by_side(args.lanes, lambda n: lane(chaos, n))
    results = chaos.write()
    say(json.dumps({key: value for key, value in results.items() if not key.endswith("_log")}, indent=2))
    return 1 if results["episodes_with_differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
