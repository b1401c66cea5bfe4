"""paylake small-files run: daily increments leave many small files; `paylake maintain` compacts them.

    python bench/small_files.py [--days 90] [--accounts 300] [--out build/small-files]

Generates ``--days`` daily extracts, runs the daily pipeline (`run all`, embedded engine, one process) once per
business date, then measures every table's data files and the time to read it whole (delta-rs to Arrow, the median
of three reads), runs maintenance (archive, compaction, vacuum) and measures again. Writes ``<out>/results.json``
and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from paylake.datagen.generator import GeneratorConfig, write_landing
from paylake.pipeline.maintain import maintain
from paylake.pipeline.runner import run_layers
from paylake.runtime.context import PaylakeContext

REPO = Path(__file__).resolve().parents[1]
END = date(2026, 6, 30)


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def read_seconds(path: Path) -> float:
    """Median seconds of three whole reads of the table's current version, each opening the table afresh (its log
    replayed, as a new reader would)."""
    spans = []
    for _ in range(3):
        started = time.perf_counter()
        DeltaTable(str(path)).to_pyarrow_table()
        spans.append(time.perf_counter() - started)
    return statistics.median(spans)


def measure(lake: Path) -> dict[str, dict[str, Any]]:
    """Per table: data files, bytes, rows and read seconds."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(p for layer in ("bronze", "silver", "gold", "ops") for p in (lake / layer).glob("*")):
        table = DeltaTable(str(path))
        actions = pa.table(table.get_add_actions(flatten=True)).to_pydict()  # an arro3 table, as pyarrow
        found[f"{path.parent.name}.{path.name}"] = {
            "files": len(actions["path"]),
            "bytes": sum(actions["size_bytes"]),
            "rows": sum(actions["num_records"]),
            "commits": table.version() + 1,
            "read_s": round(read_seconds(path), 4),
        }
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "small-files")
    args = parser.parse_args(argv)

    shutil.rmtree(args.out, ignore_errors=True)
    landing, lake = args.out / "landing", args.out / "lake"
    config = GeneratorConfig(accounts=args.accounts, skus=60, days=args.days, end=END, seed=11, history_days=60)
    write_landing(config, landing)
    context = PaylakeContext.create("local", REPO / "metadata", landing, lake)
    started = time.perf_counter()
    for offset in range(args.days):
        day = config.first_extract + timedelta(days=offset)
        outcomes = run_layers(context, ["bronze", "silver", "gold"], None, day)
        if not all(outcome.ok for outcome in outcomes):
            raise SystemExit(f"the daily run of {day} failed: {[o.layer for o in outcomes if not o.ok]}")
        say(f"{day}: run all done ({time.perf_counter() - started:.0f} s in all)")
    daily_s = time.perf_counter() - started

    before = measure(lake)
    started = time.perf_counter()
    done = {r.table: r for r in maintain(context, END)}
    maintain_s = time.perf_counter() - started
    after = measure(lake)

    say(f"{'table':<40}{'rows':>10}{'commits':>9}{'files':>14}{'read s':>18}")
    for name, entry in sorted(before.items(), key=lambda item: -item[1]["files"]):
        new = after[name]
        files = f"{entry['files']} -> {new['files']}"
        read = f"{entry['read_s']:.3f} -> {new['read_s']:.3f}"
        say(f"{name:<40}{entry['rows']:>10}{entry['commits']:>9}{files:>14}{read:>18}")
    results = {
        "days": args.days,
        "accounts": args.accounts,
        "daily_runs_s": round(daily_s, 1),
        "maintain_s": round(maintain_s, 1),
        "files_before": sum(t["files"] for t in before.values()),
        "files_after": sum(t["files"] for t in after.values()),
        "read_all_tables_s_before": round(sum(t["read_s"] for t in before.values()), 3),
        "read_all_tables_s_after": round(sum(t["read_s"] for t in after.values()), 3),
        "tables": {name: {"before": before[name], "after": after[name]} for name in before},
        "compacted": {name: [r.files_before, r.files_after] for name, r in done.items()},
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    say(json.dumps({key: value for key, value in results.items() if key not in ("tables", "compacted")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
