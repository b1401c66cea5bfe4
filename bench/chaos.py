"""paylake chaos run: `paylake run all` killed with SIGKILL (its whole process group, the Spark JVM included) at
seeded random moments spread over the run, re-run, and compared with an uninterrupted run of the same day.

    python bench/chaos.py [--kills 200] [--seed 7] [--out build/chaos]

Every episode starts from the same lake holding yesterday's load. Its runs are killed one after another, each at a
random moment between 1 s and the uninterrupted run's duration, until one completes; then every table must equal
the uninterrupted run's (audit timestamps and run/batch ids aside, tests/lakes.py) and no file may be logged twice.
The run ends when ``--kills`` kills have landed and their episode has completed. Writes ``<out>/results.json``:
each kill with the moment and the last table finished before it, the episodes and their differences.
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
PROGRESS = re.compile(r"^\[(bronze|silver|gold) (\d+)/(\d+)\] (\w+)", re.M)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def paylake(landing: Path, lake: Path, as_of: date) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "paylake.cli", "run", "all", "--as-of", as_of.isoformat()]
    return subprocess.Popen(
        [*command, "--landing", str(landing), "--lake", str(lake)],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill takes the JVM with it
    )


def run_to_end(landing: Path, lake: Path, as_of: date) -> float:
    started = time.perf_counter()
    process = paylake(landing, lake, as_of)
    output, _ = process.communicate(timeout=1800)
    if process.returncode != 0:
        raise SystemExit(f"an uninterrupted run failed:\n{output[-3000:]}")
    return time.perf_counter() - started


def landed(output: str) -> str:
    """Where a killed run was: after the last table it reported, or before the first."""
    found = PROGRESS.findall(output)
    if not found:
        return "start-up"
    layer, index, total, table = found[-1]
    return f"{layer} after {table} ({index}/{total})"


def logged_twice(lake: Path) -> list[str]:
    log = DeltaTable(str(lake / "ops" / "ingested_files")).to_pyarrow_table()
    names = log.column("file_name").to_pylist()
    return sorted(name for name, count in Counter(names).items() if count > 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "chaos")
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    landing, base, reference = args.out / "landing", args.out / "base", args.out / "reference"
    write_landing(GeneratorConfig(accounts=30, skus=5, days=3, end=END, seed=5, history_days=10), landing)
    run_to_end(landing, base, END - timedelta(days=1))
    shutil.copytree(base, reference)
    span = run_to_end(landing, reference, END)
    expected = lake_contents(reference)
    say(f"uninterrupted run: {span:.1f} s; kills land between 1 s and that")

    chance = random.Random(args.seed)
    kills: list[dict[str, Any]] = []
    episodes: list[dict[str, Any]] = []
    started = time.perf_counter()
    while len(kills) < args.kills:
        lake = args.out / "crashed"
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(base, lake)
        episode_kills = 0
        while True:
            process = paylake(landing, lake, END)
            delay = chance.uniform(1.0, span)
            try:
                output, _ = process.communicate(timeout=delay if len(kills) < args.kills else 1800)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate(timeout=60)
                kills.append({"after_s": round(delay, 2), "landed": landed(output)})
                episode_kills += 1
                continue
            if process.returncode != 0:
                raise SystemExit(f"the re-run after {episode_kills} kill(s) failed:\n{output[-3000:]}")
            break
        actual = lake_contents(lake)
        different = sorted(name for name in expected.keys() | actual.keys() if actual.get(name) != expected.get(name))
        episodes.append({"kills": episode_kills, "different_tables": different, "logged_twice": logged_twice(lake)})
        say(f"episode {len(episodes)}: {episode_kills} kill(s), {len(kills)} in all, different tables {different}")

    results = {
        "kills": len(kills),
        "episodes": len(episodes),
        "episodes_with_differences": sum(1 for e in episodes if e["different_tables"] or e["logged_twice"]),
        "landed": dict(Counter(kill["landed"].split(" after ")[0] for kill in kills)),
        "seconds": round(time.perf_counter() - started, 1),
        "uninterrupted_run_s": round(span, 1),
        "kill_log": kills,
        "episode_log": episodes,
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    say(json.dumps({key: value for key, value in results.items() if not key.endswith("_log")}, indent=2))
    return 1 if results["episodes_with_differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
