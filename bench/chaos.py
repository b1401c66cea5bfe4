"""paylake chaos run: `paylake run all`, `paylake maintain` and `paylake rollback` killed with SIGKILL (the whole
process group, the Spark JVM included) at seeded random moments, re-run, and compared with an uninterrupted run.

    python bench/chaos.py [--kills 200] [--seed 7] [--max-kills-per-episode 10] [--budget-minutes M]
                          [--out build/chaos]

Episodes take turns: three of the daily run (from a lake holding yesterday's load), one of maintenance and one of a
rollback of bronze.invoices (from the lake after today's run). An episode's runs of its operation are killed one
after another, each at a random moment between 1 s and the uninterrupted operation's duration, until one
completes or the episode has had ``--max-kills-per-episode`` kills (then its next run is left to finish). An
operation that outruns its first kill sets the duration later kills are drawn within, so a machine faster than
during the uninterrupted runs still gets its kills. Then every table must equal the uninterrupted operation's
result (audit timestamps and run/batch ids aside, tests/lakes.py) and no file may be logged twice. The run ends
when ``--kills`` kills have landed and their episode has completed (or, with ``--budget-minutes``, at the end of
the first episode past the budget). Writes ``<out>/results.json``: each kill with its operation, moment and where
it landed (for the run and maintenance, the last table they reported done, or start-up); the episodes and their
differences, rewritten after every episode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable

from paylake.datagen.generator import GeneratorConfig, write_landing

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from lakes import lake_contents  # noqa: E402 - the suite's comparison of two lakes

END = date(2026, 3, 10)
MAINTAIN_AS_OF = date(2027, 6, 1)
# Episode by episode in turn: mostly the daily run, and maintenance and a rollback killed the same way.
OPERATIONS = ("run", "run", "run", "maintain", "rollback")
PROGRESS = re.compile(r"^\[(bronze|silver|gold) (\d+)/(\d+)\] (\w+)", re.M)
MAINTAINED = re.compile(r"paylake\.pipeline\.maintain: (\w+\.\w+): ", re.M)


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
    """Where a killed operation was: after the last table it reported, or before the first."""
    if operation == "maintain":
        tables = MAINTAINED.findall(output)
        return f"maintain after {tables[-1]}" if tables else "maintain start-up"
    if operation == "rollback":
        return "rollback"
    found = PROGRESS.findall(output)
    if not found:
        return "start-up"
    layer, index, total, table = found[-1]
    return f"{layer} after {table} ({index}/{total})"


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
        "landed": dict(Counter(kill["landed"].split(" after ")[0] for kill in kills)),
        "seconds": round(seconds, 1),
        "uninterrupted_s": {operation: round(span, 1) for operation, span in spans.items()},
        "kill_log": kills,
        "episode_log": episodes,
    }


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
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    landing, base, reference = args.out / "landing", args.out / "base", args.out / "reference"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=3, end=END, seed=5, history_days=10), landing)
    run_to_end(command("run", landing, base, END - timedelta(days=1)))
    shutil.copytree(base, reference)
    starts = {"run": base, "maintain": reference, "rollback": reference}
    spans = {"run": run_to_end(command("run", landing, reference))}
    expected = {"run": lake_contents(reference)}
    for operation in ("maintain", "rollback"):
        done = args.out / f"reference-{operation}"
        shutil.copytree(reference, done)
        spans[operation] = run_to_end(command(operation, landing, done))
        expected[operation] = lake_contents(done)
    say("uninterrupted: " + ", ".join(f"{op} {span:.1f} s" for op, span in spans.items()) + "; kills land within")

    chance = random.Random(args.seed)
    kills: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    started = time.perf_counter()
    budget = args.budget_minutes * 60 if args.budget_minutes else float("inf")
    while len(kills) < args.kills and time.perf_counter() - started < budget:
        operation = OPERATIONS[len(episodes) % len(OPERATIONS)]
        lake = args.out / "crashed"
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(starts[operation], lake)
        episode_kills = 0
        while True:
            attempt_started = time.perf_counter()
            process = paylake(*command(operation, landing, lake))
            delay = chance.uniform(1.0, spans[operation])
            try:
                killing = len(kills) < args.kills and episode_kills < args.max_kills_per_episode
                output, _ = process.communicate(timeout=delay if killing else 1800)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate(timeout=60)
                where = landed(operation, output)
                kills.append({"operation": operation, "after_s": round(delay, 2), "landed": where})
                episode_kills += 1
                continue
            if process.returncode != 0:
                raise SystemExit(f"the {operation} after {episode_kills} kill(s) failed:\n{output[-3000:]}")
            if not episode_kills:  # a whole operation outran its kill: kills are drawn within its duration now
                spans[operation] = time.perf_counter() - attempt_started
            break
        actual, wanted = lake_contents(lake), expected[operation]
        different = sorted(name for name in wanted.keys() | actual.keys() if actual.get(name) != wanted.get(name))
        episodes.append(
            {
                "operation": operation,
                "kills": episode_kills,
                "different_tables": different,
                "logged_twice": logged_twice(lake),
            }
        )
        say(
            f"episode {len(episodes)} ({operation}): {episode_kills} kill(s), {len(kills)} in all, "
            f"different tables {different}"
        )
        summary_so_far = summary(args.kills, kills, episodes, spans, time.perf_counter() - started)
        (args.out / "results.json").write_text(json.dumps(summary_so_far, indent=2))

    results = summary(args.kills, kills, episodes, spans, time.perf_counter() - started)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    say(json.dumps({key: value for key, value in results.items() if not key.endswith("_log")}, indent=2))
    return 1 if results["episodes_with_differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
